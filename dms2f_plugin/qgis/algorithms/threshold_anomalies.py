"""``dms2f:threshold_anomalies``: turn a score raster into a mask and detection polygons."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ..layer_names import product_name
from ..styling import OutputKind, style_output
from . import parameters as p
from .base import Dms2fAlgorithm

METHOD = "METHOD"
VALUE = "VALUE"
MIN_SIZE = "MIN_SIZE"
DETECTIONS = "DETECTIONS"
THRESHOLD = "THRESHOLD"
COUNT = "COUNT"

#: Engine method per ``METHOD`` option.
ENGINE_METHODS = ("percentile", "sigma", "otsu", "value")


class ThresholdAnomaliesAlgorithm(Dms2fAlgorithm):
    """Binary anomaly mask and one polygon per connected detection."""

    NAME = "threshold_anomalies"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Threshold anomaly map")
    GROUP_ID = "analysis"
    ICON = "threshold.svg"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Turns an anomaly score raster into a binary mask and a layer of detections.\n\n"
        "<b>Anomaly score</b>: a score raster from one of the detection algorithms (band 1).\n"
        "<b>Method</b> and <b>threshold value</b>: <i>Percentile</i> flags scores above the given "
        "percentile of all scores (default 99.5, i.e. the top 0.5 % of pixels); <i>Mean + k "
        "sigma</i> flags scores above mean + k standard deviations (value = k, default 3); "
        "<i>Otsu</i> picks the threshold from the score histogram (value unused); <i>Fixed "
        "score</i> flags scores above the value itself (required). An empty value uses the "
        "method's default.\n"
        "<b>Minimum object size</b>: connected groups of fewer pixels (8-connectivity) are "
        "dropped from the mask and the detections.\n"
        "<b>Anomaly mask</b>: Byte raster on the score grid, 1 = anomaly, 0 = background, 255 = "
        "nodata (opens with anomalies in cyan, background transparent).\n"
        "<b>Detections</b>: one polygon per connected group of the mask, with its id, area in "
        "pixels and in map units, maximum and mean score and centroid coordinates (outlined in "
        "cyan with a dark halo, which reads on the heatmap).\n"
        "Both layers are named after the detection method and its input layer.\n"
        "The threshold used and the number of detections are outputs, for use in models.")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        self.addParameter(QgsProcessingParameterRasterLayer(p.INPUT, self.tr("Anomaly score")))
        self.addParameter(QgsProcessingParameterEnum(
            METHOD, self.tr("Method"),
            options=[self.tr("Percentile (top 100 - value %)"), self.tr("Mean + k sigma"),
                     self.tr("Otsu (automatic)"), self.tr("Fixed score value")],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            VALUE, self.tr("Threshold value (empty = default)"),
            QgsProcessingParameterNumber.Double, optional=True))
        self.parameterDefinition(VALUE).setHelp(self.tr(
            "Percentile: 0 to 100 (default 99.5); mean + k sigma: k > 0 (default 3); fixed: the "
            "score itself (required); Otsu: unused."))
        self.addParameter(QgsProcessingParameterNumber(
            MIN_SIZE, self.tr("Minimum object size (pixels)"), QgsProcessingParameterNumber.Integer,
            defaultValue=1, minValue=1, maxValue=p.MAX_OBJECT_SIZE))
        self.addParameter(QgsProcessingParameterRasterDestination(p.OUTPUT, self.tr("Anomaly mask")))
        detections = QgsProcessingParameterVectorDestination(
            DETECTIONS, self.tr("Detections"), QgsProcessing.TypeVectorPolygon)
        detections.setSupportsNonFileBasedOutput(False)
        self.addParameter(detections)
        self.addOutput(QgsProcessingOutputNumber(THRESHOLD, self.tr("Threshold used")))
        self.addOutput(QgsProcessingOutputNumber(COUNT, self.tr("Number of detections")))

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802, D102
                             context: QgsProcessingContext) -> tuple[bool, str]:
        ok, message = self.check_input_raster(parameters, context)
        if not ok:
            return ok, message
        from ...engine.app.preflight import check_threshold_options

        method = ENGINE_METHODS[self.parameterAsEnum(parameters, METHOD, context)]
        value = self._value(parameters, context)
        if method == "percentile" and value is not None and not 0 <= value <= 100:
            return False, self.tr("With the Percentile method, '{label}' must be between 0 and "
                                  "100, not {value}; e.g. 99.5 flags the top 0.5 % of pixels.").format(
                label=self._value_label(), value=value)
        if method == "sigma" and value is not None and value <= 0:
            return False, self.tr("With the Mean + k sigma method, '{label}' is k and must be "
                                  "positive, not {value}; e.g. 3.").format(
                label=self._value_label(), value=value)
        if method == "value" and value is None:
            return False, self.tr("The Fixed score value method needs '{label}': the score above "
                                  "which a pixel is an anomaly.").format(label=self._value_label())
        return self.engine_check(lambda: check_threshold_options(
            method, value, self.parameterAsInt(parameters, MIN_SIZE, context)))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Threshold through the engine; style mask and detections."""
        from ...engine.app import jobs

        score = self.raster_source(parameters, p.INPUT, context)
        mask = self.parameterAsOutputLayer(parameters, p.OUTPUT, context)
        detections = self.parameterAsOutputLayer(parameters, DETECTIONS, context)
        score_layer = self.parameterAsRasterLayer(parameters, p.INPUT, context)
        self.name_output(context, mask, p.OUTPUT, product_name("mask", score_layer))
        self.name_output(context, detections, DETECTIONS, product_name("detections", score_layer))
        result = self.run_engine(lambda progress: jobs.threshold(
            score, mask, method=ENGINE_METHODS[self.parameterAsEnum(parameters, METHOD, context)],
            value=self._value(parameters, context),
            min_size=self.parameterAsInt(parameters, MIN_SIZE, context),
            vector_path=detections, progress=progress), feedback)
        style_output(mask, OutputKind.MASK, context)
        style_output(detections, OutputKind.DETECTIONS, context)
        feedback.pushInfo(self.tr("Threshold {threshold:.6g} ({method}): {pixels} anomalous pixels "
                                  "in {count} detections").format(
            threshold=result.threshold, method=result.method, pixels=result.anomaly_pixels,
            count=result.objects))
        return {p.OUTPUT: mask, DETECTIONS: detections, THRESHOLD: result.threshold,
                COUNT: result.objects}

    def _value_label(self) -> str:
        return self.parameterDefinition(VALUE).description()

    def _value(self, parameters: dict[str, Any], context: QgsProcessingContext) -> float | None:
        """``VALUE``, or None when it was left empty (the engine then uses the method default)."""
        if parameters.get(VALUE) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, VALUE, context)
