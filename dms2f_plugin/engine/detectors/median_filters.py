"""NaN-aware median filters over arbitrary footprints: squares and straight lines.

Scores are NaN at invalid pixels; a median must ignore them. The fast path filters every pixel
with scipy (NaN replaced by 0), then recomputes exactly, with ``nanmedian``, the valid pixels
whose footprint touches an invalid one (on rasters with nodata borders a thin band). Arrays are
mirrored at their edges (scipy's ``reflect``, numpy's ``symmetric``). An array no longer than
the footprint's radius on a side is mirrored by numpy first: scipy 1.10's median filter can
return a different value from one call to the next when its own mirror is longer than the line.
"""

from __future__ import annotations

import numpy as np

_NAN_PIXELS = 16384  # pixels per chunk of the NaN-aware path (bounds its memory)


def square(window: int) -> np.ndarray:
    """The ``window x window`` footprint (odd window)."""
    return np.ones((window, window), dtype=bool)


def lines(length: int) -> tuple[np.ndarray, ...]:
    """Footprints of a centred straight line of ``length`` pixels (odd): rows, columns, diagonals."""
    centre = length // 2
    horizontal = np.zeros((length, length), dtype=bool)
    horizontal[centre, :] = True
    diagonal = np.eye(length, dtype=bool)
    return horizontal, horizontal.T.copy(), diagonal, diagonal[::-1].copy()


def footprint_median(scores: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Median of the valid scores under ``footprint`` centred on every pixel.

    Args:
        scores: ``(h, w)`` scores, NaN where invalid.
        footprint: bool ``(k, k)``, k odd.

    Returns:
        float64 ``(h, w)``: the medians (mirrored at the array's edges), NaN where ``scores``
        is NaN.
    """
    from scipy import ndimage

    radius = footprint.shape[0] // 2
    if min(scores.shape) <= radius:  # mirror it here: scipy's long mirrors are not repeatable
        padded = np.pad(scores.astype(np.float64), radius, mode="symmetric")  # (h + 2r, w + 2r)
        h, w = scores.shape
        return footprint_median(padded, footprint)[radius:radius + h, radius:radius + w]
    values = scores.astype(np.float64)  # (h, w)
    invalid = np.isnan(values)
    out = ndimage.median_filter(np.where(invalid, 0.0, values), footprint=footprint, mode="reflect")
    if not invalid.any():
        return out
    touched = ndimage.maximum_filter(invalid, footprint=footprint, mode="reflect") & ~invalid  # (h, w)
    padded = np.pad(values, radius, mode="symmetric")  # (h + 2r, w + 2r), like mode="reflect"
    views = np.lib.stride_tricks.sliding_window_view(padded, footprint.shape)  # (h, w, k, k)
    rows, cols = np.nonzero(touched)  # (n,), (n,)
    for start in range(0, len(rows), _NAN_PIXELS):
        r, c = rows[start:start + _NAN_PIXELS], cols[start:start + _NAN_PIXELS]
        neighbourhoods = views[r, c][:, footprint]  # (m, footprint size), the pixel itself valid
        out[r, c] = np.nanmedian(neighbourhoods, axis=1)
    out[invalid] = np.nan
    return out
