"""The packaged graphical model: in sync with its builder, exposed as ``dms2f:detect_and_threshold``,
and runnable end to end."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr
from qgis_support import read_raster

pytestmark = pytest.mark.usefixtures("dms2f_plugin")

MODEL_ID = "dms2f:detect_and_threshold"


def test_committed_model_is_what_the_builder_writes(tmp_path):
    from dms2f_had.dms2f_plugin.qgis.model_builder import DETECT_AND_THRESHOLD, write_models

    [written] = write_models(tmp_path)
    assert written.read_text(encoding="utf-8") == DETECT_AND_THRESHOLD.read_text(encoding="utf-8"), (
        "resources/models is stale: run make models")


def test_model_is_in_the_toolbox_with_its_inputs_and_outputs():
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById(MODEL_ID)
    assert alg is not None and alg.displayName() == "Detect and threshold anomalies"
    assert alg.group() == "Workflows"
    names = [d.name() for d in alg.parameterDefinitions()]
    assert names[:5] == ["INPUT", "PRESET", "METHOD", "VALUE", "MIN_SIZE"]
    assert {o.name() for o in alg.outputDefinitions()} == {"detect:SCORE", "threshold:MASK",
                                                          "threshold:DETECTIONS"}
    instance = alg.create()
    assert instance.id() == MODEL_ID
    assert instance.childAlgorithm("detect").algorithm() is not None
    assert instance.childAlgorithm("threshold").algorithm() is not None


@pytest.mark.slow
@pytest.mark.usefixtures("short_fit")
def test_model_runs_detect_then_threshold(scene, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    outputs = {"detect:SCORE": str(tmp_path / "score.tif"), "threshold:MASK": str(tmp_path / "mask.tif"),
               "threshold:DETECTIONS": str(tmp_path / "detections.gpkg")}
    result = processing.run(MODEL_ID, {"INPUT": scene.cube, "PRESET": 0, "METHOD": 0, "VALUE": 99.0,
                                       "MIN_SIZE": 1, **outputs},
                            feedback=QgsProcessingFeedback(), context=context)
    score, _, _ = read_raster(result["detect:SCORE"])
    mask, _, _ = read_raster(result["threshold:MASK"])
    assert score.shape == mask.shape == (64, 64)
    assert np.array_equal(mask == 1, score > np.nanpercentile(score, 99.0, method="lower"))
    detections = ogr.Open(result["threshold:DETECTIONS"])  # keep the dataset while its layer is used
    assert detections.GetLayer(0).GetFeatureCount() >= 1
