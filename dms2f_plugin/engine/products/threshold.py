"""Score raster -> binary anomaly mask (+ minimum object size).

Methods (anomaly where ``score > threshold``; nodata stays nodata):

- ``percentile`` (default ``value = 99.5``): the threshold is the ``value``-th percentile of the
  valid scores (numpy's "lower" definition), so the top ``100 - value`` % of pixels are flagged
  ("top-N %" with N = 100 - value);
- ``sigma`` (default ``value = 3``): ``mean + value x std`` of the valid scores;
- ``otsu``: Otsu's threshold (scikit-image) on a 1024-bin histogram of the valid scores
  (``value`` unused);
- ``value``: the given score (required).

Memory: the threshold comes from streaming passes over the score raster (min/max/mean/std in one
pass; the exact percentile by histogram refinement in two or three more), bounded by the window
size. The mask itself is then built in memory at 1 byte per pixel (100 MB for 10k x 10k), plus a
4-byte label image when a minimum object size or polygons are asked for: connected components
cannot be labelled tile by tile without stitching, and masks are much smaller than cubes.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..io.tiles import iter_windows
from ..progress import NullProgress, Progress, SubProgress, check_cancel

if TYPE_CHECKING:
    from ..io.raster import RasterSource

LOGGER = logging.getLogger(__name__)
METHODS = ("percentile", "sigma", "otsu", "value")
DEFAULT_VALUES = {"percentile": 99.5, "sigma": 3.0}
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_BINS = 4096
_COLLECT_LIMIT = 1 << 20
_TILE = 1024


@dataclasses.dataclass(frozen=True)
class ScoreSummaryStats:
    """Streaming statistics of the valid scores."""

    count: int
    minimum: float
    maximum: float
    mean: float
    std: float


def _windows(source: RasterSource, progress: Progress):
    """Yield ``(window, valid scores 1-D float64)`` over the raster, honouring cancel."""
    windows = list(iter_windows(source.width, source.height, _TILE))
    for i, window in enumerate(windows):
        check_cancel(progress)
        cube, valid = source.read_window(window)  # (1, h, w), (h, w)
        yield window, cube[0][valid].astype(np.float64)
        progress.set_progress(100.0 * (i + 1) / len(windows))


def score_statistics(source: RasterSource, progress: Progress | None = None) -> ScoreSummaryStats:
    """Count, range, mean and std of the valid scores in one pass.

    Raises:
        InputError: the score raster has no valid pixel.
    """
    progress = progress or NullProgress()
    n, lo, hi, total, total_sq = 0, np.inf, -np.inf, 0.0, 0.0
    shift = None
    for _, values in _windows(source, progress):
        if values.size == 0:
            continue
        shift = values[0] if shift is None else shift
        values = values - shift
        n += values.size
        lo, hi = min(lo, values.min() + shift), max(hi, values.max() + shift)
        total += values.sum()
        total_sq += np.dot(values, values)
    if n == 0:
        raise InputError(f"The score raster '{source.path}' has no valid pixel; nothing to "
                         "threshold. Check that it is the output of 'dms2f-had detect'.")
    assert shift is not None  # nosec B101 - n > 0 means a first value was seen
    mean = total / n
    std = float(np.sqrt(max(total_sq / n - mean**2, 0.0)))
    return ScoreSummaryStats(n, float(lo), float(hi), float(mean + shift), std)


def _bin_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Bin of each value in ``_BINS`` equal bins over ``[lo, hi]`` (the same rule every pass)."""
    scaled = (values - lo) / (hi - lo) * _BINS
    return np.clip(np.floor(scaled), 0, _BINS - 1).astype(np.int64)


def streaming_percentile(source: RasterSource, percentile: float, stats: ScoreSummaryStats,
                         progress: Progress | None = None) -> float:
    """Exact percentile (numpy "lower") of the valid scores with bounded memory.

    Histogram passes narrow the value range down to one bin holding the wanted rank; once that
    bin holds few enough values they are collected and the exact order statistic is taken.

    Args:
        source: the score raster.
        percentile: in [0, 100].
        stats: from :func:`score_statistics`.
        progress: progress sink.

    Returns:
        The value at 0-based rank ``floor(percentile / 100 x (count - 1))``.
    """
    progress = progress or NullProgress()
    rank = int(np.floor(percentile / 100.0 * (stats.count - 1)))
    lo, hi, below = stats.minimum, stats.maximum, 0
    for attempt in range(8):
        if hi <= lo:
            return lo
        sub = SubProgress(progress, attempt * 12, attempt * 12 + 12)
        counts = np.zeros(_BINS, dtype=np.int64)
        for _, values in _windows(source, sub):
            inside = values[(values >= lo) & (values <= hi)]
            counts += np.bincount(_bin_index(inside, lo, hi), minlength=_BINS)
        cumulative = np.cumsum(counts)
        target = int(np.searchsorted(cumulative, rank - below, side="right"))
        before = below + (int(cumulative[target - 1]) if target > 0 else 0)
        if counts[target] <= _COLLECT_LIMIT:
            picked = []
            for _, values in _windows(source, SubProgress(progress, 96, 100)):
                inside = values[(values >= lo) & (values <= hi)]
                picked.append(inside[_bin_index(inside, lo, hi) == target])
            chosen = np.concatenate(picked)
            return float(np.partition(chosen, rank - before)[rank - before])
        # Binning is monotone in the value, so the bin is exactly the values in [its min, max].
        lows, highs = [], []
        for _, values in _windows(source, NullProgress()):
            inside = values[(values >= lo) & (values <= hi)]
            inside = inside[_bin_index(inside, lo, hi) == target]
            if inside.size:
                lows.append(inside.min())
                highs.append(inside.max())
        lo, hi, below = float(min(lows)), float(max(highs)), before
    return lo


