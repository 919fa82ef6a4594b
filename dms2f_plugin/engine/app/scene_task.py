"""One scene of a campaign, start to finish: the task a Dask worker runs (or this process, serially).

:func:`run_scene` calls ``jobs.detect`` (the same code path as ``dms2f-had detect``), then
``jobs.threshold`` when a threshold was asked for, then publishes the scene's manifest
(:func:`.campaign.write_manifest`). Every output goes through the engine's atomic writer, so a
failed or cancelled scene leaves no partial file. An engine error (bad file, out of memory, ...)
becomes a ``failed`` outcome carrying its one-line message; anything else propagates, so that
Dask can retry the task.

Peak memory is the resident set's high-water mark of the process while the scene ran (Linux:
reset before the scene through ``/proc/self/clear_refs``, read from ``VmHWM``; elsewhere the
process's peak so far). A worker with several threads runs several scenes at once, and they then
share that peak.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import Any

from ..errors import CancelledError, Dms2fError
from ..progress import NullProgress, Progress
from .campaign import SceneJob, write_manifest

LOGGER = logging.getLogger(__name__)
STATUSES = ("done", "failed", "skipped", "cancelled")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclasses.dataclass(frozen=True)
class SceneOutcome:
    """What became of one scene.

    Attributes:
        name: the scene name (its outputs' prefix).
        input: the input path.
        status: ``done``, ``failed``, ``skipped`` (complete from an earlier run) or
            ``cancelled``.
        seconds: wall time of the scene (the earlier run's, for a skipped scene).
        peak_memory_mb: peak resident memory while it ran (module docstring), if known.
        anomaly_pixels: pixels over the threshold, when a threshold was asked for.
        detections: detected objects (polygons), when a threshold was asked for.
        error: the one-line reason of a failure.
        score: the score raster written.
        worker: where it ran (a worker address, or ``local``).
    """

    name: str
    input: str
    status: str
    seconds: float | None = None
    peak_memory_mb: float | None = None
    anomaly_pixels: int | None = None
    detections: int | None = None
    error: str | None = None
    score: str | None = None
    worker: str = "local"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dataclasses.asdict(self)


def one_line(message: object) -> str:
    """A message on one line."""
    return " ".join(str(message).split())


def _reset_peak_memory() -> bool:
    try:
        _CLEAR_REFS.write_text("5", encoding="ascii")
        return True
    except OSError:
        return False


def _peak_memory_mb() -> float | None:
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return None


def run_scene(job: SceneJob, progress: Progress | None = None, *,
              worker: str = "local") -> SceneOutcome:
    """Detect one scene (and threshold it), write its manifest; never raise an engine error.

    Args:
        job: the scene and its options.
        progress: progress of this scene and its cancel.
        worker: recorded in the outcome.

    Returns:
        The outcome; ``failed`` with the one-line message for an engine error, ``cancelled`` on
        a cancel.
    """
    from . import jobs

    progress = progress or NullProgress()
    options, outputs = job.options, job.outputs
    started = time.perf_counter()
    _reset_peak_memory()
    base = functools.partial(SceneOutcome, job.name, job.input, worker=worker)
    try:
        result = jobs.detect(
            job.input, outputs.score, method=options.method, bands=options.bands,
            keep_all_bands=options.keep_all_bands, preset=options.preset, device=options.device,
            seed=options.seed,
            threads=job.threads, steps=options.steps, save_model=outputs.model,
            local_window=options.local_window, inner_window=options.inner_window,
            outer_window=options.outer_window, tile_size=options.tile_size, progress=progress)
        anomalies = detections = None
        if options.threshold is not None and outputs.mask is not None:
            thresholded = jobs.threshold(outputs.score, outputs.mask, method=options.threshold,
                                         value=options.threshold_value,
                                         min_size=options.min_size,
                                         vector_path=outputs.detections, progress=progress)
            anomalies, detections = thresholded.anomaly_pixels, thresholded.objects
        seconds = time.perf_counter() - started
        peak = _peak_memory_mb()
        write_manifest(job, {"width": result.width, "height": result.height,
                             "bands": result.bands, "seconds": seconds, "peak_memory_mb": peak,
                             "anomaly_pixels": anomalies, "detections": detections,
                             "device": result.device, "worker": worker})
    except CancelledError:
        return base(status="cancelled", seconds=time.perf_counter() - started)
    except (Dms2fError, OSError) as exc:  # OSError: the manifest could not be written
        LOGGER.info("Scene '%s' failed: %s", job.input, one_line(exc))
        return base(status="failed", seconds=time.perf_counter() - started,
                    peak_memory_mb=_peak_memory_mb(), error=one_line(exc))
    return base(status="done", seconds=seconds, peak_memory_mb=peak, anomaly_pixels=anomalies,
                detections=detections, score=str(outputs.score))


def skipped_outcome(job: SceneJob, manifest: dict[str, Any]) -> SceneOutcome:
    """The outcome of a scene found complete (its earlier run's numbers)."""
    return SceneOutcome(name=job.name, input=job.input, status="skipped",
                        seconds=manifest.get("seconds"),
                        peak_memory_mb=manifest.get("peak_memory_mb"),
                        anomaly_pixels=manifest.get("anomaly_pixels"),
                        detections=manifest.get("detections"), score=str(job.outputs.score),
                        worker=str(manifest.get("worker", "local")))
