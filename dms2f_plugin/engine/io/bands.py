"""Band lists as users type them (``"1-10,15"``) and back, checked against a raster's band count.

Parsing is lazy: every item is checked against ``band_count`` before any range is expanded, so a
typo such as ``1-100000000`` is refused at once instead of building a huge list first; and a list
that repeats its bands many times over (``1-4096`` pasted thousands of times) is refused once the
bands it names pass :func:`most_named`, before they are expanded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def parse_band_list(spec: str | Sequence[int], band_count: int) -> tuple[int, ...]:
    """Turn ``"1-10,15"`` or ``[1, 2, 3]`` into validated 1-based band numbers.

    Args:
        spec: a comma-separated list of numbers and ranges, or a sequence of ints (1-based).
        band_count: bands in the raster.

    Returns:
        The band numbers in the given order, duplicates removed.

    Raises:
        ValueError: malformed text, a band outside ``1..band_count`` (the message names it), or a
            list naming more than :func:`most_named` bands.
    """
    numbers: list[int] = []
    limit, named = most_named(band_count), 0
    if isinstance(spec, str):
        for part in spec.split(","):
            match = _RANGE.match(part)
            if match is None:
                raise ValueError(f"band list item '{part.strip()}' is not a number or a range "
                                 "like 1-10; write e.g. 1-10,15")
            first = int(match.group(1))
            last = int(match.group(2) or first)
            if last < first:
                raise ValueError(f"band range '{part.strip()}' runs backwards; write {last}-{first}")
            _check_band(first, band_count)
            _check_band(last, band_count)
            named += last - first + 1
            if named > limit:
                raise ValueError(f"the band list names more than {limit} bands, though the raster "
                                 f"has {band_count}; list each band once")
            numbers.extend(range(first, last + 1))
    else:
        for band in spec:
            if int(band) != band:
                raise ValueError(f"band {band!r} is not a whole number")
            _check_band(int(band), band_count)
            numbers.append(int(band))
    return tuple(dict.fromkeys(numbers))


def most_named(band_count: int) -> int:
    """Most bands (repeats included) a band list may name for a raster of ``band_count`` bands."""
    return max(4 * band_count, 4096)


def _check_band(band: int, band_count: int) -> None:
    if not 1 <= band <= band_count:
        raise ValueError(f"band {band} does not exist: the raster has bands 1 to {band_count}")


def format_band_list(bands: Sequence[int]) -> str:
    """Inverse of :func:`parse_band_list`: ``(1, 2, 3, 7)`` -> ``"1-3,7"``."""
    runs: list[list[int]] = []
    for band in bands:
        if runs and band == runs[-1][1] + 1:
            runs[-1][1] = band
        else:
            runs.append([band, band])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
