"""ROC AUC (ties), Chang's AUC(D,tau)/AUC(F,tau), grid checks, vector ground truth, plot/report."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import write_geotiff
from osgeo import ogr

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.errors import InputError
from dms2f_had.dms2f_plugin.engine.products.evaluate import (
    evaluate_arrays,
    roc_auc,
    roc_curve,
    tau_aucs,
    trapezoid,
)


def test_auc_hand_computed_with_ties():
    # anomalies: 0.9, 0.5 ; background: 0.5, 0.3, 0.1
    # pairs (a > b): 0.9 beats all 3; 0.5 beats 0.3, 0.1 and ties 0.5 -> (3 + 2 + 0.5) / 6
    scores = np.array([0.9, 0.5, 0.5, 0.3, 0.1])
    labels = np.array([1, 1, 0, 0, 0])
    assert roc_auc(scores, labels) == pytest.approx(5.5 / 6)
    curve = roc_curve(scores, labels)
    np.testing.assert_allclose(curve.pf, [0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.pd, [0, 0.5, 1, 1, 1])


def test_auc_perfect_inverted_and_random():
    labels = np.r_[np.ones(50), np.zeros(950)]
    assert roc_auc(np.r_[np.full(50, 2.0), np.ones(950)], labels) == 1.0
    assert roc_auc(np.r_[np.zeros(50), np.ones(950)], labels) == 0.0
    assert roc_auc(np.ones(1000), labels) == 0.5


def test_trapezoid_is_the_trapezoid_rule():
    assert trapezoid([0.0, 1.0, 1.0], [0.0, 0.5, 2.0]) == pytest.approx(0.25 + 1.5)
    x = np.linspace(0.0, 1.0, 1001)
    assert trapezoid(x**2, x) == pytest.approx(1 / 3, abs=1e-6)
    assert trapezoid([3.0], [1.0]) == 0.0


def test_tau_aucs_equal_the_integrals_of_pd_and_pf():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(3, 1, 40), rng.normal(0, 1, 400)]
    labels = np.r_[np.ones(40), np.zeros(400)]
    d_tau, f_tau = tau_aucs(scores, labels)
    norm = (scores - scores.min()) / (scores.max() - scores.min())
    taus = np.linspace(0, 1, 20001)
    pd = [(norm[labels == 1] >= t).mean() for t in taus]
    pf = [(norm[labels == 0] >= t).mean() for t in taus]
    assert d_tau == pytest.approx(trapezoid(pd, taus), abs=1e-3)
    assert f_tau == pytest.approx(trapezoid(pf, taus), abs=1e-3)
    ev = evaluate_arrays(scores, labels)
    assert ev.auc_td == pytest.approx(ev.auc + d_tau) and ev.auc_bs == pytest.approx(ev.auc - f_tau)


def test_one_class_is_refused():
    with pytest.raises(InputError, match="no anomaly pixel"):
        roc_auc(np.arange(5.0), np.zeros(5))


@pytest.fixture
def maps(tmp_path):
    score = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    score[0, 0] = np.nan
    gt = np.zeros((20, 30), np.uint8)
    gt[15:18, 25:28] = 7  # any nonzero is an anomaly
    gt[2, 2] = 1
    gt_path = write_geotiff(tmp_path / "gt.tif", gt)
    return write_geotiff(tmp_path / "score.tif", score, nodata=float("nan")), gt_path, score, gt


def test_evaluate_rasters_with_plot_and_report(maps, tmp_path):
    score_path, gt_path, score, gt = maps
    result = jobs.evaluate(score_path, gt_path, plot_path=tmp_path / "roc.png",
                           report_path=tmp_path / "report.html")
    keep = np.isfinite(score)
    assert result.auc == pytest.approx(roc_auc(score[keep], gt[keep]))
    assert result.anomaly_pixels == 10 and result.background_pixels == 20 * 30 - 11
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "report.html").read_text()
    assert f"{result.auc:.4f}" in page and "data:image/png;base64," in page


def test_ground_truth_of_another_size(maps, tmp_path):
    score_path, _, _, _ = maps
    other = write_geotiff(tmp_path / "small.tif", np.ones((10, 10), np.uint8))
    with pytest.raises(InputError, match="10 x 10 pixels but the score raster is 30 x 20"):
        jobs.evaluate(score_path, other)


def test_a_ground_truth_with_many_bands_is_refused_as_the_image(maps, tmp_path):
    score_path, _, _, _ = maps
    cube = write_geotiff(tmp_path / "cube.tif", np.ones((6, 20, 30), np.float32))
    with pytest.raises(InputError, match="has 6 bands; give a single-band raster with 1 for "
                                         "anomalies and 0 for background"):
        jobs.evaluate(score_path, cube)


def test_vector_ground_truth_is_burnt_on_the_score_grid(maps, tmp_path):
    score_path, gt_path, _, _ = maps
    vector = tmp_path / "gt.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(vector))
    layer = ds.CreateLayer("truth", geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    # pixels rows 15..17, cols 25..27 in QGIS's ungeoreferenced frame (y = -row)
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON ((25 -15, 28 -15, 28 -18, 25 -18, 25 -15))"))
    layer.CreateFeature(feature)
    ds = None
    by_vector = jobs.evaluate(score_path, vector)
    assert by_vector.anomaly_pixels == 9
