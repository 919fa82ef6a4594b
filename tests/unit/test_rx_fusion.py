"""Fusion with global RX: robust units, the tiled pass against the in-memory reference, safety."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import CancelAfter, write_geotiff
from osgeo import gdal

from dms2f_had.dms2f_plugin.engine.detectors import rx_fusion
from dms2f_had.dms2f_plugin.engine.detectors.local_background import (
    LocalBackgroundScorer,
    line_background,
)
from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer
from dms2f_had.dms2f_plugin.engine.detectors.rx_fusion import RobustScale, RxFusedScorer, sampled
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array, score_raster
from dms2f_had.dms2f_plugin.engine.errors import CancelledError
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.io.window import Window


def test_robust_scale_is_the_median_and_1_4826_mad_of_the_finite_values() -> None:
    values = np.array([[1.0, 2.0, 3.0], [4.0, 100.0, np.nan]])
    scale = RobustScale.of(values)
    assert scale.median == 3.0 and scale.spread == pytest.approx(1.4826 * 1.0)
    np.testing.assert_allclose(scale.units(np.array([3.0, 4.4826, np.nan])), [0.0, 1.0, np.nan])
    assert RobustScale.of(np.full(5, 7.0)) == RobustScale(7.0, 1.0)  # no spread: plain offsets
    assert RobustScale.of(np.full(3, np.nan)) == RobustScale(0.0, 1.0)


def test_the_tiles_samples_make_up_the_global_grid() -> None:
    values = np.arange(23 * 31, dtype=np.float64).reshape(23, 31)
    for step in (1, 3, 4):
        pieces = [sampled(values[r:r + 8, c:c + 8], r, c, step)
                  for r in range(0, 23, 8) for c in range(0, 31, 8)]
        assert sorted(np.concatenate(pieces)) == sorted(values[::step, ::step].ravel())
    assert rx_fusion.sample_step(4096, 4096) == 1 and rx_fusion.sample_step(8192, 8192) == 2


def test_the_rx_term_is_the_cube_root_of_the_squared_distance() -> None:
    network, rx = np.array([[1.5, np.nan]]), np.array([[27.0, 8.0]], np.float32)
    a, b = rx_fusion.fusion_terms(network, rx)
    np.testing.assert_array_equal(a, network)  # the network's map as it is
    np.testing.assert_allclose(b, [[3.0, 2.0]])
    assert a.dtype == b.dtype == np.float64


def test_the_fused_score_is_the_larger_robust_unit() -> None:
    network = np.array([[0.0, 10.0], [1.0, np.nan]])
    rx = np.array([[5.0, 0.0], [1.0, np.nan]])
    fused = rx_fusion.fuse(network, rx, RobustScale(0.0, 1.0), RobustScale(1.0, 2.0))
    np.testing.assert_array_equal(fused, np.array([[2.0, 10.0], [1.0, np.nan]], np.float32))


class _FirstBand:
    """A TileScorer whose score is band 1 (halo 0, cores on the 8-pixel grid): a stand-in network."""

    halo = 0
    align = 8

    def __call__(self, cube, valid, read_window: Window, core: Window) -> np.ndarray:
        return cube[0][core.slices_in(read_window)].astype(np.float32)


def _scene(tmp_path: Path, nodata: bool) -> Path:
    rng = np.random.default_rng(3)
    cube = rng.normal(0.0, 1.0, (4, 45, 53)).astype(np.float32)  # (bands, h, w)
    cube[:, 20:22, 30:32] += 5.0  # a target both terms see
    cube[1:, 5, 5] += 8.0  # one RX sees better (not in band 1)
    if nodata:
        cube[:, 40:, 45:] = -9999.0
    return write_geotiff(tmp_path / "scene.tif", cube, nodata=-9999.0 if nodata else None)


def _fused(source) -> RxFusedScorer:
    stats = source.statistics(covariance=True)
    network = LocalBackgroundScorer(_FirstBand(), line_background(21), source.height, source.width)
    return RxFusedScorer(network, GlobalRxScorer.from_statistics(stats))


@pytest.mark.parametrize("nodata", [False, True])
def test_the_tiled_fusion_equals_the_in_memory_reference(tmp_path: Path, nodata: bool,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path = _scene(tmp_path, nodata)
    out = tmp_path / "out" / "fused.tif"
    out.parent.mkdir()
    with open_raster(path) as source:
        scorer = _fused(source)
        network = score_array(source, scorer.network)
        rx = score_array(source, scorer.rx)
        reference = score_array(source, scorer)
        reads: list[Window] = []
        read_window = source.read_window
        source.read_window = lambda w: reads.append(w) or read_window(w)  # type: ignore[method-assign]
        caplog.clear()  # the reference logged its own fusion
        summary = score_raster(source, out, scorer, tile_size=16)
    assert len(reads) == summary.tiles == 12  # both maps from one read of each tile
    # The reference is the definition: the network's map and RX's cube root, each whole map in
    # its robust units, the larger kept.
    term = np.cbrt(rx.astype(np.float64))
    expected = np.fmax(RobustScale.of(network).units(network), RobustScale.of(term).units(term))
    np.testing.assert_allclose(reference, expected, rtol=1e-6, atol=1e-6, equal_nan=True)
    written = gdal.Open(str(out)).ReadAsArray()
    np.testing.assert_allclose(written, reference, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert np.isnan(written[42, 50]) == nodata
    assert written[5, 5] > np.nanpercentile(written, 99)  # RX's pixel survives the fusion
    assert summary.path == out and [p.name for p in out.parent.iterdir()] == ["fused.tif"]
    said = [r.getMessage() for r in caplog.records]
    fused_at = [i for i, line in enumerate(said) if "Fused with global RX in robust units" in line]
    wrote_at = [i for i, line in enumerate(said) if line.startswith("Wrote '")]
    assert len(fused_at) == len(wrote_at) == 1 and fused_at < wrote_at  # what it did, then where
    assert not [line for line in said if ".dms2f-fusion" in line]  # user files only


def test_a_cancel_in_any_pass_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path = _scene(tmp_path, False)
    out = tmp_path / "out" / "fused.tif"
    out.parent.mkdir()
    out.write_bytes(b"the analyst's previous map")
    with open_raster(path) as source:
        scorer = _fused(source)
        # 12 tiles of 16: both maps in one pass, the correction, the scales, the fusion.
        for checks in (3, 20, 30, 40, 47):
            with pytest.raises(CancelledError):
                score_raster(source, out, scorer, tile_size=16, progress=CancelAfter(checks))
            assert [p.name for p in out.parent.iterdir()] == ["fused.tif"]
            assert out.read_bytes() == b"the analyst's previous map"
