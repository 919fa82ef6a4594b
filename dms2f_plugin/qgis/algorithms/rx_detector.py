"""``dms2f:rx_detector``: the classical RX anomaly detector, global or local dual-window."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ...engine.bounds import LRX_WINDOW_MAX
from ..styling import OutputKind, style_output
from . import parameters as p
from .base import Dms2fAlgorithm

METHOD = "METHOD"
INNER_WINDOW = "INNER_WINDOW"
OUTER_WINDOW = "OUTER_WINDOW"

#: Engine method per ``METHOD`` option.
ENGINE_METHODS = ("rx", "lrx")


class RxDetectorAlgorithm(Dms2fAlgorithm):
    """Reed-Xiaoli detector: Mahalanobis distance of each spectrum to the background."""

    NAME = "rx_detector"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "RX anomaly detector")
    GROUP_ID = "detection"
    ICON = "rx.svg"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Scores every pixel with the Reed-Xiaoli (RX) detector: the Mahalanobis distance of its "
        "spectrum to the background statistics. A fast, training-free baseline that needs no "
        "deep-learning packages.\n\n"
        "<b>Hyperspectral raster</b>: any multi-band raster read by GDAL (GeoTIFF, ENVI, ...).\n"
        + p.BANDS_HELP +
        "<b>RX variant</b>: <i>Global</i> uses the mean and covariance of the whole image; "
        "<i>Local dual window</i> uses the ring between the inner (guard) and outer window "
        "around each pixel, which adapts to changing backgrounds but is slower.\n"
        "<b>Inner / outer window</b>: odd sizes in pixels of the guard window (should cover the "
        "largest expected target) and of the background window (local RX only; the outer one "
        "larger).\n"
        + p.KEEP_ALL_BANDS_HELP + p.THREADS_HELP + p.TILE_SIZE_HELP +
        "<b>Anomaly score</b>: float32 raster on the input grid (same CRS and geotransform); "
        "higher means more anomalous. It opens with a heatmap style, named after the method and "
        "the input layer; use 'Threshold anomaly map' to turn it into detections.")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        self.addParameter(p.input_raster())
        self.addParameter(p.bands())
        self.addParameter(QgsProcessingParameterEnum(
            METHOD, self.tr("RX variant"),
            options=[self.tr("Global (whole image statistics)"), self.tr("Local dual window")],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            INNER_WINDOW, self.tr("Inner (guard) window, pixels (local RX)"),
            QgsProcessingParameterNumber.Integer, defaultValue=5, minValue=1,
            maxValue=LRX_WINDOW_MAX - 2))
        self.addParameter(QgsProcessingParameterNumber(
            OUTER_WINDOW, self.tr("Outer (background) window, pixels (local RX)"),
            QgsProcessingParameterNumber.Integer, defaultValue=21, minValue=3,
            maxValue=LRX_WINDOW_MAX))
        self.add_advanced(p.keep_all_bands())
        self.add_advanced(p.threads(self.settings()))
        self.add_advanced(p.tile_size())
        self.addParameter(p.score_output())

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802, D102
                             context: QgsProcessingContext) -> tuple[bool, str]:
        ok, message = self.check_input_raster(parameters, context, min_bands=2)
        if not ok:
            return ok, message
        inner = self.parameterAsInt(parameters, INNER_WINDOW, context)
        outer = self.parameterAsInt(parameters, OUTER_WINDOW, context)
        if self.parameterAsEnum(parameters, METHOD, context) != 1:
            return self._engine_checks(parameters, context)
        for name, size in ((INNER_WINDOW, inner), (OUTER_WINDOW, outer)):
            if size % 2 == 0:
                return False, self.tr("'{label}' must be an odd number of pixels (the window is "
                                      "centred on the pixel), not {size}; e.g. {odd}.").format(
                    label=self.parameterDefinition(name).description(), size=size, odd=size + 1)
        if outer <= inner:
            return False, self.tr(
                "The outer window ({outer} px) must be larger than the inner window ({inner} px) so "
                "that a background ring remains; e.g. inner 5 and outer 21.").format(
                outer=outer, inner=inner)
        return self._engine_checks(parameters, context)

    def _engine_checks(self, parameters: dict[str, Any],
                       context: QgsProcessingContext) -> tuple[bool, str]:
        """The engine's checks of the values against the raster and the memory."""
        from ...engine.app.preflight import check_detect

        source = self.raster_source(parameters, p.INPUT, context, min_bands=2)
        return self.engine_check(lambda: check_detect(source, **self._options(parameters, context)))

    def _options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """The engine's detect options from the parameter values."""
        return {"method": ENGINE_METHODS[self.parameterAsEnum(parameters, METHOD, context)],
                "bands": p.bands_value(self, parameters, context),
                "keep_all_bands": self.parameterAsBool(parameters, p.KEEP_ALL_BANDS, context),
                "inner_window": self.parameterAsInt(parameters, INNER_WINDOW, context),
                "outer_window": self.parameterAsInt(parameters, OUTER_WINDOW, context),
                "threads": p.threads_value(self, parameters, context),
                "tile_size": self.parameterAsInt(parameters, p.TILE_SIZE, context)}

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Run RX through the engine and style the score output."""
        from ...engine.app import jobs

        source = self.raster_source(parameters, p.INPUT, context, min_bands=2)
        output = self.parameterAsOutputLayer(parameters, p.OUTPUT, context)
        method = ENGINE_METHODS[self.parameterAsEnum(parameters, METHOD, context)]
        title = self.tr("Global RX score: {layer}") if method == "rx" else self.tr(
            "Local RX score: {layer}")
        self.name_output(context, output, p.OUTPUT, title.format(
            layer=self.input_layer_name(parameters, p.INPUT, context)))
        self.run_engine(lambda progress: jobs.detect(
            source, output, progress=progress, **self._options(parameters, context)), feedback)
        style_output(output, OutputKind.SCORE, context)
        return {p.OUTPUT: output}
