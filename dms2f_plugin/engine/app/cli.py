"""``dms2f-had``: the command line of the engine (a stable public interface).

Subcommands: ``detect``, ``fit``, ``apply``, ``threshold``, ``evaluate``, ``import-mat``,
``batch`` (many scenes, on a Dask cluster: :mod:`.batch_cli`), ``bench``. Exit status: 0 on
success; 1 with ONE line ``dms2f-had: error: <message>`` on stderr for any engine error (no
traceback); 2 for command-line usage errors (argparse); 130 when interrupted (Ctrl-C) or
cancelled, 143 when stopped by SIGTERM (``timeout``, systemd, a batch scheduler), both with one
line and no temporary file left; 141, silently, when the reader of standard output has gone
(``| head -1``; every output file is complete by then); 3 for an unexpected internal error
(traceback with ``-v``).
A progress bar is drawn on stderr only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..detectors.local_background import DEFAULT_LOCAL_WINDOW
from ..errors import CancelledError, Dms2fError
from .batch_cli import add_batch_arguments, add_cluster_options, detect_executor, run_batch_command
from .signals import EXIT_SIGINT, EXIT_SIGPIPE, EXIT_SIGTERM, Terminated, terminate_gracefully

PROG = "dms2f-had"
LOGGER = logging.getLogger(__name__)
EXIT_OK, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = EXIT_SIGINT, EXIT_SIGTERM
_CACHE_MAX_BYTES = 256 * 1024 * 1024


class TerminalProgress:
    """A one-line progress bar on a terminal stream (the engine's ``Progress`` protocol)."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self._stream, self._label, self._width = stream, label, width
        self._shown = -1

    def set_progress(self, percent: float) -> None:
        """Redraw when the whole percentage changes."""
        value = int(max(0.0, min(100.0, percent)))
        if value != self._shown:
            self._shown = value
            filled = self._width * value // 100
            bar = "#" * filled + "." * (self._width - filled)
            self._stream.write(f"\r{self._label} [{bar}] {value:3d}%")
            self._stream.flush()

    def is_canceled(self) -> bool:
        """Never: Ctrl-C interrupts the run instead."""
        return False

    def finish(self) -> None:
        """End the bar's line (once), so that what follows starts on a line of its own."""
        if self._shown >= 0:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = -1


def _version() -> str:
    """The plugin version from ``metadata.txt`` (the single source of truth)."""
    try:
        from ...metadata import plugin_version

        return plugin_version()
    except (OSError, KeyError):
        return "unknown"


def _common() -> argparse.ArgumentParser:
    """Options every subcommand accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output (-v info, -vv debug)")
    return parent


def _add_detect_options(p: argparse.ArgumentParser, *, fitting: bool) -> None:
    """Options shared by detect/fit/apply."""
    if fitting:
        p.add_argument("--bands", metavar="LIST", help="bands to use, 1-based, e.g. 1-100,120 "
                       "(default: all but the bad bands in the metadata or, without a bad-band "
                       "list, the water-vapour bands 1340-1460 nm, 1790-1960 nm, > 2450 nm)")
        p.add_argument("--keep-all-bands", action="store_true", help="keep every band of the "
                       "file: no bad-band or water-vapour band removal (--bands always wins)")
        p.add_argument("--preset", choices=("fast", "paper"), default="fast",
                       help="DMS2F fitting preset (default: fast)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        p.add_argument("--steps", type=int, metavar="N", help="DMS2F optimiser steps instead of "
                       "the preset's fixed number (default: the preset's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where DMS2F runs (default: auto = CUDA if available)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch")


def _local_window(text: str) -> int | None:
    """``--local-window``: ``auto`` (the automatic line correction), 0 (off) or a whole number."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not 'auto' or a whole number (0 = off, odd N = an N x N median)") from None


