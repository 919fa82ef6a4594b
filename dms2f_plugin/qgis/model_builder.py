"""The ready-made graphical models in ``resources/models``: built in code, written, compared.

``detect_and_threshold.model3`` chains "Detect anomalies (DMS2F-HAD)" into "Threshold anomaly
map" (score -> mask -> detections). It is built here with the ``QgsProcessingModelAlgorithm`` API,
so its definition is reviewed as code, and written with::

    .venv/bin/python scripts/make_models.py   (make models)

Every mandatory input of every step has a source (a model input, the previous step's output, or
a fixed value equal to the algorithm's default), so the model validates in the Model Designer.
The file is kept version-neutral: it is written without an ``internal_version``, so QGIS 3.22 and
3.40 both read it the same way (outputs named ``<step>:<output>``). :func:`model_summary` is what
the staleness test compares, since each QGIS version writes the same model as different XML.

The provider loads every ``*.model3`` of that folder (:mod:`.packaged_models`); the Toolbox
entry "Edit a Copy in the Model Designer…" opens a copy (:mod:`.model_actions`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QPointF

from .algorithms import parameters as p

#: Folder of the packaged ``.model3`` files.
MODELS_DIR = Path(__file__).resolve().parents[2] / "resources" / "models"
DETECT_AND_THRESHOLD = MODELS_DIR / "detect_and_threshold.model3"

GROUP_ID = "workflows"
GROUP = "Workflows"


def _param(model: QgsProcessingModelAlgorithm, definition: QgsProcessingParameterDefinition,
           x: float) -> None:
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


def detect_step_values() -> dict[str, Any]:
    """Fixed values of the detection step's expert inputs: the algorithm's built-in defaults.

    The automatic device, every core, the preset's number of steps, seed 0, the default bands
    (water-vapour bands dropped) and the default tile size; the optional background correction
    is left unset, so the algorithm's automatic one runs. Edit a copy of the model to change
    them.
    """
    return {p.DEVICE: 0, "SEED": 0, "STEPS": 0, p.KEEP_ALL_BANDS: False, p.THREADS: 0,
            p.TILE_SIZE: p.DEFAULT_TILE_SIZE}


MODEL_HELP = {
    "ALG_DESC": "Runs DMS2F-HAD on a hyperspectral raster, then thresholds the anomaly score into a "
                "mask and a layer of detection polygons. The detection step uses the automatic "
                "device, every CPU core and the default local window and tile size. To adapt the "
                "model (e.g. swap in the RX detector), right-click it in the Processing Toolbox "
                "and choose 'Edit a Copy in the Model Designer…'.",
    "INPUT": "Multi-band raster read by GDAL (GeoTIFF, ENVI, ...).",
    "PRESET": "Fast: small network, CPU friendly. Paper: the published configuration.",
    "METHOD": "How the score is thresholded (see 'Threshold anomaly map').",
    "VALUE": "The percentile (default 99.5), k for mean + k sigma (default 3), or the score "
             "for a fixed value; empty = the method's default.",
    "MIN_SIZE": "Smaller connected groups of pixels are dropped.",
    "detect:SCORE": "Float32 anomaly score on the input's grid (higher = more anomalous).",
    "threshold:MASK": "Byte raster: 1 = anomaly, 0 = background, 255 = nodata.",
    "threshold:DETECTIONS": "One polygon per connected group of anomalous pixels, with its area "
                            "and score.",
}


def build_detect_and_threshold(step_values: dict[str, Any] | None = None
                               ) -> QgsProcessingModelAlgorithm:
    """Build the "Detect and threshold anomalies" model (see the module docstring).

    Args:
        step_values: fixed values of the detection step's expert inputs; default
            :func:`detect_step_values`.
    """
    model = QgsProcessingModelAlgorithm("Detect and threshold anomalies", GROUP, GROUP_ID)
    model.setHelpContent(dict(MODEL_HELP))
    _param(model, QgsProcessingParameterRasterLayer("INPUT", "Hyperspectral raster"), 40)
    _param(model, QgsProcessingParameterEnum("PRESET", "Preset", options=["Fast (CPU friendly)",
           "Paper (as published, GPU recommended)"], defaultValue=0), 240)
    _param(model, QgsProcessingParameterEnum("METHOD", "Threshold method", options=[
        "Percentile (top 100 - value %)", "Mean + k sigma", "Otsu (automatic)", "Fixed score value"],
        defaultValue=0), 440)
    _param(model, QgsProcessingParameterNumber("VALUE", "Threshold value (empty = default)",
           QgsProcessingParameterNumber.Double, optional=True), 640)
    _param(model, QgsProcessingParameterNumber("MIN_SIZE", "Minimum object size (pixels)",
           QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1,
           maxValue=p.MAX_OBJECT_SIZE), 840)

    model.setParameterOrder(["INPUT", "PRESET", "METHOD", "VALUE", "MIN_SIZE"])

    source = QgsProcessingModelChildParameterSource
    detect = QgsProcessingModelChildAlgorithm("dms2f:detect_anomalies")
    detect.setChildId("detect")
    detect.setDescription("Detect anomalies (DMS2F-HAD)")
    detect.setPosition(QPointF(240, 220))
    detect.addParameterSources("INPUT", [source.fromModelParameter("INPUT")])
    detect.addParameterSources("PRESET", [source.fromModelParameter("PRESET")])
    values = detect_step_values() if step_values is None else step_values
    for name, value in values.items():
        detect.addParameterSources(name, [source.fromStaticValue(value)])
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


#: The keys of a model input's definition that a user sees (the rest is bookkeeping that
#: differs between QGIS versions).
_DEFINITION_KEYS = ("parameter_type", "description", "default", "flags", "options", "data_type",
                    "min", "max")


def _as_int(value: Any) -> int:
    """An enum value as int, for PyQt's plain and scoped enums alike."""
    return int(getattr(value, "value", value))


