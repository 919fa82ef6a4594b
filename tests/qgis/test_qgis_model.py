"""The packaged graphical model: in sync with its builder, exposed as ``dms2f:detect_and_threshold``,
and runnable end to end."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr
from qgis_support import read_raster

pytestmark = pytest.mark.usefixtures("dms2f_plugin")

MODEL_ID = "dms2f:detect_and_threshold"


def _load(path):
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path)), f"{path} does not load"
    return model


def test_committed_model_is_what_the_builder_builds():
    """Compared as models (steps, inputs, sources, outputs, help), not as XML: each QGIS version
    writes the same model differently."""
    from dms2f_had.dms2f_plugin.qgis.model_builder import (
        DETECT_AND_THRESHOLD,
        build_detect_and_threshold,
        model_summary,
    )

    committed = model_summary(_load(DETECT_AND_THRESHOLD))
    assert committed == model_summary(build_detect_and_threshold()), (
        "resources/models is stale: run make models")
    assert set(committed["steps"]) == {"detect", "threshold"}


def test_the_summary_sees_a_changed_step_value(tmp_path):
    from qgis.core import QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource

    from dms2f_had.dms2f_plugin.qgis.model_builder import build_detect_and_threshold, model_summary

    changed = build_detect_and_threshold()
    child = QgsProcessingModelChildAlgorithm(changed.childAlgorithm("detect"))
    child.addParameterSources("TILE_SIZE", [QgsProcessingModelChildParameterSource.fromStaticValue(256)])
    changed.setChildAlgorithm(child)
    assert model_summary(changed) != model_summary(build_detect_and_threshold())


def test_written_model_is_version_neutral_and_reads_back_the_same(tmp_path):
    from dms2f_had.dms2f_plugin.qgis.model_builder import (
        build_detect_and_threshold,
        model_summary,
        write_models,
    )

    [written] = write_models(tmp_path)
    assert "internal_version" not in written.read_text(encoding="utf-8")
    assert model_summary(_load(written)) == model_summary(build_detect_and_threshold())


def test_shipped_model_validates_as_in_the_model_designer():
    """What the Model Designer's "Validate" and Run check: every mandatory input has a source."""
    from dms2f_had.dms2f_plugin.qgis.model_builder import DETECT_AND_THRESHOLD

    model = _load(DETECT_AND_THRESHOLD)
    ok, issues = model.validate()
    assert ok and list(issues) == []
    registered = registry_model()
    ok, issues = registered.validate()
    assert ok and list(issues) == []


def test_a_model_without_the_fixed_step_values_is_reported_invalid():
    """The validity test above can fail: the model as shipped before had no DEVICE (and more)."""
    from qgis.core import Qgis

    if Qgis.QGIS_VERSION_INT >= 34000:
        pytest.skip("QGIS 3.40 accepts a child input left unset when the parameter has a default; "
                    "3.22, which refuses it, is where the shipped values matter")
    from dms2f_had.dms2f_plugin.qgis.model_builder import build_detect_and_threshold, detect_step_values

    values = detect_step_values()
    del values["DEVICE"]
    ok, issues = build_detect_and_threshold(values).validate()
    assert not ok and any("DEVICE" in issue for issue in issues)


def registry_model():
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(MODEL_ID)


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
def test_model_runs_detect_then_threshold_and_names_its_layers(scene, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    outputs = {"detect:SCORE": str(tmp_path / "score.tif"), "threshold:MASK": str(tmp_path / "mask.tif"),
               "threshold:DETECTIONS": str(tmp_path / "detections.gpkg")}
    try:
        result = processing.runAndLoadResults(MODEL_ID, {"INPUT": scene.cube, "PRESET": 0, "METHOD": 0,
                                                         "VALUE": 99.0, "MIN_SIZE": 1, **outputs},
                                              feedback=QgsProcessingFeedback(), context=context)
        names = sorted(layer.name() for layer in project.mapLayers().values())
    finally:
        project.removeAllMapLayers()
    assert names == ["DMS2F-HAD detections: scene", "DMS2F-HAD mask: scene", "DMS2F-HAD score: scene"]
    score, _, _ = read_raster(result["detect:SCORE"])
    mask, _, _ = read_raster(result["threshold:MASK"])
    assert score.shape == mask.shape == (64, 64)
    assert np.array_equal(mask == 1, score > np.nanpercentile(score, 99.0, method="lower"))
    detections = ogr.Open(result["threshold:DETECTIONS"])  # keep the dataset while its layer is used
    assert detections.GetLayer(0).GetFeatureCount() >= 1
