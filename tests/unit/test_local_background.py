"""Local background removal: the median, its NaN handling, its tiling and what it removes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import write_geotiff

from dms2f_had.dms2f_plugin.engine.detectors.local_background import (
    LocalBackgroundScorer,
    check_local_window,
    local_median,
    with_local_background,
)
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.io.window import Window


def _naive_median(scores: np.ndarray, window: int) -> np.ndarray:
    """Pixel by pixel: the nanmedian of the mirrored neighbourhood (scipy's "reflect")."""
    r = window // 2
    padded = np.pad(scores.astype(np.float64), r, mode="symmetric")
    out = np.empty(scores.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods give NaN
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                out[i, j] = np.nanmedian(padded[i:i + window, j:j + window])
    out[np.isnan(scores)] = np.nan
    return out


@pytest.mark.parametrize("window", [3, 5, 15])
def test_local_median_matches_the_definition_with_and_without_nodata(window: int) -> None:
    scores = np.random.default_rng(window).normal(size=(21, 26))
    np.testing.assert_allclose(local_median(scores, window), _naive_median(scores, window))
    scores[3:6, 10:14] = np.nan  # takes the NaN-aware path
    scores[:, 0] = np.nan
    got = local_median(scores, window)
    np.testing.assert_allclose(got, _naive_median(scores, window))
    assert np.isnan(got[4, 11]) and np.isfinite(got[10, 10])


@pytest.mark.parametrize("window", [-1, 1, 2, 4, 16])
def test_bad_windows_are_refused_naming_the_value_and_the_fix(window: int) -> None:
    with pytest.raises(ValueError, match=f"0 \\(off\\) or an odd number >= 3, got {window}; "
                                         "the default is 15"):
        check_local_window(window)


def test_window_zero_leaves_the_scorer_alone() -> None:
    inner = _FirstBand()
    assert with_local_background(inner, 0, 10, 10) is inner
    wrapped = with_local_background(inner, 15, 10, 10)
    assert isinstance(wrapped, LocalBackgroundScorer)
    assert wrapped.halo == inner.halo + 8 and wrapped.align == inner.align  # margin on the grid


class _FirstBand:
    """A TileScorer whose score is band 1 itself (halo 0, cores on the 8-pixel grid)."""

    halo = 0
    align = 8

    def __call__(self, cube, valid, read_window: Window, core: Window) -> np.ndarray:
        return cube[0][core.slices_in(read_window)].astype(np.float32)


def _strip_scene(tmp_path: Path, nodata: bool = False) -> tuple[Path, np.ndarray]:
    """Noise, a bright strip along the left edge, and one small bright target."""
    rng = np.random.default_rng(5)
    score = rng.normal(0.0, 1.0, (61, 75)).astype(np.float32)  # (h, w)
    score[:, :6] += 6.0  # the strip: a broad background, brighter than the noise
    score[30:32, 40:42] += 6.0  # the target: 4 pixels
    cube = np.stack([score, score + 1.0])  # (2, h, w)
    if nodata:
        cube[:, 50:, 60:] = -9999.0
    return write_geotiff(tmp_path / "strip.tif", cube, nodata=-9999.0 if nodata else None), score


@pytest.mark.parametrize("nodata", [False, True])
def test_tiled_result_equals_the_whole_image_result(tmp_path: Path, nodata: bool) -> None:
    path, score = _strip_scene(tmp_path, nodata)
    with open_raster(path) as source:
        scorer = LocalBackgroundScorer(_FirstBand(), 15, source.height, source.width)
        whole = score_array(source, scorer, tile_size=512)
        for tile_size in (16, 24, 40):
            np.testing.assert_allclose(score_array(source, scorer, tile_size=tile_size), whole,
                                       rtol=1e-6, atol=1e-6)
    expected = score.astype(np.float64)
    if nodata:
        expected[50:, 60:] = np.nan
    expected = expected - _naive_median(expected, 15)
    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(whole[55, 70]) == nodata


def test_the_strip_drops_below_the_target_and_the_target_stays(tmp_path: Path) -> None:
    path, raw = _strip_scene(tmp_path)
    with open_raster(path) as source:
        corrected = score_array(source, LocalBackgroundScorer(_FirstBand(), 15, source.height,
                                                              source.width))
    target = np.zeros(raw.shape, dtype=bool)
    target[30:32, 40:42] = True
    strip = np.zeros(raw.shape, dtype=bool)
    strip[:, :6] = True
    assert (raw[strip] > raw[target].min()).sum() > 10  # before: strip pixels outrank the target
    assert corrected[target].min() > corrected[strip].max()  # after: none does
    assert corrected[target].mean() > 4.0  # the target keeps its contrast
