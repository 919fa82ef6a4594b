"""The plugin object QGIS creates through ``classFactory``: registrations and their removal.

``initProcessing`` (called alone by ``qgis_process``) only registers the Processing provider;
``initGui`` (desktop QGIS) adds the GUI entries: the "Detect anomalies…" entry of the Layers
panel's context menu on multi-band GDAL rasters, the plugin menu and the Toolbox entry that opens
a copy of a packaged model in the Model Designer; ``unload`` removes every one of them again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from qgis.core import Qgis, QgsApplication, QgsMapLayer, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QAction

from .. import private_env
from . import log_bridge
from .provider import Dms2fProvider

if TYPE_CHECKING:
    from .dependency_ui import DependencyMenu

LOG = logging.getLogger(__name__)

#: The algorithm the Layers-panel action opens.
DETECT_ALGORITHM_ID = "dms2f:detect_anomalies"

try:  # QGIS >= 3.30 (and QGIS 4)
    RASTER_LAYER_TYPE = Qgis.LayerType.Raster
except AttributeError:  # QGIS 3.22 - 3.28
    from qgis.core import QgsMapLayerType

    RASTER_LAYER_TYPE = QgsMapLayerType.RasterLayer


class Dms2fPlugin:
    """DMS2F-HAD plugin: the ``dms2f`` provider and the "Detect anomalies..." layer action.

    Args:
        iface: the QGIS interface; ``None`` under ``qgis_process``, where only
            :meth:`initProcessing` is called.
    """

    def __init__(self, iface: object | None) -> None:
        from ..engine.detectors.device import passive_openmp_wait

        passive_openmp_wait()  # before anything loads torch in this QGIS process
        self.iface = iface
        self.provider: Dms2fProvider | None = None
        self.layer_action: QAction | None = None
        self.dependency_menu: DependencyMenu | None = None

    @staticmethod
    def tr(text: str) -> str:
        """Translate ``text`` in the plugin's context."""
        return QCoreApplication.translate("Dms2fPlugin", text)

    def initProcessing(self) -> None:  # noqa: N802 - name fixed by QGIS
        """Register the ``dms2f`` provider (no GUI code, so ``qgis_process`` can call it).

        Also routes the plugin's log to the QGIS message log and logs where the deep-learning
        dependencies were found (``classFactory`` activated the private environment).
        """
        if self.provider is not None:
            return
        log_bridge.install()
        activation = private_env.LAST_ACTIVATION or private_env.activate_private_env()
        LOG.info("Python dependencies: %s", activation.message)
        self.provider = Dms2fProvider()
        if not QgsApplication.processingRegistry().addProvider(self.provider):
            LOG.error("Could not register the DMS2F-HAD Processing provider (id 'dms2f' taken?).")
            self.provider = None

    def initGui(self) -> None:  # noqa: N802 - name fixed by QGIS
        """Register the provider and add the Layers-panel action and the plugin menu."""
        self.initProcessing()
        from . import model_actions
        from .dependency_ui import DependencyMenu

        parent = self.iface.mainWindow()
        self.layer_action = QAction(self.tr("Detect anomalies…"), parent)
        self.layer_action.setObjectName("dms2f_detect_anomalies_action")
        if self.provider is not None:
            self.layer_action.setIcon(self.provider.icon())
        self.layer_action.setToolTip(self.tr("Open DMS2F-HAD anomaly detection for this "
                                             "hyperspectral raster layer"))
        self.layer_action.triggered.connect(self.detect_for_current_layer)
        # Offered layer by layer (allLayers=False), on multi-band GDAL rasters only.
        self.iface.addCustomActionForLayerType(self.layer_action, "", RASTER_LAYER_TYPE, False)
        project = QgsProject.instance()
        project.layersAdded.connect(self.offer_action)
        self.offer_action(project.mapLayers().values())
        self.dependency_menu = DependencyMenu(self.iface)
        self.dependency_menu.add()
        model_actions.register()

    def offer_action(self, layers: Iterable[QgsMapLayer]) -> None:
        """Add "Detect anomalies…" to the context menu of each multi-band GDAL raster of ``layers``."""
        if self.layer_action is None:
            return
        for layer in layers:
            if is_hyperspectral(layer):
                self.iface.addCustomActionForLayer(self.layer_action, layer)

    def unload(self) -> None:
        """Remove everything :meth:`initGui` and :meth:`initProcessing` added."""
        if self.layer_action is not None:
            with contextlib.suppress(TypeError):  # not connected: initGui was never called
                QgsProject.instance().layersAdded.disconnect(self.offer_action)
            self.iface.removeCustomActionForLayerType(self.layer_action)
            self.layer_action.deleteLater()
            self.layer_action = None
        if self.dependency_menu is not None:
            self.dependency_menu.remove()
            self.dependency_menu = None
            from . import model_actions

            model_actions.unregister()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        log_bridge.uninstall()

    def detect_for_current_layer(self) -> None:
        """Open the "Detect anomalies" dialog with the layer the user right-clicked as input."""
        import processing  # the Processing plugin; imported late, it is loaded after plugins

        layer = self.iface.activeLayer()
        parameters = {"INPUT": layer} if isinstance(layer, QgsRasterLayer) else {}
        processing.execAlgorithmDialog(DETECT_ALGORITHM_ID, parameters)


def is_hyperspectral(layer: QgsMapLayer | None) -> bool:
    """True for a valid raster layer read by GDAL with at least two bands."""
    return (isinstance(layer, QgsRasterLayer) and layer.isValid()
            and layer.providerType() == "gdal" and layer.bandCount() >= 2)
