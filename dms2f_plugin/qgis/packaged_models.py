"""The packaged graphical models as Toolbox algorithms ``dms2f:<file stem>`` (group "Workflows").

Each ``*.model3`` of ``resources/models`` (written by :mod:`.model_builder`) is loaded from its
file; a run names the layers it loads after the method and the input, as the algorithms do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProcessingModelAlgorithm
from qgis.PyQt.QtGui import QIcon

from .layer_names import layer_titles
from .model_builder import MODELS_DIR

#: Icon of the packaged workflows in the Toolbox.
WORKFLOW_ICON = MODELS_DIR.parent / "icons" / "workflow.svg"


def packaged_model_paths() -> list[Path]:
    """The packaged ``.model3`` files, sorted by name."""
    return sorted(MODELS_DIR.glob("*.model3"))


class PackagedModelAlgorithm(QgsProcessingModelAlgorithm):
    """A packaged ``.model3`` registered under the provider with the stable id ``dms2f:<stem>``.

    A plain model's id is its display name; this subclass keeps the display name for the
    Toolbox and uses the file stem (lowercase, underscores) as the algorithm name.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.model_path = Path(path)
        if not self.fromFile(str(self.model_path)):
            raise ValueError(f"{self.model_path} is not a readable QGIS model (.model3) file")
        self.setSourceFilePath(str(self.model_path))

    def name(self) -> str:  # noqa: D102 - QGIS API
        return self.model_path.stem

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(self.svgIconPath())

    def svgIconPath(self) -> str:  # noqa: N802, D102 - QGIS API
        return str(WORKFLOW_ICON)

    def createInstance(self) -> PackagedModelAlgorithm:  # noqa: N802, D102 - QGIS API
        return type(self)(self.model_path)

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Run the model, then name the layers it loads as the algorithms do on their own."""
        results = super().processAlgorithm(parameters, context, feedback)
        name_model_layers(self, results, context)
        return results


#: (algorithm, output) -> what that output holds, for the names of a model's loaded layers.
OUTPUT_KINDS = {
    ("dms2f:detect_anomalies", "OUTPUT"): "score",
    ("dms2f:detect_with_model", "OUTPUT"): "score",
    ("dms2f:rx_detector", "OUTPUT"): "score",
    ("dms2f:threshold_anomalies", "OUTPUT"): "mask",
    ("dms2f:threshold_anomalies", "DETECTIONS"): "detections",
}


def name_model_layers(model: QgsProcessingModelAlgorithm, results: dict[str, Any],
                      context: QgsProcessingContext) -> None:
    """Name a model's loaded score, mask and detections after the method and the input.

    A model names the layers it loads after its outputs ("SCORE"); when the output's own name is
    still the layer's name, it becomes "DMS2F-HAD score: san_diego_sample" and so on, with the
    method and input read from the run's score raster.
    """
    kinds: dict[str, tuple[str, str]] = {}  # result key -> (kind, model output name)
    for child in model.childAlgorithms().values():
        for name, output in child.modelOutputs().items():
            kind = OUTPUT_KINDS.get((child.algorithmId(), output.childOutputName()))
            if kind:
                kinds[f"{child.childId()}:{name}"] = (kind, name)
    score = next((results.get(key) for key, (kind, _) in kinds.items() if kind == "score"), None)
    if not score:
        return
    titles = layer_titles(str(score))
    for key, (kind, name) in kinds.items():
        path = results.get(key)
        if titles and path and context.willLoadLayerOnCompletion(str(path)):
            details = context.layerToLoadOnCompletionDetails(str(path))
            if details.name == name:
                details.name = titles[kind]