def _add_local_window(p: argparse.ArgumentParser) -> None:
    default = "auto" if DEFAULT_LOCAL_WINDOW is None else str(DEFAULT_LOCAL_WINDOW)
    p.add_argument("--local-window", type=_local_window, metavar="auto|0|N",
                   default=DEFAULT_LOCAL_WINDOW,
                   help="DMS2F background correction: 'auto' = subtract the largest of four "
                   "45-pixel line medians (removes broad structures, keeps compact targets up "
                   "to about 22 pixels across, a few hundred pixels), then fuse with global "
                   "RX (the larger of the two scores in robust units of each map, RX as its cube "
                   "root); 0 = off "
                   "(the network's score alone), odd N = subtract the median of the N x N "
                   "neighbourhood "
                   "(also removes targets over about N*N/2 pixels; only for known small "
                   f"targets; no fusion); default {default}")


def build_parser() -> argparse.ArgumentParser:
    """The full ``dms2f-had`` argument parser."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG, description="Hyperspectral anomaly detection (DMS2F-HAD, RX) on any GDAL "
        "raster.", parents=[_common()])
    parser.set_defaults(verbose=0)
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("detect", parents=[common], help="score a raster for anomalies",
                       description="Write a float32 anomaly-score GeoTIFF on the input's grid.")
    p.add_argument("input", metavar="INPUT", help="raster (GeoTIFF, ENVI, VRT, ...) or .mat")
    p.add_argument("output", metavar="OUTPUT", help="score GeoTIFF to write (.tif)")
    p.add_argument("--method", choices=("dms2f", "rx", "lrx"), default="dms2f",
                   help="detector (default: dms2f)")
    _add_detect_options(p, fitting=True)
    p.add_argument("--save-model", metavar="PATH", help="also save the fitted DMS2F model")
    _add_local_window(p)
    p.add_argument("--inner-window", type=int, default=5, help="LRX guard window (default 5)")
    p.add_argument("--outer-window", type=int, default=21, help="LRX outer window (default 21)")
    p.add_argument("--tile-size", type=int, default=512, help="I/O tile edge (default 512)")
    add_cluster_options(p, what="the tiles", note="The fit stays in this process; the workers "
                        "score the tiles. --threads defaults to 1 here, for the fit and each "
                        "tile, so the map equals 'detect --threads 1' bit for bit.")

    p = sub.add_parser("batch", parents=[common], help="detect in many scenes (Dask cluster)",
                       description="Detect anomalies in every INPUT, one task per scene, on a "
                       "local Dask cluster sized to this machine, an existing cluster "
                       "(--scheduler) or serially (--serial); writes <scene>_score.tif and a "
                       "manifest per scene and campaign_summary.csv/.json into --output-dir.")
    p.add_argument("--method", choices=("dms2f", "rx", "lrx"), default="dms2f",
                   help="detector (default: dms2f)")
    _add_detect_options(p, fitting=True)
    _add_local_window(p)
    p.add_argument("--inner-window", type=int, default=5, help="LRX guard window (default 5)")
    p.add_argument("--outer-window", type=int, default=21, help="LRX outer window (default 21)")
    p.add_argument("--tile-size", type=int, default=512, help="I/O tile edge (default 512)")
    add_batch_arguments(p)

    p = sub.add_parser("fit", parents=[common], help="fit DMS2F-HAD on a scene, save the model",
                       description="Fit DMS2F-HAD on INPUT (no labels) and save it to MODEL.")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("model", metavar="MODEL")
    _add_detect_options(p, fitting=True)

    p = sub.add_parser("apply", parents=[common], help="score a raster with a saved model",
                       description="Score INPUT with the model in MODEL (same band set).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT")
    _add_detect_options(p, fitting=False)
    _add_local_window(p)
    p.add_argument("--tile-size", type=int, default=512, help="I/O tile edge (default 512)")

    p = sub.add_parser("threshold", parents=[common], help="score -> mask (+ polygons)",
                       description="Flag pixels with score > threshold; 255 = nodata.")
    p.add_argument("score", metavar="SCORE")
    p.add_argument("mask", metavar="MASK", help="uint8 mask GeoTIFF to write")
    p.add_argument("--method", choices=("percentile", "sigma", "otsu", "value"),
                   default="percentile", help="default: percentile")
    p.add_argument("--value", type=float, help="percentile (default 99.5 = top 0.5%%), k of "
                   "mean + k sigma (default 3), or the score for 'value'")
    p.add_argument("--min-size", type=int, default=1, help="smallest object kept, in pixels")
    p.add_argument("--vector", metavar="OUT.gpkg", help="also write detection polygons")

    p = sub.add_parser("evaluate", parents=[common], help="ROC AUC against ground truth",
                       description="Print ROC AUC, AUC(D,tau), AUC(F,tau) of SCORE.")
    p.add_argument("score", metavar="SCORE")
    p.add_argument("ground_truth", metavar="GROUND_TRUTH", help="raster (nonzero = anomaly) "
                   "on the score's grid, polygons, or the benchmark .mat scene")
    p.add_argument("--plot", metavar="ROC.png", help="draw the ROC curve")
    p.add_argument("--report", metavar="REPORT.html", help="write an HTML report")

    p = sub.add_parser("import-mat", parents=[common], help="benchmark .mat -> GeoTIFFs",
                       description="Convert a MATLAB v5/v7.3 scene to a GeoTIFF cube "
                       "(+ ground truth); no CRS (local pixel grid).")
    p.add_argument("mat", metavar="IN.mat")
    p.add_argument("cube", metavar="OUT_CUBE.tif")
    p.add_argument("gt", metavar="OUT_GT.tif", nargs="?")

    p = sub.add_parser("bench", help="benchmark on the real scenes (see 'bench --help')",
                       add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _run(args: argparse.Namespace, progress: Any | None, out: TextIO) -> int:
    """Dispatch one parsed command; returns the exit status."""
    from . import jobs

    if args.command == "detect":
        with detect_executor(args) as executor:
            r = jobs.detect(args.input, args.output, method=args.method, bands=args.bands,
                            keep_all_bands=args.keep_all_bands, preset=args.preset,
                            device=args.device, seed=args.seed,
                            threads=args.threads, steps=args.steps, save_model=args.save_model,
                            local_window=args.local_window, inner_window=args.inner_window,
                            outer_window=args.outer_window, tile_size=args.tile_size,
                            progress=progress, executor=executor)
        print(f"wrote {r.output_path} ({r.method}, {r.width}x{r.height}x{r.bands}, "
              f"{r.seconds:.1f} s on {r.device})", file=out)
    elif args.command == "batch":
        return run_batch_command(args, out, sys.stderr, _fail)
    elif args.command == "fit":
        f = jobs.fit(args.input, args.model, bands=args.bands,
                     keep_all_bands=args.keep_all_bands, preset=args.preset,
                     device=args.device, seed=args.seed, threads=args.threads, steps=args.steps,
                     progress=progress)
        print(f"wrote {f.model_path} ({f.bands} bands, {f.seconds:.1f} s on {f.device})", file=out)
    elif args.command == "apply":
        r = jobs.apply_model(args.model, args.input, args.output, device=args.device,
                             threads=args.threads, local_window=args.local_window,
                             tile_size=args.tile_size, progress=progress)
        print(f"wrote {r.output_path} ({r.seconds:.1f} s on {r.device})", file=out)
    elif args.command == "threshold":
        t = jobs.threshold(args.score, args.mask, method=args.method, value=args.value,
                           min_size=args.min_size, vector_path=args.vector, progress=progress)
        print(f"wrote {t.mask_path}: {t.anomaly_pixels} anomaly pixels (score > "
              f"{t.threshold:.6g})" + (f", {t.objects} objects" if t.objects is not None else ""),
              file=out)
    elif args.command == "evaluate":
        e = jobs.evaluate(args.score, args.ground_truth, plot_path=args.plot,
                          report_path=args.report)
        print(f"auc={e.auc:.6f}\nauc_d_tau={e.auc_d_tau:.6f}\nauc_f_tau={e.auc_f_tau:.6f}",
              file=out)
    elif args.command == "import-mat":
        i = jobs.import_mat(args.mat, args.cube, args.gt)
        print(f"wrote {i.cube_path} ({i.cols}x{i.rows}x{i.bands})"  # width x height, as detect says
              + (f" and {i.gt_path} ({i.anomaly_pixels} anomaly pixels)" if i.gt_path else ""),
              file=out)
    return EXIT_OK


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _limit_gdal_cache() -> None:
    """Keep GDAL's block cache small unless the user set GDAL_CACHEMAX (memory ~ tile size)."""
    if "GDAL_CACHEMAX" not in os.environ:
        from osgeo import gdal

        gdal.SetCacheMax(_CACHE_MAX_BYTES)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dms2f-had`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    SIGTERM is handled like Ctrl-C while it runs (one line, no temporary file left, exit 143).
    """
    from ..detectors.device import passive_openmp_wait
    from ..io.gdalutil import hide_mode_warning

    passive_openmp_wait()
    hide_mode_warning()
    with terminate_gracefully():
        try:
            return _main(argv)
        except Terminated:  # during start-up or the benchmark, before _main's own handlers
            _fail(_TERMINATED)
            return EXIT_TERMINATED
        except KeyboardInterrupt:
            _fail(_INTERRUPTED)
            return EXIT_INTERRUPTED


_TERMINATED = "terminated by SIGTERM; unfinished outputs were removed, existing files were kept."
_INTERRUPTED = "interrupted; no output was written (existing files were kept)."


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((i for i, token in enumerate(argv) if not token.startswith("-")), None)
    if first is not None and argv[first] == "bench":  # bench parses its own options (--help)
        from .bench import main as bench_main
        from .implant.command import main as implant_main

        _setup_logging(sum(t.count("v") if not t.startswith("--") else 1 for t in argv[:first]))
        rest = argv[first + 1:]
        if "--implant" in rest:  # the target-implant benchmark
            return int(implant_main([t for t in rest if t != "--implant"]) or 0)
        return int(bench_main(rest) or 0)
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    _limit_gdal_cache()
    live = sys.stderr.isatty() and args.command != "batch"  # batch draws its own status line
    bar = TerminalProgress(sys.stderr, args.command) if live else None
    try:
        status = _run(args, bar, sys.stdout)
        sys.stdout.flush()  # a reader that has gone shows here, not in Python's flush at exit
        return status
    except CancelledError as exc:
        _end_bar(bar)
        _fail(f"{exc}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _end_bar(bar)
        _fail(_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Terminated:
        _end_bar(bar)
        _fail(_TERMINATED)
        return EXIT_TERMINATED
    except Dms2fError as exc:
        _end_bar(bar)
        _fail(_one_line(str(exc)))
        return EXIT_ERROR
    except BrokenPipeError:  # `| head -1` left: stop quietly, as a tool killed by SIGPIPE does
        _end_bar(bar)
        _silence_stdout()
        return EXIT_SIGPIPE
    except Exception as exc:  # noqa: BLE001 - last resort: a bug, not a user error
        _end_bar(bar)
        if args.verbose:
            LOGGER.exception("internal error")
        _fail(f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (run with -v for "
              "the traceback and please report it)")
        return EXIT_INTERNAL
    finally:
        _end_bar(bar)


def _silence_stdout() -> None:
    """Point standard output at the null device, so Python's flush at exit raises nothing more."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's buffer)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _end_bar(bar: TerminalProgress | None) -> None:
    if bar is not None:
        bar.finish()


def _fail(message: str) -> None:
    """The one error line on stderr."""
    sys.stderr.write(f"{PROG}: error: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
