"""What every Dask worker runs once when a DMS2F-HAD client connects (local or remote cluster).

Imported only where ``distributed`` is installed (by :mod:`.cluster` and, on the workers, when
the plugin is unpickled).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from distributed import WorkerPlugin

from ..detectors.device import passive_openmp_wait

LOGGER = logging.getLogger(__name__)
#: GDAL's block cache per worker unless the worker's environment sets ``GDAL_CACHEMAX``.
GDAL_CACHE_BYTES = 256 * 1024 * 1024
#: The logger of the whole plugin (its modules log under it).
ENGINE_LOGGER = __name__.split(".")[0]


class WorkerSetup(WorkerPlugin):
    """Prepares each worker for the engine's tasks.

    Passive OpenMP waiting before torch loads, a bounded GDAL cache, and the engine's log
    messages on the worker's stderr at the client's level, marked as a worker's.
    """

    def __init__(self, log_level: int = logging.WARNING) -> None:
        """Remember the client's log level."""
        self.log_level = log_level

    def setup(self, worker: Any) -> None:
        """Prepare the worker process (it may have run other clients' tasks before)."""
        passive_openmp_wait()
        if "GDAL_CACHEMAX" not in os.environ:
            from osgeo import gdal

            gdal.SetCacheMax(GDAL_CACHE_BYTES)
        engine = logging.getLogger(ENGINE_LOGGER)
        if not any(getattr(h, "dms2f_worker", False) for h in engine.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(
                f"dms2f-had worker {getattr(worker, 'name', '?')}: %(levelname)s: %(message)s"))
            handler.dms2f_worker = True  # type: ignore[attr-defined]
            engine.addHandler(handler)
            engine.propagate = False
        engine.setLevel(self.log_level)
        LOGGER.debug("DMS2F-HAD worker set up: %s", getattr(worker, "address", "?"))

def worker_threads(default: int | None = None) -> int | None:
    """``default`` when given, else the number of threads of the worker running this task."""
    if default is not None:
        return default
    from distributed import get_worker

    try:
        return int(get_worker().state.nthreads)
    except ValueError:  # not on a worker (the serial path)
        return None
