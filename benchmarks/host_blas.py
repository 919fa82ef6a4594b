"""Time the fast preset's fitting step in a process whose executable brought its own OpenBLAS.

``qgis_process`` and the QGIS desktop on Debian link OpenBLAS into the executable, so its BLAS
symbols are found before torch's own: torch's matrix products run on OpenBLAS and its idle
worker threads spin on the cores torch's threads use. The engine keeps every BLAS on the calling
thread inside its parallel sections (``engine/detectors/cpu_threads.py``). This script runs the
same fit (``benchmarks/fit_speed.py``'s ``time_fit``, the fast preset's shards) in three fresh
processes, interleaved ``--repeats`` times:

- ``plain``: nothing loaded before torch (the command line);
- ``host``: OpenBLAS loaded into the global namespace before torch, as ``qgis_process`` does;
- ``host-unguarded``: the same with the guard disabled (threadpoolctl made unimportable).

It prints the median wall and CPU milliseconds per step of each, the CPU model, and last
``host_blas_fit_slowdown=<median host / median plain wall>``.

    python benchmarks/host_blas.py [--steps 40] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import ctypes.util
import statistics
import subprocess  # nosec B404 - fixed argument lists, no shell
import sys
from pathlib import Path

MODES = ("plain", "host", "host-unguarded")
HERE = Path(__file__).resolve().parent

CHILD = """
import ctypes, sys
mode, library, here = sys.argv[1], sys.argv[4], sys.argv[5]
steps, threads = int(sys.argv[2]), int(sys.argv[3])
if mode != "plain":
    ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
if mode == "host-unguarded":
    sys.modules["threadpoolctl"] = None
import dataclasses
import numpy as np
import torch
torch.set_num_threads(threads)
sys.path.insert(0, here)
from fit_speed import BANDS, time_fit
from dms2f_had.dms2f_plugin.engine.detectors import fitting
blocks = np.random.default_rng(0).random((144, BANDS, 16, 16), dtype=np.float32)
wall, cpu = time_fit(fitting.SCHEDULES["fast"].shards, steps, blocks)
print(f"{wall} {cpu}")
"""


def run_child(mode: str, steps: int, threads: int, library: str) -> tuple[float, float]:
    """Wall and CPU seconds per step of one fit in a fresh process."""
    out = subprocess.run(  # nosec B603 - this Python, fixed arguments
        [sys.executable, "-c", CHILD, mode, str(steps), str(threads), library, str(HERE)],
        check=True, capture_output=True, text=True).stdout
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name, low, high in (("steps", 1, 10_000), ("repeats", 1, 100), ("threads", 1, 256)):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low} and {high}")
    library = ctypes.util.find_library("openblas")
    if library is None:
        raise SystemExit("OpenBLAS is not installed (Debian: apt install libopenblas0-pthread)")
    from dms2f_had.dms2f_plugin.engine.app.bench import machine_info

    print(machine_info(), f"torch threads {args.threads}, host library {library}", flush=True)
    times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            times[mode].append(run_child(mode, args.steps, args.threads, library))
    for mode, runs in times.items():
        print(f"{mode}: wall ms/step median {1e3 * statistics.median(w for w, _ in runs):.1f}; "
              f"cpu ms/step median {1e3 * statistics.median(c for _, c in runs):.1f}")
    plain = statistics.median(w for w, _ in times["plain"])
    host = statistics.median(w for w, _ in times["host"])
    print(f"host_blas_fit_slowdown={host / plain:.2f}")


if __name__ == "__main__":
    main()
