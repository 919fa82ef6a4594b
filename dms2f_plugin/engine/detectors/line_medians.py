"""Running medians along straight lines, NaN-aware: the fast path of the line background.

The reference is :func:`.median_filters.footprint_median` with the footprints of
:func:`.median_filters.lines` (scipy's rank filter over the footprint's bounding square, then
numpy's ``nanmedian`` where a footprint touches an invalid pixel). Here each line of the mirrored
array (every row, every column, every diagonal) is swept once while the valid values under the
window are kept sorted: a step removes the value that leaves the window and inserts the one that
enters it (a binary search and a shift of at most ``length`` values). The median is the middle
value, or the mean of the two middle ones for an even count of valid values (numpy's
``nanmedian``); it is NaN where the pixel itself is NaN. The results equal the reference's bit
for bit (``tests/unit/test_line_medians.py``).

The kernel is compiled by numba (a required dependency of the plugin; no compiler is needed on
the user's machine) at its first use, and cached on disk where numba finds a writable folder.
Without numba, :func:`line_medians` returns None and the caller uses the reference.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

#: (row step, column step) of each line direction, in the order of ``median_filters.lines``:
#: rows, columns, diagonal, anti-diagonal.
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _insert(window: np.ndarray, count: int, value: float) -> int:
    """Insert ``value`` into the sorted ``window[:count]``; return the new count."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if window[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    for k in range(count, lo, -1):
        window[k] = window[k - 1]
    window[lo] = value
    return count + 1


def _remove(window: np.ndarray, count: int, value: float) -> int:
    """Remove one ``value`` (present) from the sorted ``window[:count]``; return the new count."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if window[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    for k in range(lo, count - 1):
        window[k] = window[k + 1]
    return count - 1


def _sweep(padded: np.ndarray, radius: int, dr: int, dc: int, i: int, j: int,
           window: np.ndarray, out: np.ndarray) -> None:
    """Medians of the line through output pixel ``(i, j)`` in direction ``(dr, dc)``, to its end."""
    height, width = out.shape
    count = 0
    for k in range(-radius, radius + 1):
        value = padded[i + radius + k * dr, j + radius + k * dc]
        if value == value:  # not NaN
            count = _insert(window, count, value)
    while True:
        centre = padded[i + radius, j + radius]
        if centre != centre or count == 0:
            out[i, j] = np.nan
        elif count % 2 == 1:
            out[i, j] = window[count // 2]
        else:
            out[i, j] = (window[count // 2 - 1] + window[count // 2]) / 2.0
        ni, nj = i + dr, j + dc
        if ni >= height or nj < 0 or nj >= width:
            return
        leaving = padded[i + radius - radius * dr, j + radius - radius * dc]
        if leaving == leaving:
            count = _remove(window, count, leaving)
        entering = padded[ni + radius + radius * dr, nj + radius + radius * dc]
        if entering == entering:
            count = _insert(window, count, entering)
        i, j = ni, nj


def _line_medians(padded: np.ndarray, radius: int, dr: int, dc: int, out: np.ndarray) -> None:
    """Fill ``out`` ``(h, w)`` with the medians along direction ``(dr, dc)`` of ``padded``.

    ``padded`` is the array mirrored by ``radius`` on every side, ``(h + 2r, w + 2r)``.
    """
    height, width = out.shape
    window = np.empty(2 * radius + 1, dtype=np.float64)
    if dr == 0:  # rows: every line starts in the first column
        for i in range(height):
            _sweep(padded, radius, dr, dc, i, 0, window, out)
        return
    for j in range(width):  # every other direction: lines start on the first row...
        _sweep(padded, radius, dr, dc, 0, j, window, out)
    if dc != 0:  # ...and diagonals also on the first (or last) column
        first = 0 if dc == 1 else width - 1
        for i in range(1, height):
            _sweep(padded, radius, dr, dc, i, first, window, out)


_KERNEL: list[Callable[..., None] | None] = []  # the compiled sweep, or None: no numba
_KERNEL_LOCK = threading.Lock()


def _jit(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` compiled by numba (no fast-math: the NaN tests must stay exact)."""
    from numba import njit

    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:  # numba finds no writable cache folder (a user without a home)
        return njit(nogil=True)(function)


def kernel() -> Callable[..., None] | None:
    """The compiled ``_line_medians`` (compiled at the first call), or None without numba."""
    global _insert, _remove, _sweep, _line_medians
    with _KERNEL_LOCK:
        if not _KERNEL:
            try:
                import numba  # noqa: F401 - is it there?
            except ImportError:
                _KERNEL.append(None)
            else:  # the helpers first: the sweep calls them through these module names
                _insert, _remove, _sweep = _jit(_insert), _jit(_remove), _jit(_sweep)
                _line_medians = _jit(_line_medians)
                _KERNEL.append(_line_medians)
        return _KERNEL[0]


def line_medians(scores: np.ndarray, length: int) -> np.ndarray | None:
    """The largest of the medians along the four lines of ``length`` pixels through each pixel.

    Args:
        scores: ``(h, w)`` scores, NaN where invalid.
        length: odd line length.

    Returns:
        float64 ``(h, w)`` (mirrored at the array's edges, NaN where ``scores`` is NaN), equal to
        the reference's; None when numba is not installed, or when the array's smaller side
        is not longer than half the line (its mirror images repeat; the reference mirrors
        such arrays with numpy first, see :mod:`.median_filters`).
    """
    radius = length // 2
    sweep = kernel()
    if sweep is None or min(scores.shape) <= radius:
        return None
    padded = np.pad(scores.astype(np.float64), radius, mode="symmetric")  # (h + 2r, w + 2r)
    best = np.full(scores.shape, -np.inf)  # (h, w)
    out = np.empty(scores.shape, dtype=np.float64)  # (h, w)
    for dr, dc in DIRECTIONS:
        sweep(padded, radius, dr, dc, out)
        np.fmax(best, out, out=best)
    best[np.isnan(scores)] = np.nan
    return best
