"""Scene variants a different sensor or product level would give, and their GeoTIFF files.

Each variant is applied to an implant copy (targets already mixed in), so its ground truth is the
copy's implant masks unchanged (no variant moves pixels):

- ``original``: the cube as float32, every band;
- ``bands64`` / ``bands30``: about 64 / 30 bands kept, evenly spaced over the band axis (a coarser
  spectrometer);
- ``reflectance``: every band scaled to [0, 1] floats by its own minimum and maximum (reflectance
  products differ from radiance by a per-band gain and offset);
- ``int16``: radiance stored as int16 with one GDAL band scale for the file (the engine's reader
  applies it), quantised to about 32,000 steps of the largest absolute value;
- ``water``: an AVIRIS-like file without a bad-band list: every band gets a synthetic centre
  wavelength, evenly spaced over 400-2500 nm, with the scene's own bands outside the atmospheric
  water-vapour windows of :mod:`...io.sensor_bands` and noisy, low-signal bands inserted inside
  them (a transmission of :data:`WATER_TRANSMISSION` of the pixel's mean level plus Gaussian
  noise of :data:`WATER_NOISE` of the scene's mean level). The engine drops those bands by
  default; ``--keep-all-bands`` shows what keeping them costs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array

from ...errors import OutputError
from ...io.gdalutil import last_gdal_error, quiet_gdal
from ...io.sensor_bands import WATER_VAPOUR_WINDOWS_NM
from ...io.writer import atomic_output

VARIANTS = ("original", "bands64", "bands30", "reflectance", "int16", "water")
#: Band counts of the subsampled variants.
SUBSET_BANDS = {"bands64": 64, "bands30": 30}
#: Spectral range of the synthetic wavelengths of the ``water`` variant, nanometres.
SPECTRAL_RANGE_NM = (400.0, 2500.0)
WATER_TRANSMISSION = 0.02
WATER_NOISE = 0.01
#: Largest stored int16 value of the ``int16`` variant.
INT16_FULL_SCALE = 32000.0
_INSET_NM = 0.01


@dataclasses.dataclass(frozen=True)
class VariantCube:
    """A variant ready to write.

    Attributes:
        name: one of :data:`VARIANTS`.
        data: ``(H, W, bands)`` stored values (float32, or int16 for ``int16``).
        scale: GDAL band scale of every band (physical = stored * scale), or None.
        wavelengths_nm: centre wavelength per band, or None (no spectral metadata written).
        noisy_bands: 1-based numbers of the inserted water-vapour bands (``water`` only).
    """

    name: str
    data: np.ndarray
    scale: float | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    noisy_bands: tuple[int, ...] = ()


def even_subset(count: int, keep: int) -> np.ndarray:
    """``min(keep, count)`` band indices (0-based), evenly spaced, first and last included."""
    if keep >= count:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, keep)).astype(np.int64))


def per_band_unit_range(cube: np.ndarray) -> np.ndarray:
    """Every band of ``(H, W, bands)`` mapped linearly onto [0, 1] (a constant band becomes 0)."""
    data = cube.astype(np.float64)
    low = data.min(axis=(0, 1))  # (bands,)
    span = data.max(axis=(0, 1)) - low
    out = (data - low) / np.where(span > 0, span, 1.0)
    return out.astype(np.float32)


def as_scaled_int16(cube: np.ndarray) -> tuple[np.ndarray, float]:
    """``(stored int16, scale)`` with ``stored * scale`` close to ``cube``."""
    peak = float(np.abs(cube).max())
    scale = peak / INT16_FULL_SCALE if peak > 0 else 1.0
    stored = np.round(cube.astype(np.float64) / scale).astype(np.int16)
    return stored, scale


def water_layout(bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths for ``bands`` scene bands outside the water windows and the inserted ones inside.

    The spectral range less the windows is cut into ``bands`` equal steps (a band at the middle of
    each); every window gets as many bands as whole steps fit in it, spaced the same way.

    Returns:
        ``(scene_nm (bands,), water_nm (k,))``, each increasing.
    """
    lo, hi = SPECTRAL_RANGE_NM
    windows = [(max(a, lo), min(b, hi)) for a, b in WATER_VAPOUR_WINDOWS_NM if a < hi]
    edges = [lo, *(x for w in windows for x in w), hi]
    # Outside the (closed) windows; the inset keeps a band off a window's edge.
    gaps = [(edges[i] + _INSET_NM, edges[i + 1] - _INSET_NM) for i in range(0, len(edges), 2)
            if edges[i + 1] - edges[i] > 2 * _INSET_NM]
    step = sum(b - a for a, b in gaps) / bands
    # Distance along the usable range -> wavelength.
    along = (np.arange(bands) + 0.5) * step
    starts = np.cumsum([0.0] + [b - a for a, b in gaps])
    scene = np.empty(bands)
    for i, (a, _) in enumerate(gaps):
        inside = (along >= starts[i]) & (along < starts[i + 1])
        scene[inside] = a + along[inside] - starts[i]
    water = [a + (j + 0.5) * (b - a) / n for a, b in windows
             for n in [max(int((b - a) // step), 1)] for j in range(n)]
    return scene, np.array(water)


def with_water_bands(cube: np.ndarray, rng: np.random.Generator) -> VariantCube:
    """The ``water`` variant of ``cube`` ``(H, W, bands)`` (see the module docstring)."""
    scene_nm, water_nm = water_layout(cube.shape[2])
    level = cube.astype(np.float64).mean(axis=2)  # (H, W): each pixel's mean level
    noise = WATER_NOISE * float(np.abs(level).mean())
    noisy = (WATER_TRANSMISSION * level[..., None]
             + rng.normal(0.0, noise, size=(*level.shape, len(water_nm))))  # (H, W, k)
    order = np.argsort(np.concatenate([scene_nm, water_nm]), kind="stable")
    data = np.concatenate([cube.astype(np.float32), noisy.astype(np.float32)], axis=2)[..., order]
    wavelengths = np.concatenate([scene_nm, water_nm])[order]
    inserted = tuple(int(i) + 1 for i in np.nonzero(order >= cube.shape[2])[0])
    return VariantCube("water", data, wavelengths_nm=tuple(float(w) for w in wavelengths),
                       noisy_bands=inserted)


def make_variant(name: str, cube: np.ndarray, seed: int) -> VariantCube:
    """The variant ``name`` of an implanted cube ``(H, W, bands)``; deterministic from ``seed``.

    Raises:
        ValueError: an unknown variant name.
    """
    if name == "original":
        return VariantCube(name, cube.astype(np.float32))
    if name in SUBSET_BANDS:
        keep = even_subset(cube.shape[2], SUBSET_BANDS[name])
        return VariantCube(name, np.ascontiguousarray(cube[..., keep], dtype=np.float32))
    if name == "reflectance":
        return VariantCube(name, per_band_unit_range(cube))
    if name == "int16":
        stored, scale = as_scaled_int16(cube)
        return VariantCube(name, stored, scale=scale)
    if name == "water":
        return with_water_bands(cube, np.random.default_rng(np.random.SeedSequence([seed, 2450])))
    raise ValueError(f"unknown scene variant '{name}'; use one of {', '.join(VARIANTS)}")


def write_variant(variant: VariantCube, path: Path) -> Path:
    """Write a variant as a pixel-interleaved GeoTIFF (no CRS: a local pixel grid), atomically.

    Band metadata: ``scale`` as GDAL band scale; wavelengths as band ``wavelength`` and
    ``wavelength_units`` items (what GDAL's ENVI driver writes), never a bad-band list.

    Raises:
        OutputError: GDAL cannot create or write the file.
    """
    rows, cols, bands = variant.data.shape
    gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(variant.data.dtype)
    with atomic_output(path) as temp, quiet_gdal():
        ds = gdal.GetDriverByName("GTiff").Create(str(temp), cols, rows, bands, gdal_type,
                                                  ["INTERLEAVE=PIXEL", "TILED=YES"])
        if ds is None:
            raise OutputError(f"Cannot create '{path}' ({last_gdal_error()}).")
        for i in range(bands):
            band = ds.GetRasterBand(i + 1)
            if variant.scale is not None:
                band.SetScale(variant.scale)
                band.SetOffset(0.0)
            if variant.wavelengths_nm is not None:
                band.SetMetadata({"wavelength": f"{variant.wavelengths_nm[i]:.2f}",
                                  "wavelength_units": "Nanometers"})
        if ds.WriteArray(np.moveaxis(variant.data, 2, 0)) != gdal.CE_None:  # (bands, H, W)
            raise OutputError(f"Writing '{path}' failed ({last_gdal_error()}).")
        ds.FlushCache()
        ds = None
    return path
