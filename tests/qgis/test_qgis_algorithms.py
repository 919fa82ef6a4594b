"""Every ``dms2f:`` algorithm through ``processing.run`` in real QGIS, on real GeoTIFF/ENVI files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis_support import EPSG, GEOTRANSFORM, TARGETS, read_raster, same_crs

pytestmark = pytest.mark.usefixtures("dms2f_plugin")


def run(algorithm: str, parameters: dict, feedback=None) -> dict:
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    feedback = feedback or QgsProcessingFeedback()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return processing.run(algorithm, parameters, feedback=feedback, context=context)


def assert_same_grid(path: str) -> np.ndarray:
    data, geotransform, wkt = read_raster(path)
    assert data.shape == (64, 64)
    assert geotransform == pytest.approx(GEOTRANSFORM)
    assert same_crs(wkt), wkt
    return data


def assert_targets_on_top(score: np.ndarray, truth: np.ndarray) -> None:
    """Every target pixel scores above the 95th percentile of the background."""
    background = np.nanpercentile(score[~truth], 95)
    assert np.all(score[truth] > background), (score[truth], background)


@pytest.fixture(scope="module")
def rx_score(scene, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("rx") / "score.tif"
    result = run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    return str(out)


def test_global_rx_keeps_grid_finds_targets_and_opens_styled(rx_score, scene):
    from qgis.core import QgsRasterLayer

    score = assert_same_grid(rx_score)
    assert score.dtype == np.float32
    assert_targets_on_top(score, scene.truth_mask)
    sidecar = Path(rx_score).with_suffix(".qml")
    assert sidecar.is_file()
    layer = QgsRasterLayer(rx_score, "score", "gdal")  # loads the .qml as default style
    assert layer.renderer().type() == "singlebandpseudocolor"


def test_local_rx_on_envi_with_band_selection(scene, tmp_path):
    out = tmp_path / "lrx.tif"
    run("dms2f:rx_detector", {"INPUT": scene.envi, "BANDS": "1-8", "METHOD": 1, "INNER_WINDOW": 3,
                              "OUTER_WINDOW": 11, "TILE_SIZE": 32, "OUTPUT": str(out)})
    assert_targets_on_top(assert_same_grid(str(out)), scene.truth_mask)


@pytest.mark.parametrize("method, value", [(0, 99.5), (1, 3.0), (2, None), (3, 50.0)])
def test_threshold_mask_and_detections_match_the_score(rx_score, tmp_path, method, value):
    mask_path, gpkg = tmp_path / "mask.tif", tmp_path / "detections.gpkg"
    params = {"INPUT": rx_score, "METHOD": method, "MIN_SIZE": 1, "OUTPUT": str(mask_path),
              "DETECTIONS": str(gpkg)}
    if value is not None:
        params["VALUE"] = value
    result = run("dms2f:threshold_anomalies", params)
    mask = assert_same_grid(result["OUTPUT"])
    score, _, _ = read_raster(rx_score)
    flagged = mask == 1
    assert np.array_equal(flagged, score > result["THRESHOLD"])
    assert Path(mask_path).with_suffix(".qml").is_file()

    ds = ogr.Open(result["DETECTIONS"])
    layer = ds.GetLayer(0)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == str(EPSG)
    features = list(layer)
    assert len(features) == result["COUNT"] > 0
    fields = {f.GetName() for f in layer.schema}
    assert fields >= {"id", "area_px", "area_map", "max_score", "mean_score", "centroid_x", "centroid_y"}
    assert sum(f.GetField("area_px") for f in features) == int(flagged.sum())
    assert all(f.GetField("max_score") > result["THRESHOLD"] for f in features)
    area = sum(f.GetGeometryRef().GetArea() for f in features)
    assert area == pytest.approx(flagged.sum() * GEOTRANSFORM[1] * -GEOTRANSFORM[5])


def test_threshold_finds_each_target(rx_score, tmp_path):
    result = run("dms2f:threshold_anomalies", {
        "INPUT": rx_score, "METHOD": 0, "VALUE": 100 - 12 / 64 / 64 * 100, "MIN_SIZE": 2,
        "OUTPUT": str(tmp_path / "mask.tif"), "DETECTIONS": str(tmp_path / "d.gpkg")})
    mask, _, _ = read_raster(result["OUTPUT"])
    for row, col in TARGETS:
        assert mask[row:row + 2, col:col + 2].all()
    assert result["COUNT"] == len(TARGETS)


@pytest.mark.parametrize("truth_kind", ["truth", "truth_polygons"])
def test_evaluate_returns_aucs_and_report(rx_score, scene, tmp_path, truth_kind):
    report = tmp_path / "report.html"
    result = run("dms2f:evaluate_detection", {"INPUT": rx_score, "GROUND_TRUTH": getattr(scene, truth_kind),
                                               "OUTPUT": str(report)})
    assert result["OUTPUT"] == str(report) and report.stat().st_size > 0
    assert 0.95 < result["AUC"] <= 1.0
    assert 0.0 <= result["AUC_F_TAU"] < result["AUC_D_TAU"] <= 1.0


def test_import_benchmark_writes_cube_and_truth(had_dir, tmp_path):
    cube, truth = tmp_path / "cube.tif", tmp_path / "gt.tif"
    result = run("dms2f:import_benchmark", {"INPUT": str(had_dir / "pavia-car.mat"),
                                            "OUTPUT": str(cube), "OUTPUT_GT": str(truth)})
    cube_data, _, _ = read_raster(result["OUTPUT"])
    truth_data, _, _ = read_raster(result["OUTPUT_GT"])
    assert cube_data.shape == truth_data.shape
    assert set(np.unique(truth_data)) <= {0, 1} and truth_data.sum() > 0


@pytest.mark.slow
@pytest.mark.usefixtures("short_fit")
def test_detect_fast_preset_then_apply_saved_model(scene, tmp_path):
    score, model, again = tmp_path / "score.tif", tmp_path / "scene.safetensors", tmp_path / "again.tif"
    result = run("dms2f:detect_anomalies", {"INPUT": scene.cube, "PRESET": 0, "DEVICE": 1, "SEED": 0,
                                             "TILE_SIZE": 32, "SAVE_MODEL": str(model),
                                             "OUTPUT": str(score)})
    first = assert_same_grid(result["OUTPUT"])
    assert np.isfinite(first).all()
    assert result["SAVE_MODEL"] == str(model) and model.is_file()
    assert Path(score).with_suffix(".qml").is_file()

    result = run("dms2f:detect_with_model", {"INPUT": scene.cube, "MODEL": str(model), "DEVICE": 1,
                                              "OUTPUT": str(again)})
    second = assert_same_grid(result["OUTPUT"])
    assert np.allclose(first, second, rtol=1e-4, atol=1e-4)

    plain = tmp_path / "plain.tif"  # the local background removal turned off
    run("dms2f:detect_with_model", {"INPUT": scene.cube, "MODEL": str(model), "DEVICE": 1,
                                    "LOCAL_WINDOW": 0, "OUTPUT": str(plain)})
    assert gdal.Open(str(plain)).GetMetadata()["local_window"] == "0"
    assert not np.allclose(assert_same_grid(str(plain)), first, atol=1e-3)


class RecordingFeedback:
    """A real QgsProcessingFeedback that keeps every line the log panel would show."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Recording(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.lines = []

            def pushInfo(self, info):  # noqa: N802
                self.lines.append(info)

            def pushWarning(self, warning):  # noqa: N802
                self.lines.append(warning)

        return Recording()


