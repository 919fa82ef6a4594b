"""Small helpers around ``osgeo.gdal`` error handling, shared by the raster port and the writers.

The engine never calls ``gdal.UseExceptions()``: that switch is process-wide and QGIS (and other
plugins) live in the same process. Instead every GDAL call that can fail runs inside
:func:`quiet_gdal`, which installs a thread-local quiet error handler, and its result is checked.
Whether or not someone else enabled exceptions, failures end up as one of our errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from osgeo import gdal

from ..errors import RasterReadError


@contextlib.contextmanager
def quiet_gdal() -> Iterator[None]:
    """Silence GDAL's stderr messages for the duration of the block (thread-local handler).

    The last error message stays available through :func:`last_gdal_error`.
    """
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.ErrorReset()
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def last_gdal_error(default: str = "unknown GDAL error") -> str:
    """Return GDAL's last error message, or ``default`` when it left none."""
    message = (gdal.GetLastErrorMsg() or "").strip()
    return message or default


def open_gdal(path: str, *, update: bool = False) -> gdal.Dataset:
    """Open ``path`` as a GDAL raster (or container of subdatasets).

    Args:
        path: a file path or any GDAL connection string (``HDF5:"f.h5"://cube``, ``/vsimem/...``).
        update: open for writing.

    Returns:
        The opened dataset.

    Raises:
        RasterReadError: GDAL cannot open it; the message carries GDAL's reason.
    """
    flags = gdal.OF_RASTER | (gdal.OF_UPDATE if update else gdal.OF_READONLY)
    with quiet_gdal():
        try:
            ds = gdal.OpenEx(path, flags)
        except RuntimeError as exc:  # someone enabled gdal.UseExceptions() in this process
            ds = None
            gdal_msg = str(exc)
        else:
            gdal_msg = last_gdal_error("no GDAL driver recognises it")
    if ds is None:
        raise RasterReadError(
            f"Cannot open '{path}' as a raster ({gdal_msg}). Check that the file exists, is "
            "complete (not truncated) and is a raster format GDAL reads (GeoTIFF, ENVI .hdr + "
            "data file, VRT, HDF5, NetCDF, or a benchmark .mat file)."
        )
    return ds
