"""``dms2f-had bench``: honest detection quality and speed on benchmark scenes, beside RX.

Protocol (docs in README, "Benchmark"): every run fits on the scene with the preset's fixed
schedule and no labels, scores in eval mode and writes the score map; only then does this module
read the scene's ground truth, to compute the ROC AUC of the finished map. Each (scene, method,
seed) runs in a fresh subprocess so that its peak RSS and its CPU time are its own.

Times per run: ``fit_s`` (wall of the fit), ``detect_s`` (wall of scoring and writing),
``wall_s`` (their sum: the detection job) and ``cpu_s`` (user + system CPU seconds of the worker
over that same job, all its threads); ``process_wall_s`` and ``process_cpu_s`` cover the whole
worker process (interpreter start, imports included), as ``/usr/bin/time`` would.

``dms2f-had bench --implant`` runs the target-implant benchmark instead (:mod:`.implant`; the
CLI dispatches it, so that the implant runner can use this module without a cycle).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import subprocess  # nosec B404 - runs this same module with an argument list, never a shell
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)
METHODS = ("dms2f", "rx", "lrx")
DETERMINISTIC = ("rx", "lrx")  # one run is enough: seeds do not change them
_WORKER_GRACE_S = 30  # seconds a stopped worker gets to remove its files before it is killed
MAX_SEEDS = 100


def run_one(scene: Path, method: str, preset: str, seed: int, threads: int | None,
            steps: int | None = None, keep_all_bands: bool = False) -> dict[str, Any]:
    """Detect on one scene (a .mat or any raster) in THIS process and return timings.

    Ground truth is not read here.

    Returns:
        ``{"fit_s", "detect_s", "wall_s", "cpu_s", "process_cpu_s", "peak_rss_mb",
        "score_file"}``; the score is written to a temporary GeoTIFF whose path is returned for
        the parent to evaluate.
    """
    from .jobs import detect

    out = Path(tempfile.mkdtemp(prefix="dms2f-bench-")) / "score.tif"
    before = os.times()
    try:
        result = detect(str(scene), str(out), method=method, preset=preset, seed=seed,
                        threads=threads, steps=steps, keep_all_bands=keep_all_bands)
    except BaseException:  # an error, Ctrl-C or SIGTERM: leave no folder behind
        shutil.rmtree(out.parent, ignore_errors=True)
        raise
    after = os.times()
    peak_kb = _peak_rss_kb()
    fit_s = result.fit_seconds or 0.0
    return {"fit_s": round(fit_s, 3), "detect_s": round(result.seconds - fit_s, 3),
            "wall_s": round(result.seconds, 3),
            "cpu_s": round(after.user - before.user + after.system - before.system, 3),
            "process_cpu_s": round(after.user + after.system, 3),
            "peak_rss_mb": round(peak_kb / 1024.0, 1), "score_file": str(out)}


def _peak_rss_kb() -> int:
    """This process's peak RSS in kB: VmHWM on Linux, else ``ru_maxrss``.

    ``ru_maxrss`` survives fork + exec on Linux (a child would report its parent's peak), VmHWM
    belongs to the new address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_in_subprocess(image: Path, method: str, preset: str, seed: int, threads: int | None,
                      steps: int | None, keep_all_bands: bool = False) -> dict[str, Any]:
    """:func:`run_one` in a fresh Python process that is given only ``image`` (no ground truth).

    Returns:
        :func:`run_one`'s dict plus ``process_wall_s``, the worker's wall time as seen from here.

    Raises:
        RuntimeError: the worker failed (the message ends with its last error output).
    """
    module = __spec__.name if __spec__ is not None else __name__  # "__main__" under -m
    cmd = [sys.executable, "-m", module, "--worker", str(image), method, preset, str(seed),
           str(threads or 0), str(steps or 0), str(int(keep_all_bands))]
    started = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # nosec B603
                          text=True) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:  # Ctrl-C or SIGTERM: stop the worker the same way, let it clean up
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_WORKER_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"{image.name}/{method}/seed {seed} failed: {stderr.strip()[-500:]}")
    run: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    run["process_wall_s"] = round(time.perf_counter() - started, 3)
    return run


