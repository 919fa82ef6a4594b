"""The engine's raster port: open any GDAL raster, select bands, read windows of valid spectra.

All reading goes through ``osgeo.gdal`` (the same GDAL QGIS uses: no second GDAL is ever loaded
into the QGIS process). A window is read for all selected bands in ONE ``ReadAsArray`` call, which
is what makes spatial tiles over hundreds of bands affordable; with BSQ files prefer converting to
a pixel-interleaved GeoTIFF (``dms2f-had import-mat`` writes those).

Validity rule: a pixel is *invalid* when ANY selected band is nodata, equals the ENVI ``data
ignore value``, is NaN/Inf after scaling, or is masked by the raster's GDAL mask or alpha band
(:mod:`.masks`). A spectrum with a hole cannot be compared with other spectra, so the whole pixel
is dropped (scored as nodata) rather than filled. Invalid pixels hold
0.0 in the returned cube so that arithmetic on them stays finite; always use the mask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Union

import numpy as np
from osgeo import gdal

from ..errors import InputError, RasterReadError
from .bands import format_band_list, parse_band_list
from .gdalutil import GdalCallError, gdal_call, last_gdal_error, open_gdal, quiet_gdal, unlink_quietly
from .masks import alpha_bands, mask_sources, masked_out
from .matfile import mat_to_vsimem
from .rasterinfo import RasterInfo, read_info
from .sensor_bands import describe_windows, water_vapour_bands
from .statistics import SceneStatistics, refreshed_statistics
from .window import Window

if TYPE_CHECKING:
    from ..progress import Progress

__all__ = ["RasterInfo", "RasterSource", "Window", "open_raster", "BandSpec"]

LOGGER = logging.getLogger(__name__)
BandSpec = Union[None, str, Sequence[int]]
_CONNECTION = re.compile(r"^[A-Za-z0-9_]{2,}:|^/vsi")  # GDAL prefixes; not "C:"

#: Stored types every value of which a float32 holds exactly: such bands are read straight into
#: float32 (GDAL converts while it copies), the rest are read as stored and converted after the
#: nodata tests (a 32-bit integer nodata value may not survive float32).
_FLOAT32_EXACT = frozenset({gdal.GDT_Byte, gdal.GDT_UInt16, gdal.GDT_Int16, gdal.GDT_Float32}
                           | ({gdal.GDT_Int8} if hasattr(gdal, "GDT_Int8") else set()))


class RasterSource:
    """An open raster with a band selection; the object every engine stage reads from.

    Use :func:`open_raster` to make one. It is a context manager; :meth:`close` releases the GDAL
    dataset (and the in-memory copy of a ``.mat`` scene).

    Attributes:
        path: what was opened (file path or GDAL connection string).
        info: metadata of ALL bands of the file (:class:`RasterInfo`).
        band_indices: the selected bands, 1-based, in reading order.
    """

    def __init__(self, ds: gdal.Dataset, path: str, band_indices: tuple[int, ...],
                 info: RasterInfo, vsimem_path: str | None = None) -> None:
        self._ds: gdal.Dataset | None = ds
        self.path = path
        self.info = info
        self.band_indices = band_indices
        self._vsimem_path = vsimem_path
        self._stats: SceneStatistics | None = None
        self._mask_sources = mask_sources(ds, band_indices)
        exact = all(ds.GetRasterBand(b).DataType in _FLOAT32_EXACT for b in band_indices)
        self._buf_type = gdal.GDT_Float32 if exact else None

    # -- geometry and metadata of the selection ------------------------------------------------
    @property
    def width(self) -> int:
        """Columns."""
        return self.info.width

    @property
    def height(self) -> int:
        """Rows."""
        return self.info.height

    @property
    def band_count(self) -> int:
        """Number of SELECTED bands (the ``bands`` axis of every cube this source returns)."""
        return len(self.band_indices)

    @property
    def full_window(self) -> Window:
        """The window covering the whole raster."""
        return Window(0, 0, self.width, self.height)

    @property
    def wavelengths_nm(self) -> tuple[float, ...] | None:
        """Wavelengths of the selected bands in nanometres, or None when unknown."""
        all_nm = self.info.wavelengths_nm()
        return None if all_nm is None else tuple(all_nm[b - 1] for b in self.band_indices)

    @property
    def band_names(self) -> tuple[str, ...]:
        """Names of the selected bands."""
        return tuple(self.info.band_names[b - 1] for b in self.band_indices)

    # -- reading -------------------------------------------------------------------------------
    def read_window(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read all selected bands of ``window`` in one call, scaled, with a validity mask.

        Args:
            window: pixels to read; must lie inside the raster.

        Returns:
            ``(cube, valid)``: cube float32 ``(bands, h, w)`` with scale/offset applied and 0.0
            at invalid pixels; valid bool ``(h, w)``, False where any selected band is invalid
            or a GDAL mask / alpha band marks the pixel (:mod:`.masks`).

        Raises:
            RasterReadError: GDAL fails to read (corrupt or truncated file).
        """
        ds = self._dataset()
        if window.col_off < 0 or window.row_off < 0 or window.col_end > self.width \
                or window.row_end > self.height:
            raise ValueError(f"{window} is outside the {self.width} x {self.height} raster")
        try:
            raw = gdal_call(ds.ReadAsArray, window.col_off, window.row_off, window.width,
                            window.height, band_list=list(self.band_indices),
                            buf_type=self._buf_type)
            if raw is None:
                raise GdalCallError(last_gdal_error())
            invalid = masked_out(ds, self._mask_sources, window)  # (h, w)
        except GdalCallError as failure:
            raise RasterReadError(
                f"Reading {window} of '{self.path}' failed ({failure.reason}). The file is "
                "probably truncated or corrupt; re-export or re-download it.") from None
        finally:
            # Read blocks are not kept in GDAL's cache: each window is read once (halos aside),
            # and a cache that grows with the scene would make memory grow with the scene.
            with quiet_gdal(), contextlib.suppress(RuntimeError):
                ds.FlushCache()
        raw = raw.reshape(self.band_count, window.height, window.width)  # (bands, h, w)
        for i, band in enumerate(self.band_indices):
            for masked in (self.info.nodata[band - 1], self.info.ignore_value):
                if masked is not None:
                    invalid |= np.isnan(raw[i]) if np.isnan(masked) else raw[i] == masked
        cube = raw if raw.dtype == np.float32 else raw.astype(np.float32)  # (bands, h, w)
        del raw
        for i, band in enumerate(self.band_indices):
            scale, offset = self.info.scales[band - 1], self.info.offsets[band - 1]
            if scale != 1.0:
                cube[i] *= np.float32(scale)
            if offset != 0.0:
                cube[i] += np.float32(offset)
        invalid |= ~np.isfinite(cube).all(axis=0)  # (h, w)
        cube[:, invalid] = 0.0
        return cube, ~invalid

    def statistics(self, *, covariance: bool = False, progress: Progress | None = None,
                   tile_size: int = 512,
                   visit: Callable[[np.ndarray, np.ndarray, Window], None] | None = None,
                   margin: int = 0) -> SceneStatistics:
        """Per-band statistics over valid pixels in one streaming pass (cached on the source).

        Args:
            covariance: also accumulate the band covariance (needed by RX); a cached result
                without covariance is recomputed once when it is asked for.
            progress: progress sink for the pass.
            tile_size: rows/columns of the windows read during the pass.
            visit: sees every window read, grown by ``margin`` (see
                :func:`~.statistics.compute_statistics`); with it the pass always runs.
            margin: pixels read beyond each window's right and bottom edges, for ``visit``.

        Returns:
            The scene statistics (see :class:`~.stats.SceneStatistics`).

        Raises:
            InputError: every pixel is invalid.
        """
        self._stats = refreshed_statistics(self, self._stats, covariance=covariance,
                                           progress=progress, tile_size=tile_size, visit=visit,
                                           margin=margin)
        return self._stats

    # -- lifetime ------------------------------------------------------------------------------
    def _dataset(self) -> gdal.Dataset:
        if self._ds is None:
            raise ValueError(f"raster '{self.path}' is already closed")
        return self._ds

    def close(self) -> None:
        """Release the GDAL dataset (and a ``/vsimem/`` copy of a .mat scene)."""
        self._ds = None
        if self._vsimem_path is not None:
            unlink_quietly(self._vsimem_path)
            self._vsimem_path = None

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RasterSource({self.path!r}, {self.width}x{self.height}, "
                f"bands={self.band_count}/{self.info.band_count})")


