"""Both CPU cores for many small torch operations: slices of a batch on parallel threads.

Splitting every small operation over the cores costs a thread hand-off per operation; running
slices of the batch on parallel threads, each operation single-threaded, keeps the cores busy
instead. :func:`parallel_slices` opens such a section: it decides how many slices run at once
(torch's thread count on the CPU, 1 elsewhere) and gives each slice an equal share of the
threads. Sections take a process-wide lock, because torch's thread count is process-wide: two
sections (two Dask tasks in one worker, say) run one after the other, each with every thread.
Results depend on the thread count only, never on timing.

Inside a section every BLAS library of the process runs on the calling thread
(:func:`blas_on_calling_thread`): the parallelism is torch's and the slices'. This matters where
the host process links a BLAS into its executable (``qgis_process`` and the QGIS desktop on
Debian link OpenBLAS): its symbols are then found before those of torch's own math library, so
torch's matrix products run on that BLAS, whose idle worker threads spin (``sched_yield``) on
the cores torch's threads need.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .host_blas import warn_about_host_blas

T = TypeVar("T")
LOG = logging.getLogger(__name__)

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_SECTION_LOCK = threading.RLock()
_BLAS: list[Any] = []  # the process's threadpoolctl controller, made at the first section


def _blas_controller() -> Any:
    """The BLAS libraries loaded in this process (a threadpoolctl controller), or None without it.

    Made at the first section, which also logs what a host BLAS under torch means
    (:func:`.host_blas.warn_about_host_blas`).
    """
    if not _BLAS:
        warn_about_host_blas()
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            LOG.info("threadpoolctl is not installed: a BLAS library loaded by the host process "
                     "may compete with torch for the CPU; install the plugin's requirements "
                     "(requirements.txt) to avoid it")
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController())
    return _BLAS[0]


@contextlib.contextmanager
def blas_on_calling_thread() -> Iterator[None]:
    """Run the body with every BLAS library of the process limited to one thread, then restore.

    Uses threadpoolctl (the library scikit-learn uses to the same end), which finds each BLAS
    loaded in the process, whatever its vendor, and sets its thread count through the vendor's
    own call. Without threadpoolctl the body runs unchanged (logged once).
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run the body with ``count`` (at least 1) torch intra-op threads, then restore the previous number."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def parallel_slices(device: Any, most: int, *, always: bool = False) -> Iterator[int]:
    """A section whose body runs up to ``most`` slices at once; yields how many (>= 1).

    On the CPU: ``min(most, torch threads)`` slices (``most`` with ``always``: slices that must
    meet each other, whatever the thread count), each with ``threads // slices`` (at least 1)
    intra-op threads and every BLAS on its calling thread while the section lasts; elsewhere
    1 slice and the threads untouched.
    """
    import torch

    with _SECTION_LOCK:
        if torch.device(device).type != "cpu":
            yield 1
            return
        threads = torch.get_num_threads()
        slices = max(1, most if always else min(most, threads))
        with blas_on_calling_thread(), intra_op_threads(threads // slices):
            yield slices


def _pool(workers: int) -> ThreadPoolExecutor:
    """The worker threads, made once per process and grown when more are asked for.

    Not the numba kernels' pool (:mod:`...models.kernel_threads`): a slice running on this pool may
    queue kernel work on that one and wait for it, which one shared pool could deadlock.
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:  # noqa: SLF001 - its documented size
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dms2f-slice")
        return _POOL


def run_in_parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at once (the first on this thread) and return their results in order.

    The caller shares out the intra-op threads (:func:`parallel_slices`); an exception of any call is
    raised here after all have finished.
    """
    if len(calls) <= 1:
        return [call() for call in calls]
    futures = [_pool(len(calls) - 1).submit(call) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        rest = [f.exception() for f in futures]  # wait for every call before raising
    for error in rest:
        if error is not None:
            raise error
    return [first, *(f.result() for f in futures)]
