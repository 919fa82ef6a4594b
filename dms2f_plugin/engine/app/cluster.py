"""Dask clusters for campaigns and tile-parallel scoring: an existing scheduler, or a LocalCluster.

``dask`` and ``distributed`` are optional: they are imported only here, lazily, and their
absence is a :class:`~..errors.DependencyError` naming the install command; everything else in
the engine runs without them.

Sizing a local cluster (:func:`plan_cluster`, checked before any work starts):

- threads per worker: ``threads`` (default 1). Each task gives torch that many threads, so a
  worker never runs more threads than it was given;
- workers: ``workers``, by default as many as the cores allow (``cores // threads``), then fewer
  if the machine's memory cannot hold that many memory limits;
- memory limit per worker: ``memory_limit``, by default the engine's estimate for the largest
  task (:func:`..detectors.memory.estimate_detect_memory`) with headroom
  (:func:`..detectors.memory.worker_memory_limit`).

Bounds: 1 <= workers <= cores, 1 <= threads <= cores, workers x threads <= cores,
256 MiB <= memory limit, workers x memory limit <= the machine's memory (cgroup limits
included). With a scheduler address the cluster sizes itself: workers and memory limit are
refused, threads stays the torch thread count of each task.

Worker processes of a local cluster start with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` set to the threads per worker and ``OMP_WAIT_POLICY=PASSIVE`` (what
:func:`..detectors.device.passive_openmp_wait` sets, before torch loads), and without Dask's
``MALLOC_TRIM_THRESHOLD_=65536``: torch frees and reallocates large buffers at every fitting
step, and trimming at 64 KiB hands them back to the kernel and faults them in again, which
costs system time on every step (unless the user's environment sets it). Dask's nanny sets these
in the process that starts the cluster too; :func:`open_cluster` puts that process's values back
when the cluster closes. Every worker, local or remote, also runs :mod:`.worker_setup` when the
client connects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import multiprocessing.spawn
import os
from collections.abc import Iterator
from typing import Any

from ..detectors.memory import MIB, worker_memory_limit
from ..errors import ClusterError, DependencyError, InputError

LOGGER = logging.getLogger(__name__)

#: The command that installs the cluster packages (their pinned versions are in requirements.txt).
INSTALL_HINT = ("pip install -r requirements.txt from the plugin folder into the Python that runs "
                "dms2f-had (or: python3 <plugin folder>/dms2f_plugin/deps.py install)")
#: Smallest memory limit accepted per worker.
MIN_MEMORY_LIMIT = 256 * MIB
#: Environment variables a local cluster's worker processes start with (values per plan).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CONNECT_TIMEOUT_S = 10


def import_distributed() -> Any:
    """Import ``distributed`` (and ``dask``) or raise a :class:`DependencyError` with the fix."""
    try:
        import dask  # noqa: F401 - distributed needs it; a clearer message if it is the one missing
        import distributed
    except ImportError as exc:
        raise DependencyError(
            f"Running on a Dask cluster needs the Python packages dask and distributed ({exc}); "
            f"install them with: {INSTALL_HINT}. Without them, run scenes one at a time "
            "('dms2f-had detect', or 'batch --serial').") from None
    return distributed


@dataclasses.dataclass(frozen=True)
class ClusterRequest:
    """What the user asked for.

    Attributes:
        scheduler: address of an existing scheduler (``tcp://host:8786``); None starts a local
            cluster.
        workers: local cluster: worker processes (None: sized to the machine).
        threads: threads per worker, which is also each task's torch thread count (None: 1 on a
            local cluster; on a scheduler, each worker's own thread count).
        memory_limit: local cluster: memory per worker, bytes or text like ``"4GiB"`` (None:
            from the engine's estimate).
        python: local cluster: the Python interpreter that runs the worker processes (None:
            this one; QGIS passes a real interpreter, since its own executable is QGIS).
    """

    scheduler: str | None = None
    workers: int | None = None
    threads: int | None = None
    memory_limit: int | str | None = None
    python: str | None = None


@dataclasses.dataclass(frozen=True)
class ClusterPlan:
    """A checked request: the address to connect to, or the local cluster's size."""

    scheduler: str | None
    workers: int
    threads: int | None
    memory_limit: int
    python: str | None = None

    def describe(self) -> str:
        """One line for the log and the progress display."""
        if self.scheduler:
            return f"Dask scheduler {self.scheduler}"
        from dask.utils import format_bytes

        plural = "s" if self.threads != 1 else ""
        return (f"local Dask cluster: {self.workers} worker(s) x {self.threads} thread{plural}, "
                f"memory limit {format_bytes(self.memory_limit)} each")


def machine_resources() -> tuple[int, int]:
    """Cores and memory (bytes) this process may use, cgroup and affinity limits included."""
    import_distributed()
    from dask.system import CPU_COUNT
    from distributed.system import MEMORY_LIMIT

    return int(CPU_COUNT), int(MEMORY_LIMIT)


def _parse_memory(value: int | str) -> int:
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(value))
    except (ValueError, TypeError):
        raise InputError(f"Memory limit '{value}' is not a size; write it like 4GiB, 3.5GB or "
                         "4000000000 (bytes).") from None


def plan_cluster(request: ClusterRequest, estimate: int, *, cores: int | None = None,
                 memory: int | None = None) -> ClusterPlan:
    """Check ``request`` against the machine and size a local cluster (module docstring).

    Args:
        request: what the user asked for.
        estimate: the engine's memory estimate of the largest task, in bytes.
        cores: the machine's cores (None: measured).
        memory: the machine's memory in bytes (None: measured).

    Returns:
        The plan.

    Raises:
        InputError: a number out of its bounds, or options that do not apply to a scheduler.
        DependencyError: dask or distributed missing.
    """
    import_distributed()
    if request.threads is not None and request.threads < 1:
        raise InputError(f"--threads must be at least 1, got {request.threads}.")
    if request.scheduler:
        if request.workers is not None or request.memory_limit is not None:
            raise InputError("--workers and --memory-limit size a local cluster; the cluster at "
                             f"'{request.scheduler}' has its own workers. Drop them, or drop "
                             "--scheduler to start a local cluster.")
        return ClusterPlan(request.scheduler, 0, request.threads, 0)
    if cores is None or memory is None:
        measured_cores, measured_memory = machine_resources()
        cores, memory = cores or measured_cores, memory or measured_memory
    threads = request.threads or 1
    if threads > cores:
        raise InputError(f"--threads {threads} is more than the {cores} core(s) of this machine; "
                         f"use at most {cores}.")
    if request.workers is not None and not 1 <= request.workers <= cores:
        raise InputError(f"--workers must be between 1 and the {cores} core(s) of this machine, "
                         f"got {request.workers}; for more workers connect to a bigger cluster "
                         "with --scheduler.")
    if request.workers is not None and request.workers * threads > cores:
        raise InputError(f"{request.workers} workers x {threads} threads exceed the {cores} "
                         "core(s) of this machine; lower --workers or --threads.")
    if estimate > memory:
        raise InputError(f"One task needs about {estimate / MIB:.0f} MiB but this machine has "
                         f"{memory / MIB:.0f} MiB; use smaller tiles (--tile-size) or a bigger "
                         "machine (--scheduler).")
    if request.memory_limit is not None:
        limit = _parse_memory(request.memory_limit)
        if not MIN_MEMORY_LIMIT <= limit <= memory:
            raise InputError(f"--memory-limit {request.memory_limit} must be between 256MiB and "
                             f"this machine's {memory / 2**30:.1f} GiB.")
        if limit < estimate:
            LOGGER.warning("--memory-limit %s is below the engine's estimate of %.0f MiB per task; "
                           "Dask restarts a worker that passes its limit.", request.memory_limit,
                           estimate / MIB)
    else:
        limit = max(MIN_MEMORY_LIMIT, min(worker_memory_limit(estimate), memory))
    fit = max(1, memory // limit)
    if request.workers is not None:
        if request.workers > fit:
            raise InputError(f"{request.workers} workers x {limit / MIB:.0f} MiB exceed this "
                             f"machine's {memory / MIB:.0f} MiB; use at most --workers {fit} or a "
                             "smaller --memory-limit.")
        workers = request.workers
    else:
        workers = max(1, min(cores // threads, fit))
    return ClusterPlan(None, workers, threads, limit, request.python)


@dataclasses.dataclass
class ClusterSession:
    """An open client (and, for a local cluster, the cluster it owns)."""

    client: Any
    description: str
    dashboard: str | None
    threads: int | None

    def total_threads(self) -> int:
        """Threads over all workers now connected (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))


#: The scheduler's HTTP server (the dashboard, when bokeh is installed) on a free local port.
DASHBOARD_ADDRESS = "127.0.0.1:0"


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Dask's own INFO/WARNING chatter only with -vv (DEBUG); our messages say what matters."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


#: Dask settings of a local cluster. Its tasks last seconds to minutes, so the statistical
#: profiler (a stack sample every 10 ms), the GIL monitor and work stealing only cost CPU, and
#: the event-loop tick, memory and system monitors need not wake every few milliseconds: each
#: wake-up takes the GIL from the task thread.
LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


def _start_local(distributed: Any, plan: ClusterPlan, environ: dict[str, str]) -> Any:
    import dask

    try:
        with dask.config.set({**LOCAL_CONFIG, "distributed.nanny.pre-spawn-environ": environ}):
            return distributed.LocalCluster(
                n_workers=plan.workers, threads_per_worker=plan.threads,
                memory_limit=plan.memory_limit, processes=True, host="127.0.0.1",
                dashboard_address=DASHBOARD_ADDRESS, silence_logs=logging.ERROR)
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ClusterError(
            f"Could not start the local Dask cluster ({' '.join(str(exc).split())}). Its workers "
            "are new Python processes: a script that starts one must guard its top level with "
            "if __name__ == '__main__':, and the Python that runs them must import this plugin."
        ) from None


@contextlib.contextmanager
def _process_environment(plan: ClusterPlan) -> Iterator[dict[str, str]]:
    """The worker environment of ``plan``; on exit this process's own values come back."""
    threads = str(plan.threads or 1)
    environ = {name: threads for name in THREAD_VARIABLES}
    environ["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:  # Dask's default (64 KiB) is left out on purpose
        environ["MALLOC_TRIM_THRESHOLD_"] = os.environ["MALLOC_TRIM_THRESHOLD_"]
    saved = {name: os.environ.get(name) for name in environ}
    executable = multiprocessing.spawn.get_executable()
    if plan.python:
        multiprocessing.spawn.set_executable(plan.python)
    try:
        yield environ
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if executable is not None:
            multiprocessing.spawn.set_executable(executable)


def _connect(address: str) -> Any:
    distributed = import_distributed()
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"Cannot reach the Dask scheduler at '{address}' ({exc}); check the "
                           "address (e.g. tcp://host:8786) and that the scheduler is running."
                           ) from None


def _check_versions(client: Any) -> None:
    """Refuse workers whose dask, distributed or Python differ from this process's."""
    try:
        client.get_versions(check=True)
    except ValueError as exc:
        raise ClusterError("The Dask workers run other versions of Python packages than this "
                           f"process: {' '.join(str(exc).split())[:400]}; install the same "
                           f"versions everywhere ({INSTALL_HINT}).") from None


@contextlib.contextmanager
def open_cluster(plan: ClusterPlan) -> Iterator[ClusterSession]:
    """Connect to the plan's scheduler, or start its local cluster; close both on exit.

    Raises:
        ClusterError: the scheduler cannot be reached, or its workers run other versions.
        DependencyError: dask or distributed missing.
    """
    distributed = import_distributed()
    from .worker_setup import WorkerSetup

    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask_logs())
        if plan.scheduler:
            client = stack.enter_context(_connect(plan.scheduler))
        else:
            environ = stack.enter_context(_process_environment(plan))
            cluster = stack.enter_context(_start_local(distributed, plan, environ))
            client = stack.enter_context(distributed.Client(cluster))
        _check_versions(client)
        level = logging.getLogger().getEffectiveLevel()
        client.register_plugin(WorkerSetup(level), name="dms2f-worker-setup")
        dashboard = client.dashboard_link if _has_dashboard(client) else None
        session = ClusterSession(client, plan.describe(), dashboard, plan.threads)
        LOGGER.info("Using %s%s", session.description,
                    f"; dashboard {dashboard}" if dashboard else "")
        yield session


def _has_dashboard(client: Any) -> bool:
    """Whether the scheduler serves Dask's dashboard (it needs bokeh, here and there)."""
    if importlib.util.find_spec("bokeh") is None:
        return False
    try:
        return "dashboard" in client.scheduler_info().get("services", {})
    except (OSError, KeyError, AttributeError):
        return False