def open_raster(path: str | os.PathLike, *, bands: BandSpec = None,
                drop_bad_bands: bool = True, subdataset: None | int | str = None,
                min_bands: int = 1, announce: bool = True) -> RasterSource:
    """Open a raster for reading and select its bands.

    Args:
        path: any GDAL raster (GeoTIFF, ENVI, VRT, ``HDF5:"f.h5"://cube``, ...) or a benchmark
            MATLAB ``.mat`` file (loaded into a temporary in-memory GeoTIFF under ``/vsimem/``).
        bands: 1-based band numbers (``[1, 2, 5]``) or text (``"1-10,15"``); None = all bands.
        drop_bad_bands: drop bands flagged bad (ENVI ``bbl``) or, when the file has
            wavelengths but no bad-band list, the bands in the atmospheric water-vapour windows
            (:mod:`.sensor_bands`); False keeps every band. Only applies when ``bands`` is None:
            an explicit list is taken as given.
        subdataset: for containers (HDF5, NetCDF) the subdataset to use, by 1-based number or
            name; when a container is opened without it, the error lists the subdatasets.
        min_bands: fewest selected bands the caller can work with.
        announce: log the "Opened ..." line at info level (False: debug, for intermediate files).

    Returns:
        The open :class:`RasterSource` (close it, or use it as a context manager).

    Raises:
        RasterReadError: missing, unreadable, corrupt, non-raster or truncated file (a raw data
            file shorter than its header says).
        InputError: a container without a chosen subdataset, a bad band list (or one naming the
            alpha band), too few bands, a complex-valued raster.
    """
    text = os.fspath(path)
    if not _CONNECTION.match(text) and not os.path.exists(text):
        raise RasterReadError(f"Input raster '{text}' does not exist; check the path.")
    vsimem = None
    if text.lower().endswith(".mat") and not _CONNECTION.match(text):
        vsimem = mat_to_vsimem(text)
        ds = open_gdal(vsimem)
    else:
        ds = open_gdal(text)
        ds, text = _resolve_subdataset(ds, text, subdataset)
    try:
        info = read_info(ds, text)
        if ds.GetRasterBand(1).DataType in (gdal.GDT_CInt16, gdal.GDT_CInt32,
                                            gdal.GDT_CFloat32, gdal.GDT_CFloat64):
            raise InputError(f"'{text}' holds complex numbers ({info.dtype}); convert it to a "
                             "real-valued raster (e.g. its magnitude) first.")
        _check_complete(ds, text)
        selection = _select_bands(info, bands, drop_bad_bands, alpha_bands(ds))
        if len(selection) < min_bands:
            dropped = info.band_count - len(selection)
            raise InputError(
                f"'{text}' has {len(selection)} usable band(s) ({info.band_count} in the file, "
                f"{dropped} dropped); this needs at least {min_bands}. Use a multi/hyperspectral "
                "raster or select more bands with --bands.")
    except Exception:
        ds = None
        if vsimem is not None:
            unlink_quietly(vsimem)
        raise
    LOGGER.log(logging.INFO if announce else logging.DEBUG,
               "Opened '%s': %d x %d pixels, %d of %d bands, %s", text, info.width,
               info.height, len(selection), info.band_count, info.dtype)
    return RasterSource(ds, text, selection, info, vsimem_path=vsimem)


