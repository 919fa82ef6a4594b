"""The ready-made graphical models in ``resources/models`` and the provider entry that runs them.

``detect_and_threshold.model3`` chains "Detect anomalies (DMS2F-HAD)" into "Threshold anomaly
map" (score -> mask -> detections). It is built here with the ``QgsProcessingModelAlgorithm`` API,
so its definition is reviewed as code, and written with::

    .venv/bin/python scripts/make_models.py   (make models)

The provider loads every ``*.model3`` of that folder as ``dms2f:<file stem>`` (Toolbox group
"Workflows"); users can also open the file in the Model Designer to copy and adapt it.
"""

from __future__ import annotations

import re
from pathlib import Path

from qgis.core import (
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QPointF

#: Folder of the packaged ``.model3`` files.
MODELS_DIR = Path(__file__).resolve().parents[2] / "resources" / "models"
DETECT_AND_THRESHOLD = MODELS_DIR / "detect_and_threshold.model3"

GROUP_ID = "workflows"
GROUP = "Workflows"


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

    def createInstance(self) -> PackagedModelAlgorithm:  # noqa: N802, D102 - QGIS API
        return type(self)(self.model_path)


def _param(model: QgsProcessingModelAlgorithm, definition, x: float) -> None:
    """Add ``definition`` as a model input drawn at (``x``, 60) in the designer."""
    component = QgsProcessingModelParameter(definition.name())
    component.setPosition(QPointF(x, 60))
    model.addModelParameter(definition, component)


def _output(child: QgsProcessingModelChildAlgorithm, name: str, description: str,
            child_output: str, y_offset: float) -> QgsProcessingModelOutput:
    output = QgsProcessingModelOutput(name, description)
    output.setChildId(child.childId())
    output.setChildOutputName(child_output)
    output.setPosition(child.position() + QPointF(220, y_offset))
    return output


def build_detect_and_threshold() -> QgsProcessingModelAlgorithm:
    """Build the "Detect and threshold anomalies" model (see the module docstring)."""
    model = QgsProcessingModelAlgorithm("Detect and threshold anomalies", GROUP, GROUP_ID)
    model.setHelpContent({
        "ALG_DESC": "Runs DMS2F-HAD on a hyperspectral raster, then thresholds the anomaly score "
                    "into a mask and a layer of detection polygons. Open it in the Model Designer "
                    "to adapt it (e.g. swap in the RX detector).",
        "INPUT": "Multi-band raster read by GDAL (GeoTIFF, ENVI, ...).",
        "PRESET": "Fast: small network, CPU friendly. Paper: the published configuration.",
        "METHOD": "How the score is thresholded (see 'Threshold anomaly map').",
        "VALUE": "The percentile (default 99.5), k for mean + k sigma (default 3), or the score "
                 "for a fixed value; empty = the method's default.",
        "MIN_SIZE": "Smaller connected groups of pixels are dropped.",
    })
    _param(model, QgsProcessingParameterRasterLayer("INPUT", "Hyperspectral raster"), 40)
    _param(model, QgsProcessingParameterEnum("PRESET", "Preset", options=["Fast (CPU friendly)",
           "Paper (as published, GPU recommended)"], defaultValue=0), 240)
    _param(model, QgsProcessingParameterEnum("METHOD", "Threshold method", options=[
        "Percentile (top 100 - value %)", "Mean + k sigma", "Otsu (automatic)", "Fixed score value"],
        defaultValue=0), 440)
    _param(model, QgsProcessingParameterNumber("VALUE", "Threshold value (empty = default)",
           QgsProcessingParameterNumber.Double, optional=True), 640)
    _param(model, QgsProcessingParameterNumber("MIN_SIZE", "Minimum object size (pixels)",
           QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1), 840)

    model.setParameterOrder(["INPUT", "PRESET", "METHOD", "VALUE", "MIN_SIZE"])

    source = QgsProcessingModelChildParameterSource
    detect = QgsProcessingModelChildAlgorithm("dms2f:detect_anomalies")
    detect.setChildId("detect")
    detect.setDescription("Detect anomalies (DMS2F-HAD)")
    detect.setPosition(QPointF(240, 220))
    detect.addParameterSources("INPUT", [source.fromModelParameter("INPUT")])
    detect.addParameterSources("PRESET", [source.fromModelParameter("PRESET")])
    detect.setModelOutputs({"SCORE": _output(detect, "SCORE", "Anomaly score", "OUTPUT", 60)})
    model.addChildAlgorithm(detect)

    threshold = QgsProcessingModelChildAlgorithm("dms2f:threshold_anomalies")
    threshold.setChildId("threshold")
    threshold.setDescription("Threshold anomaly map")
    threshold.setPosition(QPointF(540, 380))
    threshold.addParameterSources("INPUT", [source.fromChildOutput("detect", "OUTPUT")])
    for name in ("METHOD", "VALUE", "MIN_SIZE"):
        threshold.addParameterSources(name, [source.fromModelParameter(name)])
    threshold.setModelOutputs({
        "MASK": _output(threshold, "MASK", "Anomaly mask", "OUTPUT", 60),
        "DETECTIONS": _output(threshold, "DETECTIONS", "Detections", "DETECTIONS", 120),
    })
    model.addChildAlgorithm(threshold)
    model.updateDestinationParameters()
    return model


_TAG = re.compile(r'<([\w:-]+)((?:\s+[\w:-]+="[^"]*")+)(\s*/?)>')
_ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')


def canonical_xml(text: str) -> str:
    """Sort the attributes of every tag of a Qt-written XML text.

    Qt writes attributes in a random (hash) order, which would make every regeneration of a
    ``.model3`` a diff of the whole file.
    """
    def sort_attributes(match: re.Match[str]) -> str:
        attributes = sorted(_ATTRIBUTE.findall(match.group(2)))
        return "<{}{}{}>".format(match.group(1), "".join(f' {k}="{v}"' for k, v in attributes),
                                 match.group(3).strip() and "/")
    return _TAG.sub(sort_attributes, text)


def write_models(folder: Path | None = None) -> list[Path]:
    """Write the packaged models into ``folder`` (default :data:`MODELS_DIR`); return the paths."""
    folder = Path(folder) if folder else MODELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DETECT_AND_THRESHOLD.name
    if not build_detect_and_threshold().toFile(str(path)):
        raise OSError(f"could not write {path}")
    path.write_text(canonical_xml(path.read_text(encoding="utf-8")), encoding="utf-8")
    return [path]
