"""One error root for everything the engine raises on purpose.

Every message names the offending value and says how to fix it. Library code raises; the CLI
and the QGIS layer decide how to show it (exit code, ``QgsProcessingException``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Dms2fError(Exception):
    """Root of all deliberate errors of the plugin; ``str(err)`` is a complete, actionable message."""


class InputError(Dms2fError, ValueError):
    """A parameter or input raster that cannot be used (wrong band count, all nodata, ...)."""


class RasterReadError(Dms2fError, OSError):
    """A file that cannot be opened or read as a raster."""


class OutputError(Dms2fError, OSError):
    """An output that cannot be written (folder not writable, output equals input, ...)."""


class ModelFileError(Dms2fError, ValueError):
    """A saved model file that is corrupt, unsafe or does not match the raster."""


class DependencyError(Dms2fError, ImportError):
    """An optional dependency (torch, mamba-ssm, ...) is missing; the message says what to install."""


class ClusterError(Dms2fError, RuntimeError):
    """A Dask cluster that cannot be reached or keeps losing workers; the message says what to do."""


class CancelledError(Dms2fError):
    """The user cancelled the run; no output was left behind."""


def user_errors(fn: F) -> F:
    """Decorate a job so resource errors a user can cause surface as :class:`Dms2fError`.

    ``MemoryError`` becomes an :class:`InputError` that says what could not be allocated (the
    memory estimate before the run names the setting that drives it; this is the fallback when
    the machine's memory runs out anyway); a stray ``OSError`` (permission changed mid-run) an
    :class:`OutputError`. Other exceptions are bugs and propagate unchanged.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Dms2fError:
            raise
        except MemoryError as exc:
            detail = " ".join(str(exc).split()) or "an allocation failed"
            raise InputError(f"Out of memory ({detail}). Free some memory, or lower what sizes "
                             "the work: the tile size, the local background window or the number "
                             "of bands.") from None
        except OSError as exc:
            raise OutputError(f"{exc.strerror or exc} ({exc.filename or 'file'}); check the "
                              "paths and the free disk space.") from None

    return wrapper  # type: ignore[return-value]
