"""Campaigns: many scenes, one task each, on a Dask cluster or one after the other in this process.

:func:`batch` is the user-level task behind ``dms2f-had batch`` and the QGIS algorithm
``dms2f:detect_many``. It expands the inputs, plans every scene's outputs
(:mod:`.campaign`), checks the cluster request against the machine (:mod:`.cluster`), all
before any work starts, then runs :func:`.scene_task.run_scene` once per scene that is not
already complete (with ``resume``):

- **serially** (``plan=None``): in this process, one after the other: the plain reference path,
  which needs no Dask;
- **on a cluster**: one Dask task per scene. A scene that fails is reported with its one-line
  error and the others go on; a task whose worker dies is run again by Dask (up to the
  scheduler's ``allowed-failures``); a task that raises something other than an engine error is
  retried ``retries`` times.

Each update (a scene finished, or the counts changed) goes to ``listener`` as a
:class:`CampaignStatus`; ``progress`` gets the share of scenes finished and may cancel: the
running scenes stop within one tile or fitting step (they poll a Dask ``Event``), leave no
partial file, and the rest are not started; Ctrl-C (``KeyboardInterrupt``) cancels the same
way. The summary (:mod:`.campaign_summary`) is written at the end, also after a cancel.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..detectors.memory import estimate_detect_memory
from ..errors import CancelledError, Dms2fError, InputError
from ..progress import NullProgress, Progress, SubProgress
from ..types import PathLike
from .campaign import DetectOptions, SceneJob, expand_inputs, plan_campaign, read_manifest
from .campaign_summary import counts, write_summary
from .cluster import ClusterPlan, ClusterRequest, import_distributed, open_cluster, plan_cluster
from .scene_task import SceneOutcome, one_line, run_scene, skipped_outcome

LOGGER = logging.getLogger(__name__)
POLL_SECONDS = 1.0
#: How long a cancel waits for the running scenes to stop before leaving them to the cluster.
CANCEL_GRACE_SECONDS = 120.0
MAX_RETRIES = 10


@dataclasses.dataclass(frozen=True)
class CampaignStatus:
    """Where a campaign stands.

    Attributes:
        total: scenes in the campaign.
        done: scenes detected in this run.
        failed: scenes that failed.
        skipped: scenes complete from an earlier run.
        running: scenes being processed now (on a cluster: what the scheduler reports).
        queued: scenes not started yet.
        finished: the scene this update is about, if one just finished.
        cluster: the cluster in use (None: serial).
        dashboard: Dask's dashboard address, when there is one.
    """

    total: int
    done: int
    failed: int
    skipped: int
    running: int
    queued: int
    finished: SceneOutcome | None = None
    cluster: str | None = None
    dashboard: str | None = None

    @property
    def settled(self) -> int:
        """Scenes that need no more work (done, failed or skipped)."""
        return self.done + self.failed + self.skipped


Listener = Callable[[CampaignStatus], None]
SceneTask = Callable[[SceneJob, str], SceneOutcome]


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    """Outcome of :func:`batch`: every scene's outcome (input order) and the summary files."""

    outcomes: list[SceneOutcome]
    summary_csv: Path
    summary_json: Path
    seconds: float
    cluster: str | None

    @property
    def failed(self) -> list[SceneOutcome]:
        """The scenes that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


class _EventCancel:
    """A worker-side ``Progress`` whose cancel is a Dask ``Event`` (polled at most once a second)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._event: Any = None
        self._checked = 0.0
        self._set = False

    def set_progress(self, percent: float) -> None:  # noqa: D102 - protocol method
        pass

    def is_canceled(self) -> bool:  # noqa: D102 - protocol method
        now = time.monotonic()
        if not self._set and now - self._checked >= 1.0:
            from distributed import Event

            self._checked = now
            self._event = self._event or Event(self._name)
            self._set = bool(self._event.is_set())
        return self._set


def scene_on_worker(job: SceneJob, cancel_event: str) -> SceneOutcome:
    """The Dask task of one scene: :func:`run_scene` with the worker's threads and cancel."""
    from distributed import get_worker

    worker = get_worker()
    job = dataclasses.replace(job, threads=job.threads or int(worker.state.nthreads))
    return run_scene(job, _EventCancel(cancel_event), worker=str(worker.address))


def _scene_memory(job: SceneJob) -> int | None:
    """The engine's estimate for one scene from its header; None if it cannot be opened."""
    from ..io.raster import open_raster

    options = job.options
    try:
        with open_raster(job.input, bands=options.bands, min_bands=1) as source:
            width, height, bands = source.width, source.height, source.band_count
    except Dms2fError as exc:
        LOGGER.info("No memory estimate for '%s' (%s); it will fail on its own", job.input,
                    one_line(exc))
        return None
    return estimate_detect_memory(method=options.method, width=width, height=height,
                                  bands=bands, tile_size=options.tile_size,
                                  preset=options.preset, local_window=options.local_window,
                                  outer_window=options.outer_window,
                                  in_memory_input=job.input.lower().endswith(".mat"))


