"""The command-line side of clusters: ``dms2f-had batch`` and ``detect --workers/--scheduler``.

:mod:`.cli` adds these options and dispatches here; this module turns them into
:func:`.batch.batch` and :class:`.tile_parallel.DaskTileExecutor` calls and draws the campaign's
progress on stderr: one line per finished scene, and on a terminal a status line (done, failed,
skipped, running, queued). The summary table goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InputError
from .campaign import THRESHOLD_METHODS

if TYPE_CHECKING:
    from .batch import CampaignStatus


def add_cluster_options(p: argparse.ArgumentParser, *, what: str, note: str) -> None:
    """``--scheduler``, ``--workers``, ``--memory-limit`` (``what`` runs on the workers)."""
    group = p.add_argument_group("Dask cluster", note)
    group.add_argument("--scheduler", metavar="ADDRESS", help="run " + what + " on the Dask "
                       "cluster of this scheduler (tcp://host:8786); inputs and outputs must be "
                       "on storage every worker sees")
    group.add_argument("--workers", type=int, metavar="N", help="run " + what + " on a local "
                       "Dask cluster of N worker processes (1 to the number of cores)")
    group.add_argument("--memory-limit", metavar="SIZE", help="memory per local worker, e.g. "
                       "4GiB (default: from the engine's estimate for the largest task)")


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``batch`` that ``detect`` does not have."""
    p.add_argument("inputs", metavar="INPUT", nargs="*", help="rasters or .mat scenes; glob "
                   "patterns (quoted) are expanded")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR",
                   help="folder for every scene's outputs and the summary (created if missing)")
    p.add_argument("--inputs-from", action="append", default=[], metavar="FILE",
                   help="text file listing inputs, one path or pattern per line")
    p.add_argument("--save-model", action="store_true",
                   help="also save each fitted DMS2F model (<scene>_model.safetensors)")
    p.add_argument("--threshold", choices=THRESHOLD_METHODS, help="also threshold each score "
                   "into <scene>_mask.tif and <scene>_detections.gpkg")
    p.add_argument("--threshold-value", type=float, metavar="X", help="the threshold method's "
                   "value (see 'threshold --help')")
    p.add_argument("--min-size", type=int, default=1, help="smallest detection kept, in pixels")
    p.add_argument("--resume", action="store_true", help="skip scenes whose outputs are "
                   "complete from an earlier run with the same options")
    p.add_argument("--serial", action="store_true", help="run the scenes one after the other "
                   "in this process (no Dask needed)")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="reruns of a scene whose "
                   "task raised an unexpected error (0 to 10; a lost worker's scene is always "
                   "rerun; default 2)")
    add_cluster_options(p, what="the scenes", note="One task per scene (default: a local "
                        "cluster sized to this machine). --threads is each worker's thread count "
                        "and each scene's torch threads (default 1).")


def _cluster_request(args: argparse.Namespace) -> Any:
    from .cluster import ClusterRequest

    return ClusterRequest(scheduler=args.scheduler, workers=args.workers,
                          threads=args.threads, memory_limit=args.memory_limit)


