"""Local background removal: the median, its NaN handling, its tiling and what it removes."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import CancelAfter, write_geotiff
from osgeo import gdal

from dms2f_had.dms2f_plugin.engine.detectors.local_background import (
    LocalBackgroundScorer,
    background_for,
    line_background,
    local_median,
    square_background,
    with_local_background,
)
from dms2f_had.dms2f_plugin.engine.detectors.median_filters import footprint_median, lines
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array, score_raster
from dms2f_had.dms2f_plugin.engine.errors import CancelledError
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


@pytest.mark.parametrize("window", [-1, 1, 2, 4, 16, 103])
def test_bad_windows_are_refused_naming_the_value_and_the_fix(window: int) -> None:
    with pytest.raises(ValueError, match=f"0 \\(off\\) or an odd number from 3 to 101, got {window}"):
        background_for(window)


def test_a_window_larger_than_the_raster_is_refused() -> None:
    with pytest.raises(ValueError, match="window 61 is larger than the raster's smaller side \\(60"):
        background_for(61, 60, 60)
    assert background_for(None).name == line_background().name
    assert background_for(0) is None


def test_window_zero_leaves_the_scorer_alone() -> None:
    inner = _FirstBand()
    assert with_local_background(inner, 0, 10, 10) is inner
    wrapped = with_local_background(inner, 15, 20, 20)
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
        scorer = LocalBackgroundScorer(_FirstBand(), square_background(15), source.height,
                                       source.width)
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
        corrected = score_array(source, LocalBackgroundScorer(_FirstBand(), square_background(15),
                                                              source.height, source.width))
    target = np.zeros(raw.shape, dtype=bool)
    target[30:32, 40:42] = True
    strip = np.zeros(raw.shape, dtype=bool)
    strip[:, :6] = True
    assert (raw[strip] > raw[target].min()).sum() > 10  # before: strip pixels outrank the target
    assert corrected[target].min() > corrected[strip].max()  # after: none does
    assert corrected[target].mean() > 4.0  # the target keeps its contrast



def _naive_line_background(scores: np.ndarray, length: int) -> np.ndarray:
    """Pixel by pixel: the largest nanmedian along the 4 mirrored lines through the pixel."""
    r = length // 2
    padded = np.pad(scores.astype(np.float64), r, mode="symmetric")
    steps = [(0, 1), (1, 0), (1, 1), (1, -1)]
    out = np.empty(scores.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                medians = [np.nanmedian([padded[i + r + k * di, j + r + k * dj]
                                         for k in range(-r, r + 1)]) for di, dj in steps]
                out[i, j] = max(medians)
    out[np.isnan(scores)] = np.nan
    return out


@pytest.mark.parametrize("length", [5, 11])
def test_line_background_matches_the_definition_with_and_without_nodata(length: int) -> None:
    scores = np.random.default_rng(length).normal(size=(19, 23))
    background = line_background(length)
    np.testing.assert_allclose(background(scores), _naive_line_background(scores, length))
    scores[4:7, 8:12] = np.nan
    scores[:, -1] = np.nan
    np.testing.assert_allclose(background(scores), _naive_line_background(scores, length))


@pytest.mark.parametrize("shape", [(5, 7), (1, 9), (3, 40)])
def test_arrays_shorter_than_the_lines_radius_are_mirrored_by_the_definition(shape) -> None:
    """scipy 1.10's median filter is not repeatable when its mirror is longer than the line (a
    5-row array, a 61-pixel column): such arrays are mirrored with numpy first, every call."""
    scores = np.random.default_rng(66).normal(size=shape)
    scores[0, -1] = np.nan
    expected = _naive_line_background(scores, 61)
    for _ in range(20):
        np.testing.assert_allclose(line_background(61)(scores), expected)


def test_line_footprints_are_the_four_directions() -> None:
    horizontal, vertical, diagonal, anti = lines(5)
    assert horizontal[2].all() and horizontal.sum() == 5
    assert vertical[:, 2].all() and vertical.sum() == 5
    assert diagonal.trace() == 5 and anti[::-1].trace() == 5
    values = np.arange(25.0).reshape(5, 5)
    assert footprint_median(values, horizontal)[2, 2] == 12.0


@pytest.mark.parametrize("nodata", [False, True])
def test_line_correction_is_tile_invariant(tmp_path: Path, nodata: bool) -> None:
    path, _ = _strip_scene(tmp_path, nodata)
    with open_raster(path) as source:
        scorer = LocalBackgroundScorer(_FirstBand(), line_background(21), source.height,
                                       source.width)
        whole = score_array(source, scorer, tile_size=512)
        for tile_size in (16, 40):
            np.testing.assert_allclose(score_array(source, scorer, tile_size=tile_size), whole,
                                       rtol=1e-6, atol=1e-6)


def test_lines_remove_the_strip_and_keep_a_large_target_that_a_square_removes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    score = rng.normal(0.0, 1.0, (90, 90)).astype(np.float32)  # (h, w)
    score[:, :6] += 6.0  # a strip along the left edge
    score[40:57, 40:58] += 6.0  # a target of 17 x 18 = 306 pixels
    path = write_geotiff(tmp_path / "big.tif", np.stack([score, score]))
    target = np.zeros(score.shape, dtype=bool)
    target[40:57, 40:58] = True
    strip = np.zeros(score.shape, dtype=bool)
    strip[:, :6] = True
    with open_raster(path) as source:
        by_lines = score_array(source, LocalBackgroundScorer(_FirstBand(), line_background(61),
                                                             source.height, source.width))
        by_square = score_array(source, LocalBackgroundScorer(_FirstBand(), square_background(15),
                                                              source.height, source.width))
    assert np.median(by_lines[target]) > 4.0  # kept
    assert np.median(by_lines[strip]) < 1.0  # removed
    # what a 15 x 15 square does to it: most of its contrast is gone
    assert np.median(by_square[target]) < 0.5 * np.median(by_lines[target])


def test_the_scorer_says_how_much_it_lowered(tmp_path: Path) -> None:
    path, _ = _strip_scene(tmp_path)
    with open_raster(path) as source:
        scorer = LocalBackgroundScorer(_FirstBand(), line_background(21), source.height,
                                       source.width)
        score_array(source, scorer, tile_size=24)
    line = scorer.summary()
    share = float(line.split("lowered ")[1].split("%")[0]) / 100
    assert "line medians of 21 pixels" in line
    assert 0.05 < share < 0.15  # the strip: 6 of 75 columns


class _CountingFirstBand(_FirstBand):
    """:class:`_FirstBand` that counts the pixels it scores."""

    def __init__(self) -> None:
        self.scored = 0

    def __call__(self, cube, valid, read_window: Window, core: Window) -> np.ndarray:
        self.scored += core.width * core.height
        return super().__call__(cube, valid, read_window, core)


@pytest.mark.parametrize("nodata", [False, True])
def test_a_written_raster_scores_each_pixel_once_and_equals_the_wrapped_scores(
        tmp_path: Path, nodata: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path, _ = _strip_scene(tmp_path, nodata)
    out = tmp_path / "out" / "corrected.tif"
    out.parent.mkdir()
    with open_raster(path) as source:
        inner = _CountingFirstBand()
        scorer = LocalBackgroundScorer(inner, line_background(21), source.height, source.width)
        expected = score_array(source, scorer, tile_size=512)
        inner.scored = 0
        summary = score_raster(source, out, scorer, tile_size=16)
        assert inner.scored == source.height * source.width  # no margin scored twice
        assert summary.path == out and summary.tiles == 20
    written = gdal.Open(str(out)).ReadAsArray()
    np.testing.assert_allclose(written, expected, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert [p.name for p in out.parent.iterdir()] == ["corrected.tif"]  # the inner pass is gone
    assert "lowered" in scorer.summary()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any(f"Wrote '{out}'" in line for line in said)
    assert not [line for line in said if ".dms2f-scores" in line]  # the log names user files only


def test_a_cancel_in_either_pass_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path, _ = _strip_scene(tmp_path)
    out = tmp_path / "out" / "corrected.tif"
    out.parent.mkdir()
    out.write_bytes(b"the analyst's previous map")
    with open_raster(path) as source:
        for checks in (3, 21):  # 20 tiles: in the first pass, then in the second
            scorer = LocalBackgroundScorer(_FirstBand(), line_background(21), source.height,
                                           source.width)
            with pytest.raises(CancelledError):
                score_raster(source, out, scorer, tile_size=16, progress=CancelAfter(checks))
            assert [p.name for p in out.parent.iterdir()] == ["corrected.tif"]
            assert out.read_bytes() == b"the analyst's previous map"
