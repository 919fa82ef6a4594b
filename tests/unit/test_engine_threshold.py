"""Thresholds (each method, minimum size, nodata) and detection polygons consistent with the mask."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import CUSTOM_WKT, ROTATED_GT, read_band, write_geotiff
from osgeo import ogr

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.errors import InputError
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.products import threshold as thr


@pytest.fixture
def score_path(tmp_path):
    rng = np.random.default_rng(1)
    score = rng.gamma(2.0, 1.0, size=(50, 60)).astype(np.float32)
    score[10:13, 20:23] = 40.0  # a 9-pixel object
    score[30, 5] = 35.0  # a single pixel
    score[40, 40] = 30.0  # diagonal pair: one object with 8-connectivity
    score[41, 41] = 31.0
    score[0, 0:3] = np.nan  # nodata
    return write_geotiff(tmp_path / "score.tif", score, crs_wkt=CUSTOM_WKT,
                         geotransform=ROTATED_GT, nodata=float("nan"))


def _valid(path):
    values = read_band(path).astype(np.float64)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("p", [99.5, 90.0, 50.0, 0.0, 100.0])
def test_percentile_is_exact(score_path, p):
    with open_raster(score_path) as src:
        got = thr.compute_threshold(src, "percentile", p)
    assert got == np.percentile(_valid(score_path), p, method="lower")


def test_percentile_refinement_path_is_exact(score_path, monkeypatch):
    monkeypatch.setattr(thr, "_COLLECT_LIMIT", 5)  # force the narrowing passes
    monkeypatch.setattr(thr, "_BINS", 4)
    with open_raster(score_path) as src:
        got = thr.compute_threshold(src, "percentile", 37.0)
    assert got == np.percentile(_valid(score_path), 37.0, method="lower")


def test_sigma_otsu_value(score_path):
    values = _valid(score_path)
    with open_raster(score_path) as src:
        assert thr.compute_threshold(src, "sigma", 2.0) == pytest.approx(
            values.mean() + 2.0 * values.std(), rel=1e-9)
        assert thr.compute_threshold(src, "sigma", None) == pytest.approx(
            values.mean() + 3.0 * values.std(), rel=1e-9)
        otsu = thr.compute_threshold(src, "otsu", None)
        assert thr.compute_threshold(src, "value", 12.5) == 12.5
    from skimage.filters import threshold_otsu

    bin_width = (values.max() - values.min()) / 1024
    assert otsu == pytest.approx(threshold_otsu(values, nbins=1024), abs=2 * bin_width)


@pytest.mark.parametrize("method, value, match", [
    ("value", None, "needs a score value"), ("percentile", 120.0, "outside 0..100"),
    ("magic", None, "Unknown threshold method")])
def test_threshold_errors(score_path, method, value, match):
    with open_raster(score_path) as src:
        with pytest.raises(InputError, match=match):
            thr.compute_threshold(src, method, value)


def test_mask_min_size_and_nodata(score_path, tmp_path):
    result = jobs.threshold(score_path, tmp_path / "mask.tif", method="value", value=25.0,
                            min_size=2)
    mask = read_band(tmp_path / "mask.tif")
    assert (mask[0, 0:3] == 255).all()
    assert mask[30, 5] == 0  # single pixel removed
    assert mask[10:13, 20:23].all() and mask[40, 40] == 1 and mask[41, 41] == 1
    assert result.anomaly_pixels == 11 == int((mask == 1).sum())
    assert result.objects == 2 and result.threshold == 25.0


def test_polygons_attributes_consistent_with_mask(score_path, tmp_path):
    result = jobs.threshold(score_path, tmp_path / "mask.tif", method="value", value=25.0,
                            vector_path=tmp_path / "det.gpkg")
    assert result.objects == 3
    ds = ogr.Open(str(tmp_path / "det.gpkg"))
    layer = ds.GetLayer(0)
    assert layer.GetName() == "detections" and layer.GetFeatureCount() == 3
    assert "Custom TM test" in layer.GetSpatialRef().ExportToWkt()
    features = sorted(({"area_px": f["area_px"], "max": f["max_score"], "mean": f["mean_score"],
                        "area_map": f["area_map"], "cx": f["centroid_x"], "cy": f["centroid_y"],
                        "geom": f.GetGeometryRef().Clone()} for f in layer),
                      key=lambda f: -f["area_px"])
    pixel_area = abs(ROTATED_GT[1] * ROTATED_GT[5] - ROTATED_GT[2] * ROTATED_GT[4])
    assert [f["area_px"] for f in features] == [9, 2, 1]
    assert sum(f["area_px"] for f in features) == int((read_band(tmp_path / "mask.tif") == 1).sum())
    for f in features:
        assert f["area_map"] == pytest.approx(f["area_px"] * pixel_area, rel=1e-6)
        assert f["geom"].Contains(ogr.CreateGeometryFromWkt(f"POINT ({f['cx']} {f['cy']})")) \
            or f["area_px"] == 2  # a diagonal pair's centroid lies on the shared corner
    big = features[0]
    assert big["max"] == 40.0 and big["mean"] == 40.0
    col, row = 21.5, 11.5  # centre of the 3 x 3 object
    assert big["cx"] == pytest.approx(ROTATED_GT[0] + col * ROTATED_GT[1] + row * ROTATED_GT[2])
    assert big["cy"] == pytest.approx(ROTATED_GT[3] + col * ROTATED_GT[4] + row * ROTATED_GT[5])
    assert features[1]["max"] == 31.0 and features[1]["mean"] == pytest.approx(30.5)


def test_default_percentile_flags_top_half_percent(score_path, tmp_path):
    result = jobs.threshold(score_path, tmp_path / "mask.tif")
    valid = _valid(score_path).size
    assert result.method == "percentile" and result.value == 99.5
    assert result.anomaly_pixels == valid - 1 - int(np.floor(0.995 * (valid - 1)))
