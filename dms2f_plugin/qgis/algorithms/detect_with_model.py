"""``dms2f:detect_with_model``: score a raster with a DMS2F-HAD model fitted earlier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFile,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ..styling import OutputKind, style_output
from . import parameters as p
from .base import NetworkAlgorithm
from .detect_anomalies import MODEL_EXTENSION, MODEL_FILTER

MODEL = "MODEL"


class DetectWithModelAlgorithm(NetworkAlgorithm):
    """Applies a saved, self-describing DMS2F-HAD model (no fitting)."""

    NAME = "detect_with_model"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Detect anomalies with a saved model")
    GROUP_ID = "detection"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Scores a hyperspectral raster with a DMS2F-HAD model saved by 'Detect anomalies "
        "(DMS2F-HAD)', without fitting again: much faster, and consistent across scenes of the "
        "same sensor.\n\n"
        "<b>Hyperspectral raster</b>: a raster with the same bands as the scene the model was "
        "fitted to (the model file records its band list and normalisation and checks them).\n"
        "<b>Model file</b>: a .safetensors file written by 'Detect anomalies (DMS2F-HAD)' "
        "(weights, band list, normalisation and score calibration; no code is ever loaded from it).\n"
        + p.DEVICE_HELP + p.LOCAL_WINDOW_HELP + p.THREADS_HELP + p.TILE_SIZE_HELP +
        "<b>Anomaly score</b>: float32 raster on the input grid (same CRS and geotransform); "
        "higher means more anomalous. It opens with a heatmap style, named after the input layer "
        "and the model. Requires PyTorch (the plugin offers to install it).")

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802
                             context: QgsProcessingContext) -> tuple[bool, str]:
        """QGIS's own checks, the model file (an existing .safetensors file), the shared checks."""
        problem = self.dependency_problem()
        if problem:
            return False, problem
        ok, message = QgsProcessingAlgorithm.checkParameterValues(self, parameters, context)
        if not ok:
            return ok, message
        model = Path(self.parameterAsFile(parameters, MODEL, context))
        label = self.parameterDefinition(MODEL).description()
        if not model.is_file():
            return False, self.tr("'{label}': '{path}' does not exist. Choose a model saved by "
                                  "'Detect anomalies (DMS2F-HAD)' (its 'Save fitted model' "
                                  "output).").format(label=label, path=model)
        if model.suffix.lower() != f".{MODEL_EXTENSION}":
            return False, self.tr("'{label}': '{path}' is not a DMS2F-HAD model; choose a "
                                  ".{extension} file saved by 'Detect anomalies (DMS2F-HAD)'.").format(
                label=label, path=model, extension=MODEL_EXTENSION)
        return super().checkParameterValues(parameters, context)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        defaults = self.settings()
        self.addParameter(p.input_raster())
        self.addParameter(QgsProcessingParameterFile(
            MODEL, self.tr("Model file"), fileFilter=self.tr(MODEL_FILTER)))
        self.addParameter(p.device(defaults))
        self.add_advanced(p.local_window())
        self.add_advanced(p.threads(defaults))
        self.add_advanced(p.tile_size())
        self.addParameter(p.score_output())

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Apply the model through the engine and style the score output."""
        self.require_dependencies()
        from ...engine.app import jobs

        source = self.raster_source(parameters, p.INPUT, context, min_bands=2)
        model = self.parameterAsFile(parameters, MODEL, context)
        output = self.parameterAsOutputLayer(parameters, p.OUTPUT, context)
        self.name_output(context, output, p.OUTPUT, self.tr(
            "DMS2F-HAD score ({model}): {layer}").format(
            model=Path(model).stem, layer=self.input_layer_name(parameters, p.INPUT, context)))
        self.run_engine(lambda progress: jobs.apply_model(
            model, source, output, progress=progress, **self._options(parameters, context)),
            feedback)
        style_output(output, OutputKind.SCORE, context)
        return {p.OUTPUT: output}

    def preflight(self, parameters: dict[str, Any], context: QgsProcessingContext) -> None:
        """The engine's checks: the values, the model path (not a folder), the raster."""
        from ...engine.app.preflight import check_apply

        check_apply(self.parameterAsFile(parameters, MODEL, context),
                    self.raster_source(parameters, p.INPUT, context, min_bands=2),
                    **self._options(parameters, context))

    def _options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """The engine's apply options from the parameter values."""
        return {"device": p.device_value(self, parameters, context),
                "threads": p.threads_value(self, parameters, context),
                "local_window": p.local_window_value(self, parameters, context),
                "tile_size": self.parameterAsInt(parameters, p.TILE_SIZE, context)}
