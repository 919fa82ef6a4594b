"""One large raster across Dask workers: tiles scored in parallel, written by this process.

``jobs.detect(..., executor=DaskTileExecutor(plan))`` fits (or computes the RX statistics) here,
once, then :meth:`DaskTileExecutor.scored_tiles` ships the scorer to every worker once
(``client.scatter``; a DMS2F-HAD model travels as its model file, see
``FittedModel.__reduce__``) and submits one task per tile of the same global tile grid the serial
path walks. Each task opens the raster itself (so input files must be on storage every worker
sees), reads the tile with its halo and calls :func:`..detectors.tiled.score_tile`, exactly what
the serial loop calls; this process writes each returned core through the one atomic writer, as
the tiles arrive.

Parity: every tile runs the same code on the same pixels, so the map is bit-identical to
``detect`` in one process with the same torch thread count (``--threads``; a worker's tasks use
``threads`` torch threads, or the worker's own thread count when it is None). Floating-point
sums inside torch depend on the thread count, so only the thread count must match.

At most ``IN_FLIGHT_PER_THREAD`` tiles per worker thread are in flight, which bounds the memory
of the workers and of this process whatever the raster size. A cancel is honoured within one
tile: the outstanding tasks are cancelled and the writer drops its temporary file. A task whose
worker dies is run again by Dask (``distributed.scheduler.allowed-failures``); a task that raises
is retried ``retries`` times.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..detectors.tiled import TileScorer, score_tile
from ..errors import ClusterError, RasterReadError
from ..io.raster import open_raster
from ..io.tiles import Tile, TileGrid
from ..progress import Progress, check_cancel
from .cluster import ClusterPlan, ClusterSession, import_distributed, open_cluster

if TYPE_CHECKING:
    from ..io.raster import RasterSource

LOGGER = logging.getLogger(__name__)
IN_FLIGHT_PER_THREAD = 2
POLL_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class RasterRef:
    """How a worker opens the raster the client opened: the path and the band selection."""

    path: str
    bands: tuple[int, ...]

    @classmethod
    def of(cls, source: RasterSource) -> RasterRef:
        """The reference to an open source."""
        return cls(source.path, tuple(source.band_indices))

    def open(self) -> RasterSource:
        """Open it (an explicit band list: the same selection, bad-band rules aside)."""
        return open_raster(self.path, bands=list(self.bands), min_bands=1)


def score_tile_task(raster: RasterRef, scorer: TileScorer, tile: Tile,
                    threads: int | None) -> tuple[Tile, np.ndarray, int]:
    """A worker's task: score one tile as the serial loop would (``score_tile``).

    torch gets ``threads`` threads (None: the worker's), if the scorer loaded torch (a DMS2F-HAD
    scorer does when it arrives); RX never imports it.
    """
    if "torch" in sys.modules:
        from ..detectors.device import set_threads
        from .worker_setup import worker_threads

        set_threads(worker_threads(threads))
    with raster.open() as source:
        score, n_valid = score_tile(source, scorer, tile)
    return tile, score, n_valid


class DaskTileExecutor:
    """A ``TileExecutor`` on a Dask cluster; use it as a context manager around ``jobs.detect``.

    A local cluster starts when the first raster is scored (after the fit: its nannies set the
    thread variables of this process too) and closes on exit; a scheduler is connected to at
    once, so that an unreachable one fails before any work.
    """

    def __init__(self, plan: ClusterPlan, *, retries: int = 2) -> None:
        """Prepare (nothing starts yet).

        Args:
            plan: the checked cluster request (:func:`.cluster.plan_cluster`).
            retries: reruns of a tile task that raised.
        """
        self.plan = plan
        self.retries = retries
        self._stack: Any = None
        self.session: ClusterSession | None = None

    def __enter__(self) -> DaskTileExecutor:
        import contextlib

        self._stack = contextlib.ExitStack()
        if self.plan.scheduler:  # an unreachable scheduler fails before any work
            self._session()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self.session = None

    def _session(self) -> ClusterSession:
        if self.session is None:
            if self._stack is None:
                raise RuntimeError("use DaskTileExecutor as a context manager")
            self.session = self._stack.enter_context(open_cluster(self.plan))
        return self.session

    def scored_tiles(self, source: RasterSource, scorer: TileScorer, grid: TileGrid,
                     progress: Progress) -> Iterator[tuple[Tile, np.ndarray, int]]:
        """Yield every tile's ``(tile, score, valid count)`` as the workers finish them."""
        distributed = import_distributed()
        check_cancel(progress)
        session = self._session()
        client = session.client
        started = time.perf_counter()
        shipped = client.scatter(scorer, broadcast=True, hash=False)
        raster = RasterRef.of(source)
        run = uuid.uuid4().hex[:12]
        tiles = iter(grid)
        total, done = len(grid), 0
        limit = IN_FLIGHT_PER_THREAD * session.total_threads()
        pending: set[Any] = set()
        try:
            while done < total:
                for tile in tiles:
                    pending.add(client.submit(score_tile_task, raster, shipped, tile,
                                              self.plan.threads, pure=False,
                                              retries=self.retries,
                                              key=f"dms2f-tile-{tile.index}-{run}"))
                    if len(pending) >= limit:
                        break
                finished = _wait_some(distributed, pending, progress)
                for future in finished:
                    pending.discard(future)
                    yield _result(future, raster, self.plan)
                    done += 1
                    progress.set_progress(100.0 * done / total)
        finally:
            if pending:
                client.cancel(list(pending))
            client.cancel([shipped])
        LOGGER.info("Scored %d tile(s) on %s in %.1f s", total, session.description,
                    time.perf_counter() - started)


def _wait_some(distributed: Any, pending: set[Any], progress: Progress) -> list[Any]:
    """Block until at least one pending task finishes; check for a cancel meanwhile."""
    while True:
        check_cancel(progress)
        try:
            result = distributed.wait(list(pending), timeout=POLL_SECONDS,
                                      return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        if result.done:
            return list(result.done)


def _result(future: Any, raster: RasterRef, plan: ClusterPlan) -> tuple[Tile, np.ndarray, int]:
    """The task's result, with the engine's message for what can go wrong on a cluster."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        raise ClusterError(f"Dask workers died repeatedly while scoring '{raster.path}' ({exc}); "
                           "they may run out of memory: give them more (--memory-limit) or use "
                           "smaller tiles (--tile-size).") from None
    except RasterReadError as exc:
        if plan.scheduler:
            raise RasterReadError(f"A Dask worker could not read the input: {exc} Every worker "
                                  "must see the input at the same path (shared storage)."
                                  ) from None
        raise