def model_summary(model: QgsProcessingModelAlgorithm) -> dict[str, Any]:
    """What a model *is*, independent of the QGIS version that wrote its file.

    Its name and group, help, inputs (type, label, default, flags, options, bounds) and their
    order, and for each step: the algorithm, description, whether it is active, its
    dependencies, every input's sources and the model outputs it feeds. Positions, colours and
    the file format's own bookkeeping are left out.
    """
    inputs = {}
    for name in model.parameterComponents():
        definition = model.parameterDefinition(name).toVariantMap()
        inputs[name] = {key: definition.get(key) for key in _DEFINITION_KEYS}
    steps = {}
    for child_id, child in model.childAlgorithms().items():
        sources = {
            name: [(_as_int(s.source()), s.staticValue(), s.parameterName(), s.outputChildId(),
                    s.outputName(), s.expression()) for s in values]
            for name, values in child.parameterSources().items()}
        outputs = {name: (output.childOutputName(), output.description())
                   for name, output in child.modelOutputs().items()}
        dependencies = sorted(str(getattr(d, "childId", d)) for d in child.dependencies())
        steps[child_id] = {"algorithm": child.algorithmId(), "description": child.description(),
                           "active": child.isActive(), "dependencies": dependencies,
                           "sources": sources, "outputs": outputs}
    order = [d.name() for d in model.parameterDefinitions() if not d.isDestination()]
    return {"name": model.displayName(), "group": model.group(), "help": dict(model.helpContent()),
            "inputs": inputs, "input_order": order, "steps": steps}


_TAG = re.compile(r'<([\w:-]+)((?:\s+[\w:-]+="[^"]*")+)(\s*/?)>')
_ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')
_INTERNAL_VERSION = re.compile(r'\n\s*<Option name="internal_version"[^>]*/>')


def canonical_xml(text: str) -> str:
    """Sort the attributes of every tag of a Qt-written XML text; drop ``internal_version``.

    Qt writes attributes in a random (hash) order, which would make every regeneration of a
    ``.model3`` a diff of the whole file. Without ``internal_version`` every QGIS version reads
    the file as its first model format, the one QGIS 3.22 writes.
    """
    def sort_attributes(match: re.Match[str]) -> str:
        attributes = sorted(_ATTRIBUTE.findall(match.group(2)))
        return "<{}{}{}>".format(match.group(1), "".join(f' {k}="{v}"' for k, v in attributes),
                                 match.group(3).strip() and "/")
    return _INTERNAL_VERSION.sub("", _TAG.sub(sort_attributes, text))


def write_models(folder: Path | None = None) -> list[Path]:
    """Write the packaged models into ``folder`` (default :data:`MODELS_DIR`); return the paths."""
    folder = Path(folder) if folder else MODELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DETECT_AND_THRESHOLD.name
    if not build_detect_and_threshold().toFile(str(path)):
        raise OSError(f"could not write {path}")
    path.write_text(canonical_xml(path.read_text(encoding="utf-8")), encoding="utf-8")
    return [path]