def _resolve_subdataset(ds: gdal.Dataset, path: str,
                        subdataset: None | int | str) -> tuple[gdal.Dataset, str]:
    """Return the dataset to read: ``ds`` itself, or the chosen subdataset of a container."""
    subs = ds.GetSubDatasets() or []
    if ds.RasterCount > 0 and subdataset is None:
        return ds, path
    if not subs:
        if subdataset is not None:
            raise InputError(f"'{path}' has no subdatasets; drop the subdataset choice.")
        raise RasterReadError(f"'{path}' contains no raster bands (is it a vector file or "
                              "an empty container?); give a raster file.")
    names = [name for name, _ in subs]
    listing = "; ".join(f"{i}: {name} ({desc})" for i, (name, desc) in enumerate(subs, start=1))
    if subdataset is None:
        raise InputError(f"'{path}' is a container with {len(subs)} subdatasets; choose one "
                         f"by passing its name as input. Subdatasets: {listing}")
    if isinstance(subdataset, int):
        if not 1 <= subdataset <= len(subs):
            raise InputError(f"subdataset {subdataset} does not exist in '{path}'; "
                             f"choose 1 to {len(subs)}: {listing}")
        chosen = names[subdataset - 1]
    else:
        matches = [n for n in names if n == subdataset or n.endswith(str(subdataset))]
        if len(matches) != 1:
            raise InputError(f"subdataset '{subdataset}' not found in '{path}': {listing}")
        chosen = matches[0]
    return open_gdal(chosen), chosen


