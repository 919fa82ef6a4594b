"""The running line medians (numba) equal the reference line medians (scipy + nanmedian) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from dms2f_had.dms2f_plugin.engine.detectors import line_medians as lm
from dms2f_had.dms2f_plugin.engine.detectors.local_background import line_background
from dms2f_had.dms2f_plugin.engine.detectors.median_filters import footprint_median, lines


def _scores(shape: tuple[int, int], seed: int, nan_share: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape)
    scores[rng.random(shape) < nan_share] = np.nan
    return scores


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 3), (5, 7), (12, 11), (40, 33),
                                   (70, 90)])
@pytest.mark.parametrize("length", [3, 21, 61])
def test_the_fast_background_equals_the_reference_with_nodata_and_small_arrays(shape, length):
    background = line_background(length)
    scores = _scores(shape, seed=length + shape[0])
    fast = lm.line_medians(scores, length)
    assert (fast is None) == (min(shape) <= length // 2)  # tiny arrays: the reference
    np.testing.assert_array_equal(background(scores), background.reference(scores))


@pytest.mark.parametrize("direction", range(4))
def test_each_direction_equals_its_footprint_median(direction):
    """Rows, columns, diagonal and anti-diagonal separately, on an asymmetric array."""
    scores = _scores((37, 52), seed=direction, nan_share=0.2)
    scores[:, :4] = np.nan  # a nodata border
    length = 21
    radius = length // 2
    padded = np.pad(scores, radius, mode="symmetric")
    out = np.empty(scores.shape)
    lm.kernel()(padded, radius, *lm.DIRECTIONS[direction], out)
    np.testing.assert_array_equal(out, footprint_median(scores, lines(length)[direction]))


def test_ties_and_even_counts_take_the_middle_values():
    """Integer-valued scores (many ties) and windows with an even number of valid values."""
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, (30, 30)).astype(float)
    scores[::3, ::2] = np.nan
    np.testing.assert_array_equal(lm.line_medians(scores, 7), line_background(7).reference(scores))


def test_a_uniform_field_is_its_own_background_and_an_isolated_target_survives():
    scores = np.zeros((80, 80))
    scores[40, 40] = 50.0
    background = lm.line_medians(scores, 61)
    assert background[40, 40] == 0.0 and np.all(background == 0.0)


def test_without_numba_the_background_runs_the_reference(monkeypatch):
    scores = _scores((25, 31), seed=7)
    monkeypatch.setattr(lm, "_KERNEL", [None])
    assert lm.line_medians(scores, 21) is None
    np.testing.assert_array_equal(line_background(21)(scores), line_background(21).reference(scores))


def test_a_kernel_compiles_where_numba_cannot_cache_it():
    """No writable cache folder (code without a file stands in for a user without a home)."""
    namespace: dict = {}
    exec("def double(x):\n    return 2 * x\n", namespace)  # noqa: S102 - fixed source  # nosec B102
    assert lm._jit(namespace["double"])(21) == 42