def campaign_memory(jobs: Sequence[SceneJob]) -> int:
    """The largest per-scene memory estimate of a campaign (bytes)."""
    estimates = [e for e in (_scene_memory(job) for job in jobs) if e is not None]
    if estimates:
        return max(estimates)
    return estimate_detect_memory(method=jobs[0].options.method if jobs else "rx", width=1,
                                  height=1, bands=1)


def batch(inputs: Sequence[str], output_dir: PathLike, *, options: DetectOptions,
          list_files: Sequence[PathLike] = (), cluster: ClusterRequest | None = None,
          threads: int | None = None, resume: bool = False, retries: int = 2,
          progress: Progress | None = None, listener: Listener | None = None,
          task: SceneTask | None = None) -> CampaignResult:
    """Detect anomalies in many scenes (module docstring).

    Args:
        inputs: files, glob patterns or GDAL connection strings.
        output_dir: where every scene's outputs and the summary go (created if missing).
        options: the detect options of every scene.
        list_files: text files listing more inputs, one per line.
        cluster: where to run (None: serially in this process).
        threads: torch threads per scene (on a cluster: also each worker's threads).
        resume: skip scenes whose outputs are complete (see :mod:`.campaign`).
        retries: reruns of a cluster task that raised something other than an engine error.
        progress: share of scenes finished; its cancel stops the campaign.
        listener: receives a :class:`CampaignStatus` at every change.
        task: the cluster task per scene (default :func:`scene_on_worker`; tests wrap it).

    Returns:
        A :class:`CampaignResult`; failed scenes are in it, not raised.

    Raises:
        InputError, OutputError: bad inputs, options or output folder (before any work).
        DependencyError: a cluster asked for without dask/distributed.
        ClusterError: the scheduler cannot be reached.
        CancelledError: cancelled (the finished scenes and the summary are kept).
    """
    started = time.perf_counter()
    if not 0 <= retries <= MAX_RETRIES:
        raise InputError(f"--retries must be between 0 and {MAX_RETRIES}, got {retries}.")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}.")
    folder = Path(output_dir).expanduser()
    jobs = plan_campaign(expand_inputs(inputs, list_files), folder, options,
                         threads=None if cluster else threads)
    outcomes: dict[str, SceneOutcome] = {}
    if resume:
        for job in jobs:
            manifest = read_manifest(job)
            if manifest is not None:
                outcomes[job.name] = skipped_outcome(job, manifest)
    todo = [job for job in jobs if job.name not in outcomes]
    plan = None
    if cluster is not None:
        request = dataclasses.replace(cluster, threads=cluster.threads or threads)
        needs_estimate = not request.scheduler and request.memory_limit is None and todo
        plan = plan_cluster(request, campaign_memory(todo) if needs_estimate else 0)
    LOGGER.info("Campaign: %d scene(s), %d complete already, %d to run", len(jobs),
                len(jobs) - len(todo), len(todo))
    runner = _ClusterRun(plan, retries, task or scene_on_worker) if plan else None
    where = plan.describe() if plan else None
    cancelled = False
    try:
        if runner is not None and todo:
            runner.run(jobs, todo, outcomes, progress or NullProgress(), listener)
        else:
            _run_serially(jobs, todo, outcomes, progress or NullProgress(), listener, where)
    except (CancelledError, KeyboardInterrupt):  # the running scenes left no partial file
        cancelled = True
    ordered = [outcomes.get(job.name) or SceneOutcome(job.name, job.input, "cancelled")
               for job in jobs]
    seconds = time.perf_counter() - started
    csv_path, json_path = write_summary(ordered, folder, campaign={
        "cluster": where or "serial", "seconds": round(seconds, 2),
        "options": options.as_dict(), "dashboard": runner.dashboard if runner else None})
    if cancelled:
        finished = counts(ordered)
        raise CancelledError(f"Cancelled by the user after {finished['done']} scene(s); finished "
                             "scenes keep their outputs, no partial file was left, and a run "
                             "with resume continues where this one stopped.")
    return CampaignResult(ordered, csv_path, json_path, seconds, where)


def _status(jobs: Sequence[SceneJob], outcomes: dict[str, SceneOutcome], running: int,
            finished: SceneOutcome | None = None, cluster: str | None = None,
            dashboard: str | None = None) -> CampaignStatus:
    total = counts(list(outcomes.values()))
    settled = total["done"] + total["failed"] + total["skipped"]
    return CampaignStatus(total=len(jobs), done=total["done"], failed=total["failed"],
                          skipped=total["skipped"], running=running,
                          queued=max(0, len(jobs) - settled - running), finished=finished,
                          cluster=cluster, dashboard=dashboard)