def _select_bands(info: RasterInfo, bands: BandSpec, drop_bad_bands: bool,
                  alpha: tuple[int, ...] = ()) -> tuple[int, ...]:
    """1-based selected bands: the explicit list, or all bands minus the bad and alpha ones."""
    if bands is not None:
        try:
            selection = parse_band_list(bands, info.band_count)
        except ValueError as exc:
            raise InputError(f"Band selection for '{info.path}': {exc}.") from None
        named = [b for b in selection if b in alpha]
        if named:
            raise InputError(f"Band {named[0]} of '{info.path}' is its alpha (transparency) band: "
                             "it is used as the validity mask, not as a spectrum; leave it out of "
                             "the band list.")
        return selection
    selection = tuple(b for b in range(1, info.band_count + 1) if b not in alpha)
    if alpha:
        LOGGER.info("Band(s) %s of '%s' are alpha bands: used as the validity mask, not scored",
                    ",".join(map(str, alpha)), info.path)
    if drop_bad_bands and info.good_bands:
        good = tuple(b for b in selection if info.good_bands[b - 1])
        if len(good) < len(selection):
            LOGGER.info("Dropping %d bad band(s) listed in the metadata (bbl): %s",
                        len(selection) - len(good),
                        ",".join(str(b) for b in selection if not info.good_bands[b - 1]))
        selection = good
    if drop_bad_bands and not info.has_bad_band_list:
        selection = _without_water_vapour(info, selection)
    return selection


#: GDAL drivers that read raw pixel files, which GDAL reads past their end as zeros.
_RAW_DRIVERS = {"ENVI", "EHdr", "GenBin", "PAux", "ISCE", "ROI_PAC", "MFF", "LAN", "BT"}


def _check_complete(ds: gdal.Dataset, path: str) -> None:
    """Refuse a raw data file shorter than its header says (GDAL would read zeros past its end).

    Raises:
        RasterReadError: the data file holds fewer bytes than width x height x bands x the
            sample size (plus the ENVI header offset).
    """
    driver = ds.GetDriver()
    if driver is None or driver.ShortName not in _RAW_DRIVERS or ds.RasterCount == 0:
        return
    files = ds.GetFileList() or []
    data = ds.GetDescription() if ds.GetDescription() in files else (files[0] if files else "")
    stat = gdal.VSIStatL(data) if data else None
    if stat is None:
        return
    sample = gdal.GetDataTypeSize(ds.GetRasterBand(1).DataType) // 8
    offset = int(_float_or_zero((ds.GetMetadata("ENVI") or {}).get("header_offset")))
    expected = offset + ds.RasterXSize * ds.RasterYSize * ds.RasterCount * sample
    if stat.size < expected:
        raise RasterReadError(
            f"'{path}' is shorter than its header says: the data file '{data}' holds "
            f"{stat.size} bytes but {ds.RasterXSize} x {ds.RasterYSize} pixels x "
            f"{ds.RasterCount} bands need {expected}. It was cut off (an interrupted copy or "
            "download?); copy or download it again.")


def _float_or_zero(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _without_water_vapour(info: RasterInfo, selection: tuple[int, ...]) -> tuple[int, ...]:
    """``selection`` less the bands in the water-vapour windows (one log line names them)."""
    wavelengths = info.wavelengths_nm()
    if wavelengths is None:
        return selection
    dropped = set(water_vapour_bands(wavelengths))
    if not dropped:
        return selection
    LOGGER.warning("'%s' gives wavelengths but no bad-band list: dropping %d band(s) in the "
                   "water-vapour windows (%s): %s; keep every band with the keep-all-bands "
                   "option, or choose bands explicitly.", info.path, len(dropped),
                   describe_windows(), format_band_list(sorted(dropped)))
    return tuple(b for b in selection if b not in dropped)
