"""``dms2f:import_benchmark``: convert a benchmark scene (.mat) into GeoTIFFs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ..styling import OutputKind, style_output
from . import parameters as p
from .base import Dms2fAlgorithm

OUTPUT_GT = "OUTPUT_GT"


class ImportBenchmarkAlgorithm(Dms2fAlgorithm):
    """Reads a MATLAB benchmark scene (cube + ground-truth map) and writes two GeoTIFFs."""

    NAME = "import_benchmark"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Import benchmark scene (.mat)")
    GROUP_ID = "data"
    ICON = "import.svg"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Converts a hyperspectral anomaly-detection benchmark scene stored as a MATLAB .mat file "
        "(ABU airport/beach/urban, AVIRIS San Diego, HYDICE urban, Pavia, ...) into GeoTIFFs that "
        "every algorithm of this provider reads.\n\n"
        "<b>Benchmark scene</b>: a .mat file holding the data cube (rows x columns x bands) and "
        "usually a ground-truth map.\n"
        "<b>Hyperspectral cube</b>: multi-band GeoTIFF of the cube. Benchmark scenes carry no "
        "georeference, so it uses a pixel grid without CRS.\n"
        "<b>Ground truth</b>: single-band GeoTIFF, 1 = anomaly, 0 = background, on the same "
        "grid; use it in 'Evaluate against ground truth'.")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        self.addParameter(QgsProcessingParameterFile(p.INPUT, self.tr("Benchmark scene"),
                                                     extension="mat"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            p.OUTPUT, self.tr("Hyperspectral cube")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            OUTPUT_GT, self.tr("Ground truth"), optional=True, createByDefault=True))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Convert through the engine; style the ground truth like a mask."""
        from ...engine.app import jobs

        mat_path = self.parameterAsFile(parameters, p.INPUT, context)
        cube = self.parameterAsOutputLayer(parameters, p.OUTPUT, context)
        ground_truth = self.parameterAsOutputLayer(parameters, OUTPUT_GT, context) or None
        scene = Path(mat_path).stem
        self.name_output(context, cube, p.OUTPUT, scene)
        if ground_truth:
            self.name_output(context, ground_truth, OUTPUT_GT,
                             self.tr("{scene} ground truth").format(scene=scene))
        result = self.run_engine(lambda progress: jobs.import_mat(mat_path, cube, ground_truth),
                                 feedback)
        feedback.pushInfo(self.tr("{rows} x {cols} pixels, {bands} bands, {anomalies} anomalous "
                                  "pixels in the ground truth").format(
            rows=result.rows, cols=result.cols, bands=result.bands, anomalies=result.anomaly_pixels))
        if result.gt_path is None:
            return {p.OUTPUT: cube, OUTPUT_GT: None}
        style_output(str(result.gt_path), OutputKind.MASK, context)
        return {p.OUTPUT: cube, OUTPUT_GT: str(result.gt_path)}
