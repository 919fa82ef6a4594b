"""Raster metadata as GDAL exposes it: geometry, CRS, nodata, scaling and spectral band metadata.

Spectral metadata is looked up in this order (first source that covers every band wins), after
the conventions of GDAL's drivers:

1. band ``IMAGERY`` domain ``CENTRAL_WAVELENGTH_UM`` / ``FWHM_UM`` (GDAL >= 3.10; micrometres);
2. band default-domain ``wavelength`` + ``wavelength_units`` (ENVI, and what GDAL writes back);
3. dataset ``ENVI`` domain lists ``wavelength``, ``fwhm``, ``wavelength_units``.

Bad bands come from band ``good_band`` / ``bbl`` items or the ENVI ``bbl`` list (0 = bad).
The ENVI ``data ignore value`` is masked like nodata; ENVI ``data gain values`` / ``data offset
values`` are used as scale/offset when GDAL did not already turn them into band scale/offset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from osgeo import gdal

_NM_UNITS = {"nm", "nanometer", "nanometers", "nanometre", "nanometres"}
_UM_UNITS = {"um", "µm", "micrometer", "micrometers", "micrometre", "micrometres", "micron",
             "microns"}


@dataclasses.dataclass(frozen=True)
class RasterInfo:
    """Everything the engine needs to know about a raster, for ALL of its bands (1-based order).

    Attributes:
        path: the path or GDAL connection string it was opened from.
        width: columns.
        height: rows.
        band_count: number of bands in the file.
        dtype: numpy name of the stored data type (``"uint16"``, ...).
        crs_wkt: full WKT of the CRS, or None for a raster without CRS (a local pixel grid).
        geotransform: GDAL's 6 terms ``(x0, dx, rot_x, y0, rot_y, dy)`` incl. rotation, or None.
        nodata: per-band nodata value or None.
        scales: per-band scale (1.0 when unset); physical value = raw * scale + offset.
        offsets: per-band offset (0.0 when unset).
        ignore_value: ENVI ``data ignore value`` (masked in every band), or None.
        wavelengths: per-band centre wavelength in ``wavelength_units``, or None.
        wavelength_units: ``"nm"``, ``"um"``, another unit as written, or None when unknown.
        wavelength_source: where wavelengths were found (``"IMAGERY"``, ``"band"``, ``"ENVI"``).
        fwhm: per-band full width at half maximum (same units), or None.
        good_bands: per-band flag, False for bands listed as bad (ENVI ``bbl``).
        has_bad_band_list: True when the file gives a bad-band list (band ``good_band``/``bbl``
            items or the ENVI ``bbl`` list), even one that flags no band.
        band_names: per-band description (ENVI ``band names`` or the GDAL band description).
    """

    path: str
    width: int
    height: int
    band_count: int
    dtype: str
    crs_wkt: str | None
    geotransform: tuple[float, float, float, float, float, float] | None
    nodata: tuple[float | None, ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    ignore_value: float | None = None
    wavelengths: tuple[float, ...] | None = None
    wavelength_units: str | None = None
    wavelength_source: str | None = None
    fwhm: tuple[float, ...] | None = None
    good_bands: tuple[bool, ...] = ()
    band_names: tuple[str, ...] = ()
    has_bad_band_list: bool = False

    @property
    def has_crs(self) -> bool:
        """True when the raster carries a CRS."""
        return bool(self.crs_wkt)

    def wavelengths_nm(self) -> tuple[float, ...] | None:
        """Wavelengths converted to nanometres; units guessed from magnitude when unknown.

        Returns:
            One value per band, or None when the raster has no wavelengths or a unit that is
            not a length (wavenumbers, "Index", ...).
        """
        if self.wavelengths is None:
            return None
        units = self.wavelength_units
        if units is None:
            units = "um" if max(self.wavelengths) < 30.0 else "nm"
        if units == "nm":
            return self.wavelengths
        if units == "um":
            return tuple(w * 1000.0 for w in self.wavelengths)
        return None


def normalise_units(units: str | None) -> str | None:
    """Map the many spellings of wavelength units onto ``"nm"`` / ``"um"``; others kept as is."""
    if units is None or not units.strip() or units.strip().lower() == "unknown":
        return None
    key = units.strip().lower()
    if key in _NM_UNITS:
        return "nm"
    if key in _UM_UNITS:
        return "um"
    return units.strip()


def parse_envi_list(text: str | None) -> list[str] | None:
    """Split an ENVI header list ``"{ a, b , c }"`` into stripped items (None for no text)."""
    if text is None:
        return None
    items = [item.strip() for item in text.strip().strip("{}").split(",")]
    return [item for item in items if item]


def _floats(items: Sequence[str | None] | None, count: int) -> tuple[float, ...] | None:
    """Items as floats when there is exactly one per band, else None."""
    if items is None or len(items) != count:
        return None
    try:
        return tuple(float(item) for item in items)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _float_or_none(text: str | None) -> float | None:
    """Parse one number; None when absent or not a number."""
    if text is None:
        return None
    try:
        return float(text.strip().strip("{}"))
    except ValueError:
        return None


def _spectral_from_bands(
    bands: list[gdal.Band], dataset_units: str | None
) -> tuple[tuple[float, ...] | None, str | None, str | None, tuple[float, ...] | None]:
    """Wavelengths, units, source and FWHM from band-level metadata (sources 1 and 2)."""
    count = len(bands)
    imagery = [band.GetMetadata("IMAGERY") or {} for band in bands]
    centres = _floats([md.get("CENTRAL_WAVELENGTH_UM") for md in imagery]
                      if all("CENTRAL_WAVELENGTH_UM" in md for md in imagery) else None, count)
    if centres is not None:
        widths = _floats([md.get("FWHM_UM") for md in imagery]
                         if all("FWHM_UM" in md for md in imagery) else None, count)
        return centres, "um", "IMAGERY", widths
    plain = [band.GetMetadata() or {} for band in bands]
    if all("wavelength" in md for md in plain):
        centres = _floats([md["wavelength"] for md in plain], count)
        if centres is not None:
            units = normalise_units(plain[0].get("wavelength_units") or dataset_units)
            widths = _floats([md.get("fwhm") for md in plain]
                             if all("fwhm" in md for md in plain) else None, count)
            return centres, units, "band", widths
    return None, None, None, None


def _good_bands(bands: list[gdal.Band], envi: dict[str, str]) -> tuple[tuple[bool, ...], bool]:
    """Per-band good flags from band items (``good_band``/``bbl``) or the ENVI ``bbl`` list.

    Returns:
        ``(flags, listed)``: listed is True when the file gives any such list.
    """
    flags: list[bool] = []
    listed = False
    for band in bands:
        md = band.GetMetadata() or {}
        value = md.get("good_band", md.get("bbl"))
        listed = listed or value is not None
        flags.append(True if value is None else _float_or_none(value) != 0.0)
    if any(not flag for flag in flags):
        return tuple(flags), True
    bbl = _floats(parse_envi_list(envi.get("bbl")), len(bands))
    if bbl is not None:
        return tuple(value != 0.0 for value in bbl), True
    return tuple(flags), listed


def _band_names(bands: list[gdal.Band], envi: dict[str, str]) -> tuple[str, ...]:
    """ENVI ``band names`` when complete, else GDAL descriptions, else ``"Band N"``."""
    names = parse_envi_list(envi.get("band_names"))
    if names is not None and len(names) == len(bands):
        return tuple(names)
    return tuple(band.GetDescription() or f"Band {i}" for i, band in enumerate(bands, start=1))


def read_info(ds: gdal.Dataset, path: str) -> RasterInfo:
    """Collect :class:`RasterInfo` from an open GDAL dataset.

    Args:
        ds: an open raster dataset with at least one band.
        path: how it was opened (kept for messages).

    Returns:
        The raster's metadata for all its bands.
    """
    bands = [ds.GetRasterBand(i) for i in range(1, ds.RasterCount + 1)]
    envi = ds.GetMetadata("ENVI") or {}
    count = len(bands)
    dataset_units = (ds.GetMetadata() or {}).get("wavelength_units")
    centres, units, source, widths = _spectral_from_bands(bands, dataset_units)
    if centres is None:
        centres = _floats(parse_envi_list(envi.get("wavelength")), count)
        if centres is not None:
            units = normalise_units(envi.get("wavelength_units") or dataset_units)
            source = "ENVI"
            widths = _floats(parse_envi_list(envi.get("fwhm")), count)
    scales = [band.GetScale() for band in bands]
    offsets = [band.GetOffset() for band in bands]
    gains = _floats(parse_envi_list(envi.get("data_gain_values")), count)
    gain_offsets = _floats(parse_envi_list(envi.get("data_offset_values")), count)
    if gains is not None and all(s in (None, 1.0) for s in scales):
        scales = list(gains)
    if gain_offsets is not None and all(o in (None, 0.0) for o in offsets):
        offsets = list(gain_offsets)
    geotransform = ds.GetGeoTransform(can_return_null=True)
    wkt = ds.GetProjection() or None
    good_bands, has_bad_band_list = _good_bands(bands, envi)
    return RasterInfo(
        path=path,
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        band_count=count,
        dtype=np.dtype(gdal_dtype_to_numpy(bands[0].DataType)).name,
        crs_wkt=wkt,
        geotransform=tuple(geotransform) if geotransform is not None else None,
        nodata=tuple(band.GetNoDataValue() for band in bands),
        scales=tuple(1.0 if s is None else float(s) for s in scales),
        offsets=tuple(0.0 if o is None else float(o) for o in offsets),
        ignore_value=_float_or_none(envi.get("data_ignore_value")),
        wavelengths=centres,
        wavelength_units=units,
        wavelength_source=source,
        fwhm=widths,
        good_bands=good_bands,
        band_names=_band_names(bands, envi),
        has_bad_band_list=has_bad_band_list,
    )


def gdal_dtype_to_numpy(gdal_type: int) -> np.dtype:
    """Numpy dtype of a GDAL data type code (complex types are rejected by the caller)."""
    from osgeo import gdal_array

    return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(gdal_type))
