"""Streaming per-band statistics (and optionally the band covariance) over valid pixels.

One pass over the raster in windows, float64 accumulators shifted by the first window's mean
(so that sums of squares do not cancel catastrophically on large, offset radiances). Memory is
bounded by the window size, never by the scene size.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..progress import NullProgress, Progress, check_cancel
from .tiles import iter_windows
from .window import Window

if TYPE_CHECKING:
    from .raster import RasterSource

LOGGER = logging.getLogger(__name__)
_CHUNK_PIXELS = 32768  # pixels per float64 block inside a window: bounds the temporary copies


@dataclasses.dataclass(frozen=True)
class SceneStatistics:
    """Statistics of the selected bands over the valid pixels of a scene.

    Attributes:
        valid_pixels: pixels where every selected band is valid.
        total_pixels: width x height.
        minimum: per-band minimum, float64 ``(bands,)``.
        maximum: per-band maximum ``(bands,)``.
        mean: per-band mean ``(bands,)``.
        std: per-band population standard deviation ``(bands,)``.
        covariance: population covariance ``(bands, bands)``, or None when not asked for.
        band_indices: 1-based file band numbers the arrays refer to.
    """

    valid_pixels: int
    total_pixels: int
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    covariance: np.ndarray | None
    band_indices: tuple[int, ...]

    @property
    def global_min(self) -> float:
        """Smallest value over all selected bands and valid pixels (DMS2F's normalisation)."""
        return float(self.minimum.min())

    @property
    def global_max(self) -> float:
        """Largest value over all selected bands and valid pixels."""
        return float(self.maximum.max())

    @property
    def constant_bands(self) -> tuple[int, ...]:
        """1-based file numbers of the bands whose value never changes over valid pixels."""
        return tuple(b for b, lo, hi in zip(self.band_indices, self.minimum, self.maximum)
                     if lo == hi)


class _Accumulator:
    """Shifted float64 sums over chunks of pixels; see the module docstring."""

    def __init__(self, bands: int, covariance: bool) -> None:
        self.count = 0
        self.shift: np.ndarray | None = None
        self.sum = np.zeros(bands)  # (bands,)
        self.sumsq = np.zeros(bands)  # (bands,)
        self.cross = np.zeros((bands, bands)) if covariance else None  # (bands, bands)
        self.minimum = np.full(bands, np.inf)  # (bands,)
        self.maximum = np.full(bands, -np.inf)  # (bands,)

    def add(self, pixels: np.ndarray) -> None:
        """Add valid spectra ``pixels`` float32 ``(bands, n)``."""
        if pixels.shape[1] == 0:
            return
        if self.shift is None:
            self.shift = pixels.mean(axis=1, dtype=np.float64)  # (bands,)
        self.minimum = np.minimum(self.minimum, pixels.min(axis=1))
        self.maximum = np.maximum(self.maximum, pixels.max(axis=1))
        for start in range(0, pixels.shape[1], _CHUNK_PIXELS):
            chunk = pixels[:, start:start + _CHUNK_PIXELS].astype(np.float64)  # (bands, m)
            chunk -= self.shift[:, None]
            self.sum += chunk.sum(axis=1)
            self.sumsq += np.einsum("bm,bm->b", chunk, chunk)
            if self.cross is not None:
                self.cross += chunk @ chunk.T  # (bands, bands)
        self.count += pixels.shape[1]

    def result(self, total: int, band_indices: tuple[int, ...]) -> SceneStatistics:
        """Finish: means, standard deviations and covariance from the shifted sums."""
        assert self.shift is not None
        delta = self.sum / self.count  # (bands,) mean - shift
        var = np.maximum(self.sumsq / self.count - delta**2, 0.0)  # (bands,)
        cov = None
        if self.cross is not None:
            cov = self.cross / self.count - np.outer(delta, delta)  # (bands, bands)
            cov = (cov + cov.T) / 2.0
        return SceneStatistics(
            valid_pixels=self.count, total_pixels=total, minimum=self.minimum,
            maximum=self.maximum, mean=self.shift + delta, std=np.sqrt(var), covariance=cov,
            band_indices=band_indices)


def compute_statistics(source: RasterSource, *, covariance: bool = False,
                       progress: Progress | None = None, tile_size: int = 512,
                       visit: Callable[[np.ndarray, np.ndarray, Window], None] | None = None,
                       margin: int = 0) -> SceneStatistics:
    """One streaming pass over ``source`` collecting :class:`SceneStatistics`.

    Args:
        source: the raster and band selection.
        covariance: also accumulate the full band covariance.
        progress: progress per window; cancel honoured before each window.
        tile_size: window edge in pixels.
        visit: called with every window's ``(cube, valid, window)`` as it is read, so that a
            caller needing the pixels too (the fit's block sampling) reads the raster once.
        margin: pixels each window is read beyond its right and bottom edges (clipped to the
            raster) for ``visit``; the statistics use the window itself only, so they do not
            depend on it.

    Returns:
        The statistics of the valid pixels.

    Raises:
        InputError: no pixel is valid.
        CancelledError: the user cancelled.
    """
    progress = progress or NullProgress()
    acc = _Accumulator(source.band_count, covariance)
    windows = list(iter_windows(source.width, source.height, tile_size))
    for i, window in enumerate(windows):
        check_cancel(progress)
        read = Window(window.col_off, window.row_off,
                      min(source.width, window.col_end + margin) - window.col_off,
                      min(source.height, window.row_end + margin) - window.row_off)
        cube, valid = source.read_window(read)  # (bands, h, w), (h, w)
        h, w = window.height, window.width
        acc.add(cube[:, :h, :w][:, valid[:h, :w]])  # (bands, n_valid) of the window itself
        if visit is not None:
            visit(cube, valid, read)
        progress.set_progress(100.0 * (i + 1) / len(windows))
    total = source.width * source.height
    if acc.count == 0:
        nodata = sorted({source.info.nodata[b - 1] for b in source.band_indices}, key=str)
        raise InputError(
            f"Every pixel of '{source.path}' is invalid ({total} pixels; nodata value(s) "
            f"{nodata}, ignore value {source.info.ignore_value}, or NaN/Inf in some selected "
            "band). Check the raster's nodata setting and the band selection (--bands).")
    stats = acc.result(total, source.band_indices)
    LOGGER.info("Statistics of '%s': %d of %d pixels valid, value range %.6g to %.6g",
                source.path, stats.valid_pixels, total, stats.global_min, stats.global_max)
    return stats


def refreshed_statistics(source: RasterSource, cached: SceneStatistics | None, *,
                         covariance: bool, progress: Progress | None, tile_size: int,
                         visit: Callable[[np.ndarray, np.ndarray, Window], None] | None,
                         margin: int) -> SceneStatistics:
    """A source's statistics: ``cached`` when it answers the request, else a new pass.

    A pass runs when nothing is cached, when the covariance is asked for and not cached, or
    when ``visit`` needs the pixels (a covariance already cached is then kept).
    """
    if cached is not None and visit is None and (cached.covariance is not None or not covariance):
        return cached
    covariance = covariance or (cached is not None and cached.covariance is not None)
    return compute_statistics(source, covariance=covariance, progress=progress,
                              tile_size=tile_size, visit=visit, margin=margin)


def check_usable(stats: SceneStatistics, path: str) -> None:
    """Warn about constant bands; refuse a scene where every selected band is constant.

    Args:
        stats: the scene statistics.
        path: the raster (for messages).

    Raises:
        InputError: all selected bands are constant: there is nothing to detect.
    """
    constant = stats.constant_bands
    if len(constant) == len(stats.band_indices):
        raise InputError(
            f"Every selected band of '{path}' is constant over the valid pixels (value "
            f"{stats.global_min:g}); there is nothing to detect. Check the band selection "
            "(--bands) and the nodata value.")
    if constant:
        LOGGER.warning("%d band(s) of '%s' are constant and carry no information: %s. They are "
                       "kept (harmless), or leave them out with --bands.", len(constant), path,
                       ",".join(map(str, constant)))
    if stats.valid_pixels < stats.total_pixels:
        LOGGER.info("%d pixel(s) of '%s' are nodata/NaN and will be nodata in the output.",
                    stats.total_pixels - stats.valid_pixels, path)
