"""``dms2f:detect_anomalies``: fit DMS2F-HAD to the scene and write its anomaly score."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ..styling import OutputKind, style_output
from . import parameters as p
from .base import NetworkAlgorithm

PRESET = "PRESET"
SAVE_MODEL = "SAVE_MODEL"

#: Engine preset per ``PRESET`` option.
PRESETS = ("fast", "paper")
MODEL_EXTENSION = "safetensors"
MODEL_FILTER = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "DMS2F-HAD model (*.safetensors)")


class DetectAnomaliesAlgorithm(NetworkAlgorithm):
    """Per-scene DMS2F-HAD: fit the network to the raster, score reconstruction errors."""

    NAME = "detect_anomalies"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Detect anomalies (DMS2F-HAD)")
    GROUP_ID = "detection"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Finds anomalous pixels (small targets, unusual materials) in a hyperspectral raster "
        "without training data: the DMS2F-HAD network (spatial and spectral Mamba branches with "
        "gated fusion) is fitted to this scene to reconstruct its background. Each pixel's "
        "reconstruction error, measured against the scene's typical errors (its length and its "
        "direction), becomes its anomaly score, relative to its neighbourhood; by default it is "
        "then fused with the global RX score (the larger of the two, each in units of its own "
        "map's spread; RX through its cube root, which tames its long tail), so the map is not "
        "worse than RX where RX sees best.\n\n"
        "<b>Hyperspectral raster</b>: any multi-band raster read by GDAL (GeoTIFF, ENVI, ...).\n"
        + p.BANDS_HELP +
        "<b>Preset</b>: <i>Fast</i> is a small network that fits and scores a 100 x 100 scene on "
        "a 2-core CPU in about half a minute (blocks side by side when scoring); <i>Paper</i> is the "
        "published configuration, overlapping blocks (a CUDA GPU is recommended).\n"
        + p.DEVICE_HELP +
        "<b>Random seed</b> (advanced): the same seed gives the same scores on the same device.\n"
        "<b>Fitting steps</b> (advanced): 0 keeps the preset's fixed number, which the "
        "benchmark chose; more steps cost proportionally more time.\n"
        + p.LOCAL_WINDOW_HELP + p.KEEP_ALL_BANDS_HELP + p.THREADS_HELP + p.TILE_SIZE_HELP +
        "<b>Save fitted model</b>: optional file to keep the fitted network, to score similar "
        "scenes later with 'Detect anomalies with a saved model'. When empty and a model folder "
        "is set in " + p.SETTINGS_PATH + ", the model is kept there.\n"
        "<b>Anomaly score</b>: float32 raster on the input grid (same CRS and geotransform); "
        "higher means more anomalous: about 0 for background, in units of the background's own "
        "spread (targets typically score 10 or more). It opens with a heatmap style, named after "
        "the input layer. The log names the device, preset and timings used. Requires PyTorch "
        "(the plugin offers to install it).")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        defaults = self.settings()
        self.addParameter(p.input_raster())
        self.addParameter(p.bands())
        self.addParameter(QgsProcessingParameterEnum(
            PRESET, self.tr("Preset"),
            options=[self.tr("Fast (CPU friendly)"), self.tr("Paper (as published, GPU recommended)")],
            defaultValue=0))
        self.addParameter(p.device(defaults))
        self.add_advanced(p.seed())
        self.add_advanced(p.steps())
        self.add_advanced(p.local_window())
        self.add_advanced(p.keep_all_bands())
        self.add_advanced(p.threads(defaults))
        self.add_advanced(p.tile_size())
        self.addParameter(QgsProcessingParameterFileDestination(
            SAVE_MODEL, self.tr("Save fitted model"),
            self.tr(MODEL_FILTER), optional=True,
            createByDefault=False))
        self.addParameter(p.score_output())

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Fit and score through the engine; style the score and report the kept model."""
        self.require_dependencies()
        from ...engine.app import jobs

        source = self.raster_source(parameters, p.INPUT, context, min_bands=2)
        output = self.parameterAsOutputLayer(parameters, p.OUTPUT, context)
        model = self.parameterAsFileOutput(parameters, SAVE_MODEL, context) or self._kept_model(source)
        options = self._options(parameters, context)
        self.name_output(context, output, p.OUTPUT, self.tr("DMS2F-HAD score: {layer}").format(
            layer=self.input_layer_name(parameters, p.INPUT, context)))
        result = self.run_engine(lambda progress: jobs.detect(
            source, output, method="dms2f", save_model=model or None, progress=progress,
            **options), feedback)
        style_output(output, OutputKind.SCORE, context)
        return {p.OUTPUT: output, SAVE_MODEL: str(result.model_path) if result.model_path else None}

    def preflight(self, parameters: dict[str, Any], context: QgsProcessingContext) -> None:
        """The engine's checks of the values against each other, the raster and the memory."""
        from ...engine.app.preflight import check_detect

        check_detect(self.raster_source(parameters, p.INPUT, context, min_bands=2),
                     method="dms2f", **self._options(parameters, context))

    def _options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """The engine's detect options from the parameter values."""
        return {"bands": p.bands_value(self, parameters, context),
                "preset": PRESETS[self.parameterAsEnum(parameters, PRESET, context)],
                "device": p.device_value(self, parameters, context),
                "seed": self.parameterAsInt(parameters, p.SEED, context),
                "steps": self.parameterAsInt(parameters, p.STEPS, context) or None,
                "local_window": p.local_window_value(self, parameters, context),
                "threads": p.threads_value(self, parameters, context),
                "tile_size": self.parameterAsInt(parameters, p.TILE_SIZE, context)}

    def _kept_model(self, source: str) -> str:
        """Where to keep the fitted model when none was asked for: the settings' folder, if set."""
        folder = self.settings().models_folder
        if not folder:
            return ""
        stem = Path(source.split("|", 1)[0]).stem or "scene"
        return str(Path(folder) / f"{stem}_{time.strftime('%Y%m%d-%H%M%S')}.{MODEL_EXTENSION}")
