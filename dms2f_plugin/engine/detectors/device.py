"""Torch device choice and CPU threads (CUDA out-of-memory fallbacks: :mod:`.oom`).

torch is imported lazily inside each function: RX, thresholding and evaluation must keep working
where torch is not installed.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from ..errors import DependencyError, InputError

LOGGER = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "cuda")


def _torch() -> Any:
    """Import torch or explain how to get it."""
    try:
        import torch
    except ImportError:
        raise DependencyError(
            "PyTorch is not installed, and the DMS2F-HAD detector needs it. Install the plugin's "
            "private environment (python3 <plugin folder>/dms2f_plugin/deps.py install) or "
            "'pip install torch' into the Python that runs dms2f-had; the RX detectors work "
            "without it.") from None
    return torch


def passive_openmp_wait() -> None:
    """Let torch's idle OpenMP threads sleep instead of spinning; call it before torch loads.

    Between torch's parallel regions the numba kernels run on Python threads. With OpenMP's
    default active wait, torch's idle worker threads spin on the same cores and slow them down
    (inside QGIS the README measures it). Sets ``OMP_WAIT_POLICY=PASSIVE`` only when the user
    has not set it and torch is not imported yet (the OpenMP runtime reads it once, when torch
    loads).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def resolve_device(device: str = "auto", *, announce: bool = True) -> Any:
    """Turn ``"auto"``, ``"cpu"`` or ``"cuda"`` (``"cuda:1"``) into a ``torch.device``.

    Args:
        device: the request; ``"auto"`` takes CUDA when available, else the CPU.
        announce: log the choice ("Using device ..."); False when it was logged already in this
            task (one log line per fact).

    Returns:
        The ``torch.device`` to use.

    Raises:
        InputError: an unknown name, or CUDA asked for but unavailable (the message says why
            and what to do).
        DependencyError: torch is missing.
    """
    name = (device or "auto").strip().lower()
    if name.split(":")[0] not in DEVICES:
        raise InputError(f"Unknown device '{device}'; use one of {', '.join(DEVICES)}.")
    torch = _torch()
    if name == "auto":
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = getattr(torch.version, "cuda", None)
            reason = ("this torch build has no CUDA support (CPU-only wheel); install a CUDA "
                      "build of torch" if build is None else
                      f"torch was built for CUDA {build} but no usable GPU/driver was found; "
                      "check the NVIDIA driver")
            raise InputError(f"Device 'cuda' was requested but CUDA is not available: {reason}, "
                             "or use --device cpu / auto.")
        chosen = torch.device(name)
    else:
        chosen = torch.device("cpu")
    if not announce:
        return chosen
    if chosen.type == "cuda":
        LOGGER.info("Using device %s (%s)", chosen, torch.cuda.get_device_name(chosen))
    else:
        LOGGER.info("Using device cpu (%d threads)", torch.get_num_threads())
    return chosen


def set_threads(threads: int | None) -> None:
    """Set torch's CPU thread count (None leaves the default).

    numpy's BLAS threads cannot be changed once it is loaded; set ``OMP_NUM_THREADS`` before
    starting the process to bound those too.

    Raises:
        InputError: ``threads`` below 1.
    """
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}; omit it for the default.")
    if threads is None:
        return
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(threads))
    LOGGER.info("torch uses %d CPU thread(s)", threads)
