"""The plugin object QGIS creates through ``classFactory``: registrations and their removal.

``initProcessing`` (called alone by ``qgis_process``) only registers the Processing provider;
``initGui`` (desktop QGIS) adds the GUI entries; ``unload`` removes every one of them again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qgis.core import Qgis, QgsApplication, QgsRasterLayer
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
        from .dependency_ui import DependencyMenu

        parent = self.iface.mainWindow()
        self.layer_action = QAction(self.tr("Detect anomalies…"), parent)
        self.layer_action.setObjectName("dms2f_detect_anomalies_action")
        if self.provider is not None:
            self.layer_action.setIcon(self.provider.icon())
        self.layer_action.setToolTip(self.tr("Open DMS2F-HAD anomaly detection for this raster layer"))
        self.layer_action.triggered.connect(self.detect_for_current_layer)
        self.iface.addCustomActionForLayerType(self.layer_action, "", RASTER_LAYER_TYPE, True)
        self.dependency_menu = DependencyMenu(self.iface)
        self.dependency_menu.add()

    def unload(self) -> None:
        """Remove everything :meth:`initGui` and :meth:`initProcessing` added."""
        if self.layer_action is not None:
            self.iface.removeCustomActionForLayerType(self.layer_action)
            self.layer_action.deleteLater()
            self.layer_action = None
        if self.dependency_menu is not None:
            self.dependency_menu.remove()
            self.dependency_menu = None
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
