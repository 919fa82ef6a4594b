"""Bands a real sensor records inside the atmosphere's water-vapour windows, which carry no signal.

Airborne and spaceborne imaging spectrometers (AVIRIS, AVIRIS-NG, EnMAP, PRISMA, EMIT) record
bands where water vapour absorbs nearly all sunlight: about 1340-1460 nm and 1790-1960 nm, and
beyond 2450 nm where the signal fades. Those bands hold sensor noise, and a detector that treats
them as signal scores noise. Files often come without a bad-band list (``bbl``); then the engine
drops these bands by default (:func:`water_vapour_bands`), and a file's own bad-band list, when it
has one, is used instead.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Closed intervals in nanometres; ``inf`` closes the last one (the fading end of the SWIR).
WATER_VAPOUR_WINDOWS_NM: tuple[tuple[float, float], ...] = (
    (1340.0, 1460.0), (1790.0, 1960.0), (2450.0, float("inf")))


def in_water_vapour_window(wavelength_nm: float) -> bool:
    """True when ``wavelength_nm`` lies inside one of :data:`WATER_VAPOUR_WINDOWS_NM`."""
    return any(low <= wavelength_nm <= high for low, high in WATER_VAPOUR_WINDOWS_NM)


def water_vapour_bands(wavelengths_nm: Sequence[float]) -> tuple[int, ...]:
    """1-based numbers of the bands whose centre lies in a water-vapour window.

    Args:
        wavelengths_nm: centre wavelength of every band of the file, in nanometres.

    Returns:
        The band numbers in increasing order (empty when none falls in a window).
    """
    return tuple(i for i, w in enumerate(wavelengths_nm, start=1) if in_water_vapour_window(w))


def describe_windows() -> str:
    """The windows as text for log lines: ``1340-1460 nm, 1790-1960 nm, > 2450 nm``."""
    return ", ".join(f"> {low:.0f} nm" if high == float("inf") else f"{low:.0f}-{high:.0f} nm"
                     for low, high in WATER_VAPOUR_WINDOWS_NM)
