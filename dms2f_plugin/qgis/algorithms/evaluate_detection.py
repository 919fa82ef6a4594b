"""``dms2f:evaluate_detection``: ROC analysis of a score raster against ground truth."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from . import parameters as p
from .base import Dms2fAlgorithm

GROUND_TRUTH = "GROUND_TRUTH"

#: Numeric outputs: output name -> attribute of the engine's evaluation result.
METRICS = {
    "AUC": "auc",
    "AUC_D_TAU": "auc_d_tau",
    "AUC_F_TAU": "auc_f_tau",
    "AUC_TD": "auc_td",
    "AUC_BS": "auc_bs",
    "AUC_SNPR": "auc_snpr",
}
METRIC_LABELS = {
    "AUC": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC (D,F): area under the ROC curve"),
    "AUC_D_TAU": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC (D,tau): detection vs. threshold"),
    "AUC_F_TAU": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC (F,tau): false alarms vs. threshold"),
    "AUC_TD": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC TD = AUC (D,F) + AUC (D,tau)"),
    "AUC_BS": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC BS = AUC (D,F) - AUC (F,tau)"),
    "AUC_SNPR": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "AUC SNPR = AUC (D,tau) / AUC (F,tau)"),
}


class EvaluateDetectionAlgorithm(Dms2fAlgorithm):
    """HTML report with the ROC curve and the AUC family, and the AUCs as numeric outputs."""

    NAME = "evaluate_detection"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Evaluate against ground truth")
    GROUP_ID = "analysis"
    ICON = "evaluate.svg"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Measures how well an anomaly score separates known anomalies from the background.\n\n"
        "<b>Anomaly score</b>: a score raster from one of the detection algorithms.\n"
        "<b>Ground truth</b>: a raster on the same grid (non-zero = anomaly), or polygons of "
        "the anomalies (burnt onto the score grid). It must be chosen: the dialog starts without "
        "one rather than guess a layer, and the score raster itself is refused.\n"
        "<b>Report</b>: HTML page with the ROC curve and the AUC values.\n"
        "Outputs, usable in models: AUC(D,F), the area under the ROC curve (1 = perfect, 0.5 = "
        "chance); AUC(D,tau), the detection probability averaged over thresholds (higher is "
        "better); AUC(F,tau), the false-alarm probability averaged over thresholds (lower is "
        "better); and the derived AUC TD (target detectability), AUC BS (background "
        "suppression) and AUC SNPR (signal-to-noise probability ratio). Thresholds tau are the "
        "scores normalised to [0, 1].")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        self.addParameter(QgsProcessingParameterRasterLayer(p.INPUT, self.tr("Anomaly score")))
        # Optional only so that the dialog starts empty instead of picking a layer (the active one,
        # often the score itself); checkParameterValues requires it.
        self.addParameter(QgsProcessingParameterMapLayer(
            GROUND_TRUTH, self.tr("Ground truth (raster or polygons)"),
            types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            p.OUTPUT, self.tr("Report"), self.tr("HTML files (*.html)")))
        for name, label in METRIC_LABELS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802, D102
                             context: QgsProcessingContext) -> tuple[bool, str]:
        ok, message = self.check_input_raster(parameters, context)
        if not ok:
            return ok, message
        truth_layer = self.parameterAsLayer(parameters, GROUND_TRUTH, context)
        label = self.parameterDefinition(GROUND_TRUTH).description()
        if truth_layer is None:
            return False, self.tr("Choose the '{label}': the raster or polygons that mark the "
                                  "known anomalies.").format(label=label)
        truth, problem = self._truth_file(truth_layer)
        if problem:
            return False, problem
        score = self.raster_source(parameters, p.INPUT, context)
        if _same_file(score, truth):
            return False, self.tr("The '{label}' is the anomaly score itself ('{name}'); choose "
                                  "the layer that marks the known anomalies.").format(
                label=label, name=truth_layer.name())
        return True, ""

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Evaluate through the engine and return the report and the AUC values."""
        from ...engine.app import jobs

        score = self.raster_source(parameters, p.INPUT, context)
        ok, problem = self.checkParameterValues(parameters, context)
        if not ok:  # a run that skipped the dialog's checks (processing.run does them too)
            raise QgsProcessingException(problem)
        truth, _ = self._truth_file(self.parameterAsLayer(parameters, GROUND_TRUTH, context))
        report = self.parameterAsFileOutput(parameters, p.OUTPUT, context)
        result = self.run_engine(
            lambda progress: jobs.evaluate(score, truth, report_path=report), feedback)
        outputs: dict[str, Any] = {p.OUTPUT: report}
        for name, attribute in METRICS.items():
            outputs[name] = float(getattr(result, attribute))
            feedback.pushInfo(f"{self.tr(METRIC_LABELS[name])}: {outputs[name]:.4f}")
        return outputs

    def _truth_file(self, layer: QgsMapLayer | None) -> tuple[str, str | None]:
        """The file the engine reads the ground truth from, or why there is none."""
        if isinstance(layer, QgsRasterLayer):
            problem = self.check_raster(layer)
            return ("", problem) if problem else (layer.source().split("|", 1)[0], None)
        if isinstance(layer, QgsVectorLayer) and layer.isValid() and layer.providerType() == "ogr":
            return QgsProviderRegistry.instance().decodeUri("ogr", layer.source())["path"], None
        return "", self.tr("The ground truth must be a raster read by GDAL or a polygon file read "
                           "by OGR (GeoPackage, Shapefile, ...); save layer '{name}' to a file "
                           "first.").format(name=layer.name() if layer else "?")


def _same_file(first: str, second: str) -> bool:
    """True when two GDAL/OGR dataset names are the same file."""
    if first == second:
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # not plain files (e.g. /vsizip/...): the names differ
        return False
