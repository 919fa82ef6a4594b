"""Time the fast preset's fitting step whole and in shards, interleaved, on this machine.

Fits the fast preset to random 16 x 16 x 189 blocks with the trainer the engine uses
(``train_network``), once with the batch whole (``shards=1``) and once in the preset's shards,
alternating ``--repeats`` times so that a shared machine's drifting speed hits both alike, and
prints for each the fastest and the median wall and CPU milliseconds per step, the CPU model and
the thread count. The last line is ``fit_step_speedup_shards_vs_whole=<median whole / median
sharded wall>``.

    python benchmarks/fit_speed.py [--steps 60] [--repeats 3] [--threads 2] [--shards 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import time

import numpy as np
import torch

from dms2f_had.dms2f_plugin.engine.app.bench import machine_info
from dms2f_had.dms2f_plugin.engine.detectors import fitting, training
from dms2f_had.models import Dms2fConfig, Dms2fHad

BANDS = 189
WARMUP_STEPS = 5


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_fit(shards: int, steps: int, blocks: np.ndarray) -> tuple[float, float]:
    """Wall and CPU seconds per step of ``steps`` steps (after a short warm-up fit)."""
    schedule = dataclasses.replace(fitting.SCHEDULES["fast"], shards=shards)
    for count in (WARMUP_STEPS, steps):
        torch.manual_seed(0)
        network = Dms2fHad(Dms2fConfig.preset("fast", BANDS))
        wall, cpu = time.perf_counter(), _cpu_seconds()
        training.train_network(network, blocks, dataclasses.replace(schedule, steps=count), seed=0,
                               device=torch.device("cpu"))
    return (time.perf_counter() - wall) / steps, (_cpu_seconds() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--shards", type=int, default=max(2, fitting.SCHEDULES["fast"].shards))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_info(), f"torch threads {torch.get_num_threads()}", flush=True)
    blocks = np.random.default_rng(0).random((144, BANDS, 16, 16), dtype=np.float32)
    times: dict[int, list[tuple[float, float]]] = {1: [], args.shards: []}
    for _ in range(args.repeats):
        for shards in times:
            times[shards].append(time_fit(shards, args.steps, blocks))
    for shards, runs in times.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(f"shards={shards}: wall ms/step fastest {1e3 * min(walls):.1f} median "
              f"{1e3 * statistics.median(walls):.1f}; cpu ms/step median {1e3 * statistics.median(cpus):.1f}")
    whole = statistics.median(w for w, _ in times[1])
    sharded = statistics.median(w for w, _ in times[args.shards])
    print(f"fit_step_speedup_shards_vs_whole={whole / sharded:.2f}")


if __name__ == "__main__":
    main()