def _run_serially(jobs: Sequence[SceneJob], todo: Sequence[SceneJob],
                  outcomes: dict[str, SceneOutcome], progress: Progress,
                  listener: Listener | None, cluster: str | None = None) -> None:
    """Run ``todo`` here, one after the other (``cluster``: named when nothing is left to run)."""
    notify = listener or (lambda status: None)
    notify(_status(jobs, outcomes, 0, cluster=cluster))
    for job in todo:
        base = 100.0 * len(outcomes) / len(jobs)
        notify(_status(jobs, outcomes, 1))
        outcome = run_scene(job, SubProgress(progress, base, base + 100.0 / len(jobs)))
        if outcome.status == "cancelled":
            raise CancelledError("cancelled")
        outcomes[job.name] = outcome
        progress.set_progress(100.0 * len(outcomes) / len(jobs))
        notify(_status(jobs, outcomes, 0, outcome))


class _ClusterRun:
    """One campaign on a Dask cluster (see :func:`batch`)."""

    def __init__(self, plan: ClusterPlan, retries: int, task: SceneTask) -> None:
        self.plan, self.retries, self.task = plan, retries, task
        self.dashboard: str | None = None

    def run(self, jobs: Sequence[SceneJob], todo: Sequence[SceneJob],
            outcomes: dict[str, SceneOutcome], progress: Progress,
            listener: Listener | None) -> None:
        distributed = import_distributed()
        notify = listener or (lambda status: None)
        with open_cluster(self.plan) as session:
            self.dashboard = session.dashboard
            client = session.client
            run = uuid.uuid4().hex[:12]
            event = distributed.Event(f"dms2f-cancel-{run}", client=client)
            pending = {client.submit(self.task, job, event.name, key=f"dms2f-scene-{i}-{run}",
                                     pure=False, retries=self.retries): job
                       for i, job in enumerate(todo)}

            def status(finished: SceneOutcome | None = None) -> CampaignStatus:
                return _status(jobs, outcomes, self._running(client, pending), finished,
                               session.description, session.dashboard)

            notify(status())
            shown = status()
            try:
                while pending:
                    if progress.is_canceled():
                        raise CancelledError("cancelled")
                    try:
                        done = distributed.wait(list(pending), timeout=POLL_SECONDS,
                                                return_when="FIRST_COMPLETED").done
                    except TimeoutError:
                        done = set()
                    for future in done:
                        job = pending.pop(future)
                        outcome = _outcome(future, job)
                        outcomes[job.name] = outcome
                        progress.set_progress(100.0 * len(outcomes) / len(jobs))
                        notify(status(outcome))
                    now = status()
                    if (now.running, now.queued) != (shown.running, shown.queued):
                        notify(now)
                        shown = now
            except (CancelledError, KeyboardInterrupt):  # Ctrl-C cancels like QGIS's Cancel
                self._cancel(distributed, client, event, pending, outcomes)
                raise CancelledError("cancelled") from None

    @staticmethod
    def _running(client: Any, pending: dict[Any, SceneJob]) -> int:
        keys = {future.key for future in pending}
        try:
            processing = client.processing()
        except (OSError, TimeoutError):
            return 0
        return sum(1 for tasks in processing.values() for key in tasks if key in keys)

    @staticmethod
    def _cancel(distributed: Any, client: Any, event: Any, pending: dict[Any, SceneJob],
                outcomes: dict[str, SceneOutcome]) -> None:
        """Stop the running scenes (they poll ``event``), drop the queued ones."""
        event.set()
        try:
            running = {key for tasks in client.processing().values() for key in tasks}
        except (OSError, TimeoutError):
            running = set()
        queued = [f for f in pending if f.key not in running]
        client.cancel(queued)
        started = [f for f in pending if f.key in running]
        try:
            distributed.wait(started, timeout=CANCEL_GRACE_SECONDS)
        except TimeoutError:
            LOGGER.warning("Some scenes did not stop within %.0f s; leaving them to the cluster",
                           CANCEL_GRACE_SECONDS)
        for future in started:
            if future.status == "finished":
                outcome = _outcome(future, pending[future])
                if outcome.status != "cancelled":
                    outcomes[outcome.name] = outcome


def _outcome(future: Any, job: SceneJob) -> SceneOutcome:
    """The task's outcome; a task that raised (after its retries) becomes a failed scene."""
    from distributed import KilledWorker

    try:
        result = future.result()
    except KilledWorker:
        return SceneOutcome(job.name, job.input, "failed",
                            error="the workers running it died repeatedly (out of memory? give "
                            "them more with --memory-limit)")
    except Exception as exc:  # noqa: BLE001 - a bug in a task must not end the campaign
        return SceneOutcome(job.name, job.input, "failed",
                            error=f"internal error: {type(exc).__name__}: {one_line(exc)}")
    if not isinstance(result, SceneOutcome):
        raise TypeError(f"scene task returned {type(result).__name__}, not SceneOutcome")
    return result
