"""The threads that run the numba kernels of :mod:`.numba_kernels` on slices of a batch.

Kept apart from the kernels: nothing here is compiled, so changing it does not invalidate the kernels'
on-disk cache. The kernels are serial and release the GIL; :func:`run_batched` gives each
``torch.get_num_threads()`` thread its own batch rows, so numba's threading layer never starts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import torch

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The kernels' worker threads, made once and grown when more are asked for."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:  # noqa: SLF001 - its documented size
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dms2f-kernel")
        return _POOL


def run_batched(kernel: Callable[..., None], batched: list[Any], shared: list[Any]) -> None:
    """Run ``kernel(*batched, *shared)`` on slices of the batch (axis 0), one per torch thread.

    ``batched`` are arrays with the batch first (numpy views, :func:`.numba_kernels.as_arrays`);
    ``shared`` (arrays, flags) is passed whole to every slice. The calling thread runs the first
    slice itself; the others run on a pool of threads kept for the process.
    """
    batch = batched[0].shape[0]
    workers = max(1, min(torch.get_num_threads(), batch))
    bounds = [batch * i // workers for i in range(workers + 1)]
    slices = [[a[lo:hi] for a in batched] + shared for lo, hi in zip(bounds, bounds[1:])]
    futures = [_pool(workers - 1).submit(kernel, *args) for args in slices[1:]] if workers > 1 else []
    kernel(*slices[0])
    for future in futures:
        future.result()
