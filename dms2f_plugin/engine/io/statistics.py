"""Streaming per-band statistics (and optionally the band covariance) over valid pixels.

One pass over the raster in windows, float64 accumulators shifted by the first window's mean
(so that sums of squares do not cancel catastrophically on large, offset radiances). Memory is
bounded by the window size, never by the scene size.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..progress import NullProgress, Progress, check_cancel
from .tiles import iter_windows

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
                       progress: Progress | None = None,
                       tile_size: int = 512) -> SceneStatistics:
    """One streaming pass over ``source`` collecting :class:`SceneStatistics`.

    Args:
        source: the raster and band selection.
        covariance: also accumulate the full band covariance.
        progress: progress per window; cancel honoured before each window.
        tile_size: window edge in pixels.

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
        cube, valid = source.read_window(window)  # (bands, h, w), (h, w)
        acc.add(cube[:, valid])  # (bands, n_valid)
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
