"""Bounds of every number a user types, checked before any work starts (CLI and QGIS alike).

Each check returns the value as the engine uses it, or raises :class:`~.errors.InputError` with
one sentence that names the setting, the value and the allowed range, worded to read well both
after ``dms2f-had: error:`` and in a QGIS dialog. The QGIS layer gives its number parameters the
same limits (from the constants here) and calls the same checks from ``checkParameterValues``.

Why each bound exists: a local window wider than the raster buys nothing and its median costs
memory that grows with the window's area; more threads than cores only slow a run down; a
seed must fit the generators (``[0, 2**32)``); a tile edge sizes the memory of one tile; NaN or
infinite thresholds would silently flag everything or nothing.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .errors import InputError

#: Seeds are whole numbers in ``[0, SEED_MAX]`` (numpy's and torch's generators take 32 bits).
SEED_MAX = 2**32 - 1
#: Most optimiser steps a fit may be asked for (the presets use 300 and 750).
STEPS_MAX = 100_000
#: I/O tile edge in pixels: memory per tile grows with its square.
TILE_SIZE_MIN, TILE_SIZE_MAX = 16, 8192
#: Largest local background window (odd); its median's memory grows with the window's area.
LOCAL_WINDOW_MAX = 101
#: Largest outer window of local RX (odd); its cost grows with the window.
LRX_WINDOW_MAX = 101
#: Largest k of the mean + k sigma threshold.
SIGMA_K_MAX = 1000.0
#: Largest minimum object size, in pixels (a 32-bit count).
MIN_SIZE_MAX = 2**31 - 1


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def whole_number(name: str, value: Any, low: int, high: int, hint: str = "") -> int:
    """``value`` as an int when it is a whole number in ``[low, high]``.

    Args:
        name: the setting, as the sentence names it ("the seed").
        value: what the user gave (int, a float with no fraction, or text of digits).
        low: smallest allowed.
        high: largest allowed.
        hint: appended to the message (e.g. "; omit it for the default").

    Raises:
        InputError: not a whole number (booleans, NaN and fractions included) or out of range.
    """
    number = None
    if not isinstance(value, bool):
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
    if number is None or not low <= number <= high:
        raise InputError(f"{name[:1].upper()}{name[1:]} must be a whole number from {low} to "
                         f"{high}, got {value!r}{hint}.")
    return number


def finite_number(name: str, value: Any, low: float = -math.inf, high: float = math.inf,
                  hint: str = "") -> float:
    """``value`` as a float when it is finite and in ``[low, high]``.

    Raises:
        InputError: not a number, NaN, infinite or out of range.
    """
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        span = ("a finite number" if low == -math.inf and high == math.inf else
                f"a finite number from {low:g} to {high:g}")
        raise InputError(f"{name[:1].upper()}{name[1:]} must be {span}, got {value!r}{hint}.")
    return number


def check_seed(seed: Any) -> int:
    """A seed in ``[0, SEED_MAX]``."""
    return whole_number("the seed", seed, 0, SEED_MAX)


def check_threads(threads: Any) -> int | None:
    """None (torch's default) or a thread count from 1 to the usable cores."""
    if threads is None:
        return None
    cores = usable_cores()
    return whole_number("the number of CPU threads", threads, 1, cores,
                        f"; this machine has {cores} core(s), and leaving it unset uses the "
                        "default")


def check_steps(steps: Any) -> int | None:
    """None (the preset's fixed number) or a step count from 1 to :data:`STEPS_MAX`."""
    if steps is None:
        return None
    return whole_number("the number of fitting steps", steps, 1, STEPS_MAX,
                        "; omit it (0 in QGIS) to use the preset's")


def check_tile_size(tile_size: Any) -> int:
    """A tile edge from :data:`TILE_SIZE_MIN` to :data:`TILE_SIZE_MAX` pixels."""
    return whole_number("the tile size", tile_size, TILE_SIZE_MIN, TILE_SIZE_MAX,
                        "; the default is 512 pixels")


def _odd_window(name: str, value: Any, low: int, high: int, *, off: bool, also: str = "") -> int:
    """An odd window edge in ``[low, high]`` (or 0 when ``off`` allows turning it off).

    ``also`` names other accepted values first in the message (``"auto (the default), "``).
    """
    try:
        window: int | None = whole_number(name, value, -(2**63), 2**63)
    except InputError:
        window = None
    if window is None or not ((off and window == 0) or (low <= window <= high and window % 2)):
        rule = f"{also}{'0 (off) or ' if off else ''}an odd number from {low} to {high}"
        raise InputError(f"{name[:1].upper()}{name[1:]} must be {rule}, got {value!r}.")
    return window


def check_local_window(window: Any, width: int | None = None, height: int | None = None,
                       default: int | None = None) -> int | None:
    """None (the automatic correction), 0 (off) or an odd square window within the raster.

    Args:
        window: the window edge in pixels, or None.
        width: raster columns, when known.
        height: raster rows, when known.
        default: the default window, which is always accepted.

    Raises:
        InputError: even, below 3, above :data:`LOCAL_WINDOW_MAX`, or wider than the raster.
    """
    if window is None:
        return None
    value = _odd_window("the local background window", window, 3, LOCAL_WINDOW_MAX, off=True,
                        also="auto (the default), ")
    if value and width is not None and height is not None and value != default:
        side = min(width, height)
        if value > side:
            largest = side if side % 2 else side - 1
            raise InputError(
                f"The local background window {value} is larger than the raster's smaller side "
                f"({side} pixels); use an odd number from 3 to {max(3, largest)}, or 0 to turn "
                "it off.")
    return value


def check_lrx_windows(inner: Any, outer: Any, width: int | None = None,
                      height: int | None = None, default_outer: int = 21) -> tuple[int, int]:
    """Odd local RX windows, inner < outer, the outer one no wider than the raster's smaller side.

    Raises:
        InputError: even or out-of-range windows, inner >= outer, or an outer window wider than
            the raster (the default outer window is always accepted).
    """
    inner_value = _odd_window("the inner (guard) window", inner, 1, LRX_WINDOW_MAX - 2, off=False)
    outer_value = _odd_window("the outer (background) window", outer, 3, LRX_WINDOW_MAX, off=False)
    if outer_value <= inner_value:
        raise InputError(f"The outer window ({outer_value} px) must be larger than the inner "
                         f"window ({inner_value} px) so that a background ring remains; e.g. "
                         "inner 5 and outer 21.")
    if width is not None and height is not None and outer_value != default_outer:
        side = min(width, height)
        if outer_value > side:
            raise InputError(f"The outer window {outer_value} is larger than the raster's smaller "
                             f"side ({side} pixels); use at most {side if side % 2 else side - 1}.")
    return inner_value, outer_value


def check_threshold_value(method: str, value: Any) -> float | None:
    """The threshold method's value: a percentile in [0, 100], k > 0, or any finite score.

    Args:
        method: ``"percentile"``, ``"sigma"``, ``"otsu"`` or ``"value"``.
        value: the user's value, or None for the method's default.

    Raises:
        InputError: a missing value for ``"value"``; NaN, infinite or out-of-range values.
    """
    if value is None:
        if method == "value":
            raise InputError("Threshold method 'value' needs a score value: the score above which "
                             "a pixel is an anomaly.")
        return None
    number = finite_number("the threshold value", value) if method != "otsu" else None
    if method == "percentile" and not 0.0 <= float(number or 0.0) <= 100.0:
        raise InputError(f"The percentile must be between 0 and 100, got {value!r}; e.g. 99.5 "
                         "flags the top 0.5 % of pixels.")
    if method == "sigma" and not 0.0 < float(number or 0.0) <= SIGMA_K_MAX:
        raise InputError(f"For mean + k sigma, k must be positive and at most {SIGMA_K_MAX:g}, "
                         f"got {value!r}; e.g. 3.")
    return number


def check_min_size(min_size: Any, pixels: int | None = None) -> int:
    """The smallest object kept, from 1 pixel to the raster's pixel count (when known)."""
    high = MIN_SIZE_MAX if pixels is None else max(1, min(MIN_SIZE_MAX, pixels))
    return whole_number("the minimum object size", min_size, 1, high,
                        "" if pixels is None else f"; the raster has {pixels} pixels")
