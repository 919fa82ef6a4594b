"""The one place where GDAL/OGR calls that can fail are made and checked, in either error mode.

The engine never calls ``gdal.UseExceptions()``: that switch is process-wide and QGIS (and other
plugins) live in the same process; QGIS 3.40's Processing turns exceptions on, the command line
leaves them off. Both modes must give the same result, so every call that can fail goes through
this module:

- :func:`quiet_gdal` installs a thread-local quiet error handler (no GDAL noise on stderr, no
  flood of PROJ messages) and resets the error state;
- :func:`gdal_call` runs one call inside it and raises :class:`GdalCallError` when the call failed,
  whether GDAL raised (exceptions on), returned an error code or left a ``CE_Failure`` behind
  (exceptions off);
- :func:`closing_errors` collects what GDAL reports while a dataset is closed (where the last
  buffered blocks are written: a full disk shows up there), also in exceptions mode, where the
  bindings would otherwise print "Exception ignored" and carry on;
- :func:`open_gdal` / :func:`open_vector` open files the same way in both modes.

Callers turn a :class:`GdalCallError` into the engine error that fits (read or write).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any, Callable, TypeVar

from osgeo import gdal, ogr

from ..errors import RasterReadError

T = TypeVar("T")
#: GDAL >= 3.9 warns once per process that its exceptions mode will change in GDAL 4.0.
MODE_WARNING = r"Neither gdal\.UseExceptions\(\) nor gdal\.DontUseExceptions\(\)"


def one_line(text: str) -> str:
    """GDAL's message on one line: GDAL 3.10 chains causes on new lines ("May be caused by")."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


class GdalCallError(Exception):
    """A GDAL/OGR call failed; ``reason`` is GDAL's own message on one line (never empty)."""

    def __init__(self, reason: str) -> None:
        reason = one_line(reason) or "unknown GDAL error"
        super().__init__(reason)
        self.reason = reason


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
    message = one_line(gdal.GetLastErrorMsg() or "")
    return message or default


def failed_since_reset() -> bool:
    """True when GDAL reported a ``CE_Failure`` or worse since the last ``ErrorReset``."""
    return gdal.GetLastErrorType() >= gdal.CE_Failure


def gdal_call(fn: Callable[..., T], *args: Any, ogr_error_code: bool = False,
              **kwargs: Any) -> T:
    """Call a GDAL/OGR function quietly and check it, whatever the exceptions mode.

    Args:
        fn: the bound function or method (``ds.WriteArray``, ``gdal.RasterizeLayer``, ...).
        *args: its positional arguments.
        ogr_error_code: the function returns an OGR error code (0 = success), like
            ``layer.CreateFeature``; a nonzero code is a failure.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returned (possibly None: callers that need an object check it).

    Raises:
        GdalCallError: GDAL raised, returned a nonzero OGR code, or reported a ``CE_Failure``
            (which is how a ``CPLErr`` result of ``CE_Failure`` shows up as well).
    """
    with quiet_gdal():
        try:
            result = fn(*args, **kwargs)
        except RuntimeError as exc:  # gdal/ogr.UseExceptions() is on in this process
            raise GdalCallError(str(exc).strip() or last_gdal_error()) from None
        failed = failed_since_reset()
        reason = last_gdal_error()
    if ogr_error_code and isinstance(result, int) and result != 0:
        raise GdalCallError(reason if failed else f"OGR error code {result}")
    if failed:
        raise GdalCallError(reason)
    return result


@contextlib.contextmanager
def closing_errors() -> Iterator[list[str]]:
    """Collect the errors GDAL reports while datasets are closed inside the block.

    Drop the last references to the datasets (and their bands) inside the block. With exceptions
    off GDAL leaves the error in its error state; with exceptions on the bindings raise from the
    destructor, where Python can only report it through ``sys.unraisablehook``: both end up in
    the yielded list instead of on stderr.

    Yields:
        The list the messages are appended to (empty when closing succeeded).
    """
    errors: list[str] = []
    previous_hook = sys.unraisablehook

    def collect(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, RuntimeError):
            errors.append(one_line(str(unraisable.exc_value)) or "error while closing")
        else:
            previous_hook(unraisable)

    sys.unraisablehook = collect
    try:
        with quiet_gdal():
            yield errors
            if failed_since_reset() and not errors:
                errors.append(last_gdal_error())
    finally:
        sys.unraisablehook = previous_hook


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
    try:
        ds = gdal_call(gdal.OpenEx, path, flags)
        reason = "no GDAL driver recognises it"
    except GdalCallError as failure:
        ds, reason = None, failure.reason
    if ds is None:
        raise RasterReadError(
            f"Cannot open '{path}' as a raster ({reason}). Check that the file exists, is "
            "complete (not truncated) and is a raster format GDAL reads (GeoTIFF, ENVI .hdr + "
            "data file, VRT, HDF5, NetCDF, or a benchmark .mat file)."
        )
    return ds


def open_vector(path: str) -> gdal.Dataset | None:
    """Open ``path`` as an OGR vector dataset with at least one layer, or return None.

    None means "not a vector file" (a raster, a missing file, ...): the caller decides what the
    file is instead. Never raises for an unrecognised file, in either exceptions mode.
    """
    try:
        ds = gdal_call(gdal.OpenEx, path, gdal.OF_VECTOR | gdal.OF_READONLY)
    except GdalCallError:
        return None
    if ds is None or ds.GetLayerCount() == 0:
        return None
    return ds


def is_raster(path: str) -> bool:
    """True when GDAL opens ``path`` as a raster (no error is raised or printed otherwise)."""
    try:
        return gdal_call(gdal.OpenEx, path, gdal.OF_RASTER | gdal.OF_READONLY) is not None
    except GdalCallError:
        return False


def ogr_driver(name: str) -> ogr.Driver:
    """The OGR driver ``name`` (``"GPKG"``, ``"Memory"``); raises when this GDAL lacks it."""
    driver = ogr.GetDriverByName(name)
    if driver is None:
        raise GdalCallError(f"this GDAL has no {name} driver")
    return driver


def unlink_quietly(path: str) -> None:
    """Delete a GDAL (``/vsimem/``) file if it exists; never raises, in either exceptions mode."""
    with contextlib.suppress(GdalCallError):
        gdal_call(gdal.Unlink, path)


def hide_mode_warning() -> None:
    """Hide GDAL's FutureWarning about its exceptions mode, in this process, without choosing one.

    For the command line and the benchmark's workers: the engine works in either mode, so the
    warning only alarms users. The process-wide mode itself is never changed (QGIS relies on it).
    """
    warnings.filterwarnings("ignore", message=MODE_WARNING, category=FutureWarning)
