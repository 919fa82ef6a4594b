"""RX detectors against direct formulas, singular covariances, and the real San Diego scene."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer, LocalRxScorer
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array
from dms2f_had.dms2f_plugin.engine.detectors.whitening import whitening_matrix
from dms2f_had.dms2f_plugin.engine.errors import InputError
from dms2f_had.dms2f_plugin.engine.io.matfile import load_mat
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.products.evaluate import roc_auc


def _brute_lrx(cube, valid, inner, outer, whiten, mean):
    """Per-pixel loop: Mahalanobis distance to the ring statistics (same projection)."""
    bands, h, w = cube.shape
    y = np.einsum("bk,bhw->khw", whiten, cube.astype(np.float64) - mean[:, None, None])
    out = np.full((h, w), np.nan)
    ro, ri = outer // 2, inner // 2
    for r in range(h):
        for c in range(w):
            if not valid[r, c]:
                continue
            ring = np.zeros((h, w), bool)
            ring[max(0, r - ro):r + ro + 1, max(0, c - ro):c + ro + 1] = True
            ring[max(0, r - ri):r + ri + 1, max(0, c - ri):c + ri + 1] = False
            samples = y[:, ring & valid]  # (k, n)
            mu = samples.mean(axis=1)
            cov = samples @ samples.T / samples.shape[1] - np.outer(mu, mu)
            k = len(mu)
            cov += (1e-6 * np.trace(cov) / k + 1e-12) * np.eye(k)
            d = y[:, r, c] - mu
            out[r, c] = d @ np.linalg.solve(cov, d)
    return out


@pytest.mark.parametrize("offset", [0.0, 3e4], ids=["plain", "large offset"])
def test_global_rx_matches_pinv_formula(tmp_path, offset):
    """Also on radiances far from 0 (the projected mean is subtracted after the projection)."""
    cube, _ = synthetic_scene(bands=8, height=20, width=25)
    cube = (cube + offset).astype(np.float32)
    path = write_geotiff(tmp_path / "s.tif", cube)
    with open_raster(path) as src:
        score = score_array(src, GlobalRxScorer.from_statistics(src.statistics(covariance=True)))
    x = cube.reshape(8, -1).astype(np.float64)
    d = x - x.mean(axis=1, keepdims=True)
    expected = np.einsum("bn,bc,cn->n", d, np.linalg.pinv(d @ d.T / d.shape[1]), d)
    np.testing.assert_allclose(score.ravel(), expected, rtol=1e-4)


def test_global_rx_survives_singular_covariance(tmp_path):
    cube, _ = synthetic_scene(bands=6, height=15, width=15)
    cube[2] = 7.0  # constant band
    cube[4] = cube[1] * 2.0  # collinear band
    path = write_geotiff(tmp_path / "sing.tif", cube)
    with open_raster(path) as src:
        stats = src.statistics(covariance=True)
        scorer = GlobalRxScorer.from_statistics(stats)
        score = score_array(src, scorer)
    assert scorer.whiten.shape[1] == 4  # rank 4 of 6
    assert np.isfinite(score).all() and score.max() < 1e4


def test_whitening_truncates_to_leading_components():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T
    w = whitening_matrix(cov, components=2)
    assert w.shape == (5, 2)
    np.testing.assert_allclose(w.T @ cov @ w, np.eye(2), atol=1e-9)


def test_local_rx_matches_brute_force_with_nodata_and_edges(tmp_path):
    cube, _ = synthetic_scene(bands=6, height=14, width=17, seed=5)
    cube[:, 6, 6] = -1.0
    cube[:, 0, 3] = -1.0
    path = write_geotiff(tmp_path / "l.tif", cube, nodata=-1.0)
    with open_raster(path) as src:
        stats = src.statistics(covariance=True)
        scorer = LocalRxScorer(stats, inner_window=3, outer_window=7, components=4)
        fast = score_array(src, scorer, tile_size=6)
        data, valid = src.read_window(src.full_window)
    slow = _brute_lrx(data, valid, 3, 7, scorer.whiten, scorer.mean)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, equal_nan=True)


@pytest.mark.parametrize("inner, outer", [(4, 21), (5, 20), (7, 5), (0, 3)])
def test_local_rx_rejects_bad_windows(inner, outer):
    with pytest.raises(InputError, match="odd with inner < outer"):
        LocalRxScorer.check_windows(inner, outer)


def test_real_san_diego_global_rx_auc(had_dir):
    """README: 0.9403 with float64, all bands, pinv; checks that cube and map are aligned."""
    path = had_dir / "san-diego.mat"
    with open_raster(path) as src:
        assert (src.height, src.width, src.band_count) == (100, 100, 189)
        score = score_array(src, GlobalRxScorer.from_statistics(src.statistics(covariance=True)),
                            tile_size=64)
    auc = roc_auc(score, load_mat(path).ground_truth)
    assert auc == pytest.approx(0.9403, abs=0.002)
