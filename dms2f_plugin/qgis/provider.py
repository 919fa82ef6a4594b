"""The ``dms2f`` Processing provider: the Toolbox entry, ``qgis_process`` and modeler access."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import settings
from .algorithms.detect_anomalies import DetectAnomaliesAlgorithm
from .algorithms.detect_many import DetectManyAlgorithm
from .algorithms.detect_with_model import DetectWithModelAlgorithm
from .algorithms.evaluate_detection import EvaluateDetectionAlgorithm
from .algorithms.import_benchmark import ImportBenchmarkAlgorithm
from .algorithms.rx_detector import RxDetectorAlgorithm
from .algorithms.threshold_anomalies import ThresholdAnomaliesAlgorithm
from .packaged_models import PackagedModelAlgorithm, packaged_model_paths

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"

#: The algorithms in Toolbox order; their ids are ``dms2f:<name>`` and never change.
ALGORITHM_CLASSES = (
    DetectAnomaliesAlgorithm,
    DetectWithModelAlgorithm,
    RxDetectorAlgorithm,
    DetectManyAlgorithm,
    ThresholdAnomaliesAlgorithm,
    EvaluateDetectionAlgorithm,
    ImportBenchmarkAlgorithm,
)


class Dms2fProvider(QgsProcessingProvider):
    """Provider ``dms2f`` ("DMS2F-HAD"): the algorithms plus the packaged graphical models."""

    def id(self) -> str:  # noqa: D102 - QGIS API
        return "dms2f"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "DMS2F-HAD"

    def longName(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.tr("DMS2F-HAD hyperspectral anomaly detection")

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        for name in ("icon.svg", "icon.png"):
            path = RESOURCES_DIR / name
            if path.is_file():
                return QIcon(str(path))
        return QgsApplication.getThemeIcon("/processingAlgorithm.svg")

    def svgIconPath(self) -> str:  # noqa: N802, D102 - QGIS API
        path = RESOURCES_DIR / "icon.svg"
        return str(path) if path.is_file() else super().svgIconPath()

    def load(self) -> bool:
        """Register the provider settings (Settings > Options > Processing > Providers), then load."""
        settings.add_settings(self.name(), self.icon())
        QgsApplication.processingRegistry().providerAdded.connect(self._registered)
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        """Remove the provider settings again (stored values stay in the user profile)."""
        self._disconnect()
        settings.remove_settings()

    def _registered(self, provider_id: str) -> None:
        """Load again once registered: the models' steps can only be resolved from then on."""
        if provider_id == self.id():
            self._disconnect()
            self.refreshAlgorithms()

    def _disconnect(self) -> None:
        try:
            QgsApplication.processingRegistry().providerAdded.disconnect(self._registered)
        except TypeError:  # already disconnected
            pass

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802, D102 - QGIS API
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802, D102 - QGIS API
        return ["gpkg"]

    def supportsNonFileBasedOutput(self) -> bool:  # noqa: N802, D102 - the engine writes files
        return False

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        """Add the algorithms in their fixed order, then the packaged models.

        A model's steps are looked up in the Processing registry, which knows this provider's
        algorithms only after ``load()``; the models are therefore added from the second load on
        (triggered by the registry's ``providerAdded`` signal).
        """
        for algorithm_class in ALGORITHM_CLASSES:
            self.addAlgorithm(algorithm_class())
        if QgsApplication.processingRegistry().providerById(self.id()) is not self:
            return
        for path in packaged_model_paths():
            self.addAlgorithm(PackagedModelAlgorithm(path))
