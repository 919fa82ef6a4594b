"""Which BLAS torch's matrix products reach: torch's own, or one the host process loaded first.

torch's CPU wheel carries its own BLAS (MKL) but calls it through the standard ``sgemm_``
symbol, which the dynamic linker resolves to the first definition in the process's global
scope. A host whose executable links a BLAS (``qgis_process`` and the QGIS desktop link
``libblas.so.3``) therefore puts that library under torch: OpenBLAS is then kept to one thread
while torch works (:mod:`.cpu_threads`); the reference BLAS, Debian's default ``libblas.so.3``
when OpenBLAS is not installed, is much slower than torch's own and cannot be fixed
from inside the process, so the analyst is told how to install OpenBLAS instead.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

LOG = logging.getLogger(__name__)

#: Name parts of BLAS libraries that are optimised (the rest is taken for the reference BLAS).
OPTIMISED = ("openblas", "mkl", "blis", "atlas", "accelerate", "flexiblas")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def host_blas() -> str | None:
    """The file providing the ``sgemm_`` torch calls when it is not torch's own; else None.

    None also where it cannot be told (not Linux, no ``dladdr``). Only meaningful once torch
    is imported.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        process = ctypes.CDLL(None)
        address = ctypes.cast(process.sgemm_, ctypes.c_void_p).value
        dladdr = process.dladdr
    except (AttributeError, OSError):  # no BLAS in the global scope: torch uses its own
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    if not address or not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    path = os.fsdecode(info.dli_fname)
    return None if "torch" in Path(path).parts else os.path.realpath(path)


def is_reference_blas(path: str) -> bool:
    """True unless ``path`` names an optimised BLAS (:data:`OPTIMISED`)."""
    return not any(name in path.lower() for name in OPTIMISED)


def warn_about_host_blas() -> None:
    """Log once what a host BLAS under torch means: a warning with the fix for a reference BLAS."""
    path = host_blas()
    if path is None:
        return
    if is_reference_blas(path):
        LOG.warning("This program loaded the reference BLAS (%s) before torch, so torch's matrix "
                    "products run on it and fitting is much slower; install OpenBLAS "
                    "(Debian/Ubuntu: apt install libopenblas0-pthread) and restart it", path)
    else:
        LOG.debug("torch's matrix products run on the host's BLAS %s (kept to one thread while "
                  "torch works)", path)