def discard_score(run: dict[str, Any]) -> Path:
    """Remove a run's temporary score file and its folder; returns the removed file's path."""
    score_file = Path(run.pop("score_file"))
    score_file.unlink()
    score_file.parent.rmdir()
    return score_file


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically (the engine's writer)."""
    from ..io.writer import atomic_output

    with atomic_output(path, sidecars=()) as temp:
        temp.write_text(json.dumps(payload, indent=1), encoding="utf-8")


def score_auc(score_file: str, scene: Path) -> float:
    """ROC AUC of a finished score map against the scene's ground truth (read here, only)."""
    from ..io.matfile import load_mat
    from ..io.raster import open_raster
    from ..products.evaluate import roc_auc

    truth = load_mat(scene).ground_truth
    if truth is None:
        raise ValueError(f"{scene} has no ground truth map")
    with open_raster(score_file) as source:
        cube, valid = source.read_window(source.full_window)  # (1, H, W), (H, W)
    score = np.where(valid, cube[0], np.nan).astype(np.float64)  # (H, W)
    return float(roc_auc(score, truth))


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (CPU model, cores, load average now, versions)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "processor": platform.processor()}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")]
        info["cpu_model"] = names[0] if names else ""
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
    return info


def _table(results: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: one per (scene, method), mean and std over seeds, then mean rows."""
    lines = ["| scene | bands | pixels | method | AUC mean | AUC std | fit s | total s | CPU s "
             "| peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["scene"], r["method"]), []).append(r)
    per_method: dict[str, list[float]] = {}
    for (scene, method), runs in groups.items():
        aucs = np.array([r["auc"] for r in runs])
        per_method.setdefault(method, []).append(float(aucs.mean()))
        lines.append(
            f"| {scene} | {runs[0]['bands']} | {runs[0]['pixels']} | {method} | {aucs.mean():.4f} | "
            f"{aucs.std():.4f} | {np.mean([r['fit_s'] for r in runs]):.1f} | "
            f"{np.mean([r['wall_s'] for r in runs]):.1f} | {np.mean([r['cpu_s'] for r in runs]):.1f} | "
            f"{max(r['peak_rss_mb'] for r in runs):.0f} |")
    for method, means in per_method.items():
        lines.append(f"| **mean** | | | {method} | {np.mean(means):.4f} | | | | | |")
    return lines


def timing_line(results: list[dict[str, Any]], method: str = "dms2f") -> str:
    """``seconds_per_run <method> wall=<w> cpu=<c> process_wall=<pw> process_cpu=<pc> runs=<n>``.

    Means over the runs of ``method``: the detection job's wall and CPU seconds, then the whole
    worker process's (start-up and imports included); ``nan`` when there is no such run.
    """
    runs = [r for r in results if r["method"] == method]

    def mean(key: str) -> str:
        return f"{np.mean([r[key] for r in runs]):.1f}" if runs else "nan"

    return (f"seconds_per_run {method} wall={mean('wall_s')} cpu={mean('cpu_s')} "
            f"process_wall={mean('process_wall_s')} process_cpu={mean('process_cpu_s')} "
            f"runs={len(runs)}")


def header_line(machine: dict[str, Any], preset: str, steps: int | None,
                threads: int | None) -> str:
    """``Measured <date> on <CPU model>, <n> cores, load <x> at the start, ...`` (table header).

    Args:
        machine: :func:`machine_info` taken before the runs (its load average is the others').
        preset: the DMS2F preset.
        steps: the steps given on the command line, or None.
        threads: the torch threads given, or None.
    """
    load = machine.get("load_average")
    return (f"Measured {time.strftime('%Y-%m-%d')} on "
            f"{machine.get('cpu_model') or platform.machine()}, {machine.get('cpus')} cores, load "
            f"{load[0] if load else 'unknown'} at the start, preset {preset}, "
            f"{_steps('dms2f', preset, steps)} steps, {threads or 'default'} thread(s)")


def summary_line(results: list[dict[str, Any]]) -> str:
    """``mean_auc dms2f=<x> rx=<y> scenes=<n> wins=<scenes where dms2f beats rx>``."""
    means: dict[tuple[str, str], float] = {}
    for key in {(r["scene"], r["method"]) for r in results}:
        means[key] = float(np.mean([r["auc"] for r in results if (r["scene"], r["method"]) == key]))
    scenes = sorted({s for s, _ in means})
    def avg(method: str) -> str:
        vals = [means[(s, method)] for s in scenes if (s, method) in means]
        return f"{np.mean(vals):.4f}" if vals else "nan"
    wins = sum(1 for s in scenes if (s, "dms2f") in means and (s, "rx") in means
               and means[(s, "dms2f")] > means[(s, "rx")])
    return f"mean_auc dms2f={avg('dms2f')} rx={avg('rx')} scenes={len(scenes)} wins={wins}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dms2f-had bench`` (see ``--help``). Returns the exit code."""
    parser = argparse.ArgumentParser(prog="dms2f-had bench", description=(
        "Fit and detect on every .mat scene of a folder with the honest protocol (no labels "
        "during fitting; ground truth read only to score the finished map) and print a table."),
        epilog="'dms2f-had bench --implant' runs the target-implant benchmark instead (its own "
        "options: 'dms2f-had bench --implant --help').")
    parser.add_argument("--scenes", required=True, type=Path, help="folder of .mat scenes")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per scene for dms2f (default 3)")
    parser.add_argument("--methods", default="dms2f,rx", help="comma list of dms2f,rx,lrx")
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--only", default="", help="comma list of scene names to run (default all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--steps", type=int, default=None,
                        help="DMS2F optimiser steps instead of the preset's (quick checks)")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--keep-all-bands", action="store_true",
                        help="keep every band (no bad-band or water-vapour band removal)")
    args = parser.parse_args(argv)
    from ..bounds import check_steps, check_threads, whole_number
    from ..errors import Dms2fError

    try:
        check_steps(args.steps)
        check_threads(args.threads)
        whole_number("the number of seeds", args.seeds, 1, MAX_SEEDS)
        if args.json is not None:
            from ..io.writer import validate_output_path

            validate_output_path(args.json, extensions=(".json",), what="results file")
    except Dms2fError as exc:
        parser.error(str(exc))
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; use {','.join(METHODS)}")
    scenes = sorted(args.scenes.glob("*.mat"))
    if args.only:
        wanted = set(args.only.split(","))
        scenes = [s for s in scenes if s.stem in wanted]
    if not scenes:
        parser.error(f"no .mat scenes in {args.scenes}")
    machine = machine_info()
    results: list[dict[str, Any]] = []
    for scene in scenes:
        from ..io.matfile import load_mat

        cube = load_mat(scene).cube  # (rows, cols, bands); ground truth not looked at here
        for method in methods:
            for seed in range(1 if method in DETERMINISTIC else args.seeds):
                run = run_in_subprocess(scene, method, args.preset, seed, args.threads, args.steps,
                                        args.keep_all_bands)
                run.update(scene=scene.stem, method=method, preset=args.preset, seed=seed,
                           steps=_steps(method, args.preset, args.steps),
                           bands=int(cube.shape[2]), pixels=int(cube.shape[0] * cube.shape[1]),
                           auc=round(score_auc(run["score_file"], scene), 5))
                discard_score(run)
                results.append(run)
                print(f"{scene.stem:14s} {method:6s} seed {seed}: AUC {run['auc']:.4f} "
                      f"fit {run['fit_s']:.1f} s total {run['wall_s']:.1f} s CPU {run['cpu_s']:.1f} s "
                      f"RSS {run['peak_rss_mb']:.0f} MB", flush=True)
    print()
    print(header_line(machine, args.preset, args.steps, args.threads))
    print("\n".join(_table(results)))
    if args.json:
        write_json(args.json, {"machine": machine, "results": results})
    print(timing_line(results))
    print(summary_line(results))
    return 0


def _steps(method: str, preset: str, steps: int | None) -> int | None:
    """Optimiser steps of a DMS2F run (None for RX and local RX)."""
    from ..detectors.fitting import fit_schedule

    return fit_schedule(preset, steps).steps if method == "dms2f" else None


def _worker(argv: list[str]) -> int:
    """One benchmark run in this process; SIGTERM and Ctrl-C end it with one line, files removed."""
    from ..detectors.device import passive_openmp_wait
    from ..io.gdalutil import hide_mode_warning
    from .signals import EXIT_SIGINT, EXIT_SIGTERM, Terminated, terminate_gracefully

    passive_openmp_wait()
    hide_mode_warning()
    scene, method, preset, seed, threads, steps, keep_all_bands = argv
    logging.basicConfig(level=logging.WARNING)
    with terminate_gracefully():
        try:
            print(json.dumps(run_one(Path(scene), method, preset, int(seed), int(threads) or None,
                                     int(steps) or None, bool(int(keep_all_bands)))))
        except Terminated:
            sys.stderr.write("dms2f-had bench worker: terminated by SIGTERM; its files were "
                             "removed.\n")
            return EXIT_SIGTERM
        except KeyboardInterrupt:
            sys.stderr.write("dms2f-had bench worker: interrupted; its files were removed.\n")
            return EXIT_SIGINT
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2:]))
    sys.exit(main())
