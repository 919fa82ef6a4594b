"""The one raster writer: tiled, compressed GeoTIFF written window by window, atomically.

Every output is first written under a hidden temporary name in the destination folder and moved
into place with ``os.replace`` only when the whole raster is written and closed. On any error or
cancel the temporary file is deleted and a file already at the output path stays untouched, so a
reader never sees a half-written result.

Score rasters are float32 with NaN as nodata (NaN can never be a real score, QGIS reads NaN
nodata, and no sentinel like -9999 can collide with a valid value). Masks are uint8: 1 anomaly,
0 background, 255 nodata.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..errors import OutputError
from ..types import PathLike
from .gdalutil import last_gdal_error, quiet_gdal
from .rasterinfo import RasterInfo
from .window import Window

LOGGER = logging.getLogger(__name__)
SCORE_NODATA = float("nan")
MASK_NODATA = 255
RASTER_EXTENSIONS = (".tif", ".tiff")
_GDAL_TYPES = {"float32": gdal.GDT_Float32, "uint8": gdal.GDT_Byte, "uint16": gdal.GDT_UInt16,
               "int16": gdal.GDT_Int16, "int32": gdal.GDT_Int32, "uint32": gdal.GDT_UInt32,
               "float64": gdal.GDT_Float64}


def validate_output_path(path: PathLike, *, inputs: Sequence[PathLike] = (),
                         extensions: Sequence[str] | None = RASTER_EXTENSIONS,
                         what: str = "output") -> Path:
    """Check an output path before any work starts.

    Args:
        path: the output file.
        inputs: input files it must not overwrite (compared after resolving links).
        extensions: accepted suffixes (lower case, with the dot); None accepts any.
        what: how to call the file in messages.

    Returns:
        The resolved output path.

    Raises:
        OutputError: wrong extension, missing or non-writable folder, a directory in the way, or
            the output is one of the inputs.
    """
    out = Path(path).expanduser().resolve()
    if extensions is not None and out.suffix.lower() not in extensions:
        raise OutputError(f"The {what} '{path}' must end with {' or '.join(extensions)}; "
                          f"e.g. {out.with_suffix(extensions[0]).name}.")
    if out.is_dir():
        raise OutputError(f"The {what} '{path}' is a folder; give a file name inside it.")
    for source in inputs:
        text = os.fspath(source)
        if text.startswith("/vsi") or ":" in Path(text).name:
            continue
        src = Path(text).expanduser().resolve()
        if src == out or (out.exists() and src.exists() and os.path.samefile(src, out)):
            raise OutputError(f"The {what} '{path}' is the input file; choose another output "
                              "name so the input is not overwritten.")
    folder = out.parent
    if not folder.is_dir():
        raise OutputError(f"The folder of the {what}, '{folder}', does not exist; create it "
                          "or choose another folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".dms2f_probe_", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"Cannot write into the folder '{folder}' ({exc.strerror}); choose a "
                          "writable output folder.") from None
    return out


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name in the same folder (so the final rename stays on one filesystem)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def _remove_quietly(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_output(path: PathLike, sidecars: Sequence[str] = (".aux.xml",)) -> Iterator[Path]:
    """Yield a temporary path; move it (and sidecar files) onto ``path`` only on success.

    Args:
        path: the final file.
        sidecars: suffixes of companion files GDAL may write next to the temporary file (the
            PAM ``.aux.xml``); they follow the file, and a stale one at the target is removed.

    Yields:
        The temporary path to write to.
    """
    final = Path(path)
    temp = temporary_sibling(final)
    try:
        yield temp
    except BaseException:
        _remove_quietly(temp, *(Path(f"{temp}{s}") for s in sidecars))
        raise
    if not temp.exists():
        raise OutputError(f"Nothing was written to '{final}' (temporary file missing).")
    publish(temp, final, sidecars)


def publish(temp: Path, final: Path, sidecars: Sequence[str] = (".aux.xml",)) -> None:
    """Move a finished temporary file onto ``final``, with its sidecars (stale ones removed)."""
    os.replace(temp, final)
    for suffix in sidecars:
        side = Path(f"{temp}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{final}{suffix}"))
        else:
            _remove_quietly(Path(f"{final}{suffix}"))


class RasterWriter:
    """Single-band tiled, compressed GeoTIFF, filled window by window, renamed on success.

    Use as a context manager: leaving the block normally commits; an exception aborts (the
    temporary file is removed and the target path is untouched).
    """

    def __init__(self, path: PathLike, *, width: int, height: int, dtype: str,
                 nodata: float | None, crs_wkt: str | None,
                 geotransform: Sequence[float] | None, description: str = "",
                 metadata: dict[str, str] | None = None, block: int = 256) -> None:
        """Create the temporary GeoTIFF.

        Args:
            path: final output path (validate it first with :func:`validate_output_path`).
            width: columns.
            height: rows.
            dtype: ``"float32"`` (DEFLATE + floating-point predictor 3) or an integer type
                (DEFLATE + horizontal predictor 2).
            nodata: nodata value written in the header, or None.
            crs_wkt: full WKT copied verbatim (custom CRSs kept), or None.
            geotransform: 6 GDAL terms incl. rotation, or None for a local pixel grid.
            description: band description.
            metadata: dataset metadata items (method, parameters, ...).
            block: GeoTIFF tile edge in pixels.

        Raises:
            OutputError: GDAL cannot create the file.
        """
        self.path = Path(path)
        self._temp = temporary_sibling(self.path)
        predictor = "3" if dtype.startswith("float") else "2"
        options = ["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}", "COMPRESS=DEFLATE",
                   f"PREDICTOR={predictor}", "BIGTIFF=IF_SAFER"]
        with quiet_gdal():
            self._ds = gdal.GetDriverByName("GTiff").Create(
                str(self._temp), width, height, 1, _GDAL_TYPES[dtype], options)
            reason = last_gdal_error()
        if self._ds is None:
            raise OutputError(f"Cannot create '{self.path}' ({reason}); check the folder and "
                              "free disk space.")
        if crs_wkt:
            self._ds.SetProjection(crs_wkt)
        if geotransform is not None:
            self._ds.SetGeoTransform(tuple(geotransform))
        band = self._ds.GetRasterBand(1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if description:
            band.SetDescription(description)
        if metadata:
            self._ds.SetMetadata({k: str(v) for k, v in metadata.items()})
        self._band = band
        self._dtype = np.dtype(dtype)

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write ``array`` ``(window.height, window.width)`` at ``window``.

        Raises:
            OutputError: GDAL reports a write failure (disk full, ...).
        """
        if array.shape != window.shape:
            raise ValueError(f"array {array.shape} does not match {window}")
        with quiet_gdal():
            err = self._band.WriteArray(array.astype(self._dtype, copy=False),
                                        window.col_off, window.row_off)
            reason = last_gdal_error()
        if err != gdal.CE_None:
            raise OutputError(f"Writing {window} to '{self.path}' failed ({reason}); check the "
                              "free disk space.")

    def commit(self) -> Path:
        """Close the temporary file and move it (and its .aux.xml) onto the output path."""
        with quiet_gdal():
            self._ds.FlushCache()
            self._band = None
            self._ds = None
        publish(self._temp, self.path)
        LOGGER.info("Wrote '%s'", self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the output path is left as it was."""
        self._band = None
        self._ds = None
        _remove_quietly(self._temp, Path(f"{self._temp}.aux.xml"))

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def score_writer(path: PathLike, like: RasterInfo, *, description: str = "anomaly score",
                 metadata: dict[str, str] | None = None) -> RasterWriter:
    """A float32 score writer on the grid of ``like`` (CRS, geotransform), NaN nodata."""
    return RasterWriter(path, width=like.width, height=like.height, dtype="float32",
                        nodata=SCORE_NODATA, crs_wkt=like.crs_wkt, geotransform=like.geotransform,
                        description=description, metadata=metadata)


def mask_writer(path: PathLike, like: RasterInfo, *, description: str = "anomaly mask",
                metadata: dict[str, str] | None = None) -> RasterWriter:
    """A uint8 mask writer (1 anomaly, 0 background, 255 nodata) on the grid of ``like``."""
    return RasterWriter(path, width=like.width, height=like.height, dtype="uint8",
                        nodata=MASK_NODATA, crs_wkt=like.crs_wkt, geotransform=like.geotransform,
                        description=description, metadata=metadata)