class CampaignDisplay:
    """Draws campaign updates on a stream (a ``batch.Listener``)."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self._stream, self._live = stream, live
        self._started = False
        self._line = ""

    def __call__(self, status: CampaignStatus) -> None:
        """Show one update."""
        if not self._started:
            self._started = True
            where = (f"on {status.cluster}" if status.cluster
                     else "in this process, one after the other")
            self._print(f"campaign: {status.total} scene(s) {where}"
                        + (f"; dashboard {status.dashboard}" if status.dashboard else ""))
            if status.skipped:
                self._print(f"  {status.skipped} scene(s) complete from an earlier run: skipped")
        outcome = status.finished
        if outcome is not None:
            head = f"[{status.settled}/{status.total}] {outcome.status:<6} {outcome.name}"
            if outcome.status == "failed":
                self._print(f"{head}: {outcome.error}")
            else:
                peak = (f", peak {outcome.peak_memory_mb:.0f} MB"
                        if outcome.peak_memory_mb is not None else "")
                self._print(f"{head} ({outcome.seconds or 0.0:.1f} s{peak})")
        if self._live:
            self._line = (f"done {status.done} | failed {status.failed} | skipped "
                          f"{status.skipped} | running {status.running} | queued {status.queued}")
            self._stream.write("\r" + self._line)
            self._stream.flush()

    def _print(self, text: str) -> None:
        if self._live and self._line:
            self._stream.write("\r" + " " * len(self._line) + "\r")
        self._stream.write(text + "\n")
        if self._live and self._line:
            self._stream.write(self._line)
        self._stream.flush()

    def finish(self) -> None:
        """End the status line."""
        if self._live and self._line:
            self._stream.write("\n")
            self._stream.flush()


def run_batch_command(args: argparse.Namespace, out: TextIO, err: TextIO,
                      fail: Callable[[str], None]) -> int:
    """Run ``dms2f-had batch``; print the summary; 0 when every scene succeeded, else 1."""
    from .batch import batch
    from .campaign import DetectOptions
    from .campaign_summary import format_table

    cluster_options = (args.scheduler, args.workers, args.memory_limit)
    if args.serial and any(v is not None for v in cluster_options):
        raise InputError("--serial runs in this process; drop --scheduler, --workers and "
                         "--memory-limit, or drop --serial.")
    options = DetectOptions(
        method=args.method, bands=args.bands, keep_all_bands=args.keep_all_bands,
        preset=args.preset, device=args.device,
        seed=args.seed, steps=args.steps, local_window=args.local_window,
        inner_window=args.inner_window, outer_window=args.outer_window,
        tile_size=args.tile_size, save_model=args.save_model, threshold=args.threshold,
        threshold_value=args.threshold_value, min_size=args.min_size)
    display = CampaignDisplay(err, live=err.isatty())
    try:
        result = batch(args.inputs, args.output_dir, options=options,
                       list_files=args.inputs_from,
                       cluster=None if args.serial else _cluster_request(args),
                       threads=args.threads, resume=args.resume, retries=args.retries,
                       listener=display)
    finally:
        display.finish()
    print(format_table(result.outcomes, thresholded=options.threshold is not None), file=out)
    print(f"summary: {result.summary_csv} and {result.summary_json} ({result.seconds:.1f} s)",
          file=out)
    if result.failed:
        fail(f"{len(result.failed)} of {len(result.outcomes)} scene(s) failed; see "
             f"{result.summary_csv}")
        return 1
    return 0


@contextlib.contextmanager
def detect_executor(args: argparse.Namespace) -> Iterator[Any]:
    """The tile executor ``detect --workers/--scheduler`` asks for, or None; checked up front.

    With a cluster, ``--threads`` defaults to 1 (``args.threads`` is set): the fit here and every
    tile task then use one torch thread, so the map equals ``detect --threads 1`` bit for bit
    (torch's sums depend on the thread count).
    """
    if args.scheduler is None and args.workers is None:
        if args.memory_limit is not None:
            raise InputError("--memory-limit sizes the workers of a local cluster; add "
                             "--workers N (or drop it).")
        yield None
        return
    if args.threads is None:
        args.threads = 1
    from ..detectors.memory import estimate_detect_memory
    from ..io.raster import open_raster
    from .cluster import plan_cluster
    from .tile_parallel import DaskTileExecutor

    estimate = 0
    if args.scheduler is None and args.memory_limit is None:
        with open_raster(args.input, bands=args.bands, min_bands=1) as source:
            estimate = estimate_detect_memory(
                method=args.method, width=source.width, height=source.height,
                bands=source.band_count, tile_size=args.tile_size, preset=args.preset,
                fit=False, local_window=args.local_window, outer_window=args.outer_window,
                in_memory_input=str(args.input).lower().endswith(".mat"))
    plan = plan_cluster(_cluster_request(args), estimate)
    with DaskTileExecutor(plan) as executor:
        yield executor