@pytest.mark.slow
def test_detect_fitting_steps_and_local_window_reach_the_engine(scene, tmp_path):
    score = tmp_path / "score.tif"
    feedback = RecordingFeedback()
    run("dms2f:detect_anomalies", {"INPUT": scene.cube, "DEVICE": 1, "STEPS": 3, "TILE_SIZE": 32,
                                   "LOCAL_WINDOW": 21, "OUTPUT": str(score)}, feedback)
    repeated = {line for line in feedback.lines if feedback.lines.count(line) > 1}
    assert not repeated, "one log line per fact"
    assert sum("Using device" in line for line in feedback.lines) == 1
    assert sum(line.startswith("Fitted 3 steps") for line in feedback.lines) == 1
    assert sum("worst 25% of pixels left out of the loss" in line  # the preset's robust fit
               for line in feedback.lines) == 1
    assert sum("Local window 21: the score is corrected by the median of 21 x 21 pixels and not "
               "fused with global RX" in line for line in feedback.lines) == 1
    assert not any("Fitting took" in line for line in feedback.lines)
    metadata = gdal.Open(str(score)).GetMetadata()
    assert metadata["method"] == "dms2f" and metadata["preset"] == "fast"
    assert metadata["steps"] == "3" and metadata["local_window"] == "21"


@pytest.mark.parametrize("alg_id", ["dms2f:rx_detector", "dms2f:detect_anomalies"])
def test_detect_algorithms_offer_keep_every_band(alg_id):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    definition = alg.parameterDefinition("KEEP_ALL_BANDS")
    assert definition.description() == "Keep every band (no water-vapour band removal)"
    assert definition.defaultValue() is False
    assert definition.flags() & QgsProcessingParameterDefinition.FlagAdvanced


def test_rx_drops_water_vapour_bands_unless_every_band_is_kept(tmp_path):
    rng = np.random.default_rng(0)
    waves = [500, 900, 1400, 1600, 1850, 2200, 2300, 2480]  # 3, 5 and 8 in the windows
    cube = rng.normal(100.0, 5.0, (len(waves), 20, 20)).astype(np.float32)
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "nm.tif"), 20, 20, len(waves),
                                              gdal.GDT_Float32)
    for i, wave in enumerate(waves):
        ds.GetRasterBand(i + 1).WriteArray(cube[i])
        ds.GetRasterBand(i + 1).SetMetadata({"wavelength": str(wave), "wavelength_units": "nm"})
    ds = None
    bands = {}
    for keep in (False, True):
        out = tmp_path / f"rx-{keep}.tif"
        run("dms2f:rx_detector", {"INPUT": str(tmp_path / "nm.tif"), "KEEP_ALL_BANDS": keep,
                                  "OUTPUT": str(out)})
        bands[keep] = gdal.Open(str(out)).GetMetadata()["bands"]
    assert bands == {False: "1-2,4,6-7", True: "1-8"}