def otsu_threshold(source: RasterSource, stats: ScoreSummaryStats,
                   progress: Progress | None = None) -> float:
    """Otsu's threshold (``skimage.filters.threshold_otsu``) on a streaming 1024-bin histogram."""
    from skimage.filters import threshold_otsu

    progress = progress or NullProgress()
    if stats.maximum <= stats.minimum:
        return stats.minimum
    edges = np.linspace(stats.minimum, stats.maximum, 1025)
    counts = np.zeros(1024, dtype=np.int64)
    for _, values in _windows(source, progress):
        counts += np.histogram(values, bins=edges)[0]
    centres = (edges[:-1] + edges[1:]) / 2.0
    return float(threshold_otsu(hist=(counts, centres)))


def compute_threshold(source: RasterSource, method: str, value: float | None,
                      progress: Progress | None = None) -> float:
    """The score threshold for ``method`` (see the module docstring for defaults).

    Raises:
        InputError: unknown method, missing/out-of-range value, empty score raster.
    """
    if method not in METHODS:
        raise InputError(f"Unknown threshold method '{method}'; use one of {', '.join(METHODS)}.")
    if value is None:
        if method == "value":
            raise InputError("Threshold method 'value' needs a score value; pass --value X.")
        value = DEFAULT_VALUES.get(method)
    value = None if value is None else float(value)  # None only for Otsu
    if method == "percentile" and not 0.0 <= float(value or 0.0) <= 100.0:
        raise InputError(f"Percentile {value} is outside 0..100; e.g. --value 99.5 flags the "
                         "top 0.5 % of pixels.")
    if method == "value":
        return float(value or 0.0)
    progress = progress or NullProgress()
    stats = score_statistics(source, SubProgress(progress, 0, 30))
    rest = SubProgress(progress, 30, 100)
    if method == "sigma":
        threshold = stats.mean + float(value or 0.0) * stats.std
    elif method == "percentile":
        threshold = streaming_percentile(source, float(value or 0.0), stats, rest)
    else:
        threshold = otsu_threshold(source, stats, rest)
    LOGGER.info("Threshold (%s%s): %.6g", method, "" if value is None else f" {value}", threshold)
    return threshold


def build_mask(source: RasterSource, threshold: float, *, min_size: int = 1,
               progress: Progress | None = None) -> np.ndarray:
    """Whole-raster mask: 1 where ``score > threshold``, 0 elsewhere, 255 at nodata.

    Args:
        source: the score raster.
        threshold: from :func:`compute_threshold`.
        min_size: objects (8-connected) with fewer pixels are set back to 0.
        progress: progress sink.

    Returns:
        uint8 ``(height, width)``.

    Raises:
        InputError: ``min_size`` below 1.
    """
    if min_size < 1:
        raise InputError(f"Minimum object size must be >= 1 pixel, got {min_size}.")
    progress = progress or NullProgress()
    mask = np.empty((source.height, source.width), dtype=np.uint8)  # (H, W)
    windows = list(iter_windows(source.width, source.height, _TILE))
    for i, window in enumerate(windows):
        check_cancel(progress)
        cube, valid = source.read_window(window)  # (1, h, w), (h, w)
        part = np.where(cube[0] > threshold, 1, 0).astype(np.uint8)  # (h, w)
        part[~valid] = 255
        mask[window.slices_in(source.full_window)] = part
        progress.set_progress(100.0 * (i + 1) / len(windows))
    if min_size > 1:
        from scipy import ndimage

        labels, count = ndimage.label(mask == 1, structure=EIGHT_CONNECTED)  # (H, W) int32
        sizes = np.bincount(labels.ravel(), minlength=count + 1)  # (count + 1,)
        small = sizes < min_size
        small[0] = False
        mask[small[labels]] = 0
        LOGGER.info("Removed %d object(s) smaller than %d pixels", int(small.sum()), min_size)
    return mask
