"""The score maps of a selection round: each candidate schedule fitted and scored in worker processes.

``run_all`` takes ``(image, output, method, schedule, seed)`` tasks, skips every output already in
the work folder, and fits the DMS2F ones that differ only in the scoring stride once. The maps
are written with the background correction off (``benchmarks/candidates.py`` applies each
candidate to them afterwards); nothing here reads ground truth.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import re
import time
from pathlib import Path


def parse_schedule(spec: str) -> tuple[int, int, int, int, float, float]:
    """``"300"`` -> (300, 1, 16, 8, 0.0, 0.0); ``"300x2b8t25a50s16"`` -> (300, 2, 8, 16, 0.25, 0.5).

    Steps, shards, batch size, scoring stride, trimmed share of the loss (``tPERCENT``) and
    averaged share of the last steps' weights (``aPERCENT``, ``FitSchedule.average``) of a
    candidate; an omitted batch is 16, an omitted stride 8, an omitted trim or average 0 (the
    schedule of the runs before they were candidates), never "whatever the preset ships now".
    The trim and the average come before the stride, so that :func:`fit_key` keeps them.
    """
    match = re.fullmatch(r"(\d+)(?:x(\d+))?(?:b(\d+))?(?:t(\d+))?(?:a(\d+))?(?:s(\d+))?", spec)
    if not match:
        raise ValueError(f"bad schedule {spec!r}; STEPS[xSHARDS][bBATCH][tTRIM%][aAVERAGE%][sSTRIDE], "
                         "e.g. 300x2b8t25a50s16")
    steps, shards, batch, trim, average, stride = match.groups()
    return (int(steps), int(shards or 1), int(batch or 16), int(stride or 8), int(trim or 0) / 100,
            int(average or 0) / 100)


def fit_key(spec: str) -> str:
    """The part of a schedule that decides the fitted network (all but the scoring stride)."""
    return spec.split("s")[0]


def fit_raw(image: str, outputs: list[tuple[str, int]], method: str, schedule: str,
             seed: int) -> float:
    """Score ``image`` with the correction off (one thread) into each ``(path, stride)``.

    RX: one map. DMS2F: one fit with the candidate schedule (it replaces the fast preset's in
    this worker process only); a single output is ``detect``, several outputs are one ``fit``
    whose saved model is applied with each scoring stride. Returns the wall seconds.
    """
    import dataclasses
    import tempfile

    from dms2f_had.dms2f_plugin.engine.app import jobs
    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    started = time.perf_counter()
    if method == "rx":
        jobs.detect(image, outputs[0][0], method="rx", threads=1)
        return time.perf_counter() - started
    steps, shards, batch, _, trim, average = parse_schedule(schedule)
    fast = fitting.SCHEDULES["fast"]
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "model.pt"
        for out, stride in outputs:
            # Every field is set for each output: a worker process runs many tasks, and a field
            # left alone keeps the previous task's value (the first stride-16 run had that bug).
            fitting.SCHEDULES["fast"] = dataclasses.replace(
                fast, steps=steps, shards=shards, batch_size=batch, scoring_stride=stride,
                trim=trim, average=average)
            if len(outputs) == 1:
                jobs.detect(image, out, method="dms2f", seed=seed, threads=1, local_window=0)
            else:
                if not model.exists():
                    jobs.fit(image, model, seed=seed, threads=1)
                jobs.apply_model(model, image, out, threads=1, local_window=0)
    return time.perf_counter() - started


def run_all(tasks: list[tuple[str, str, str, str, int]], workers: int) -> dict[str, float]:
    """Run the detections not already in the work folder, ``workers`` processes at a time.

    Tasks are ``(image, output, method, schedule, seed)``; the DMS2F ones that differ only in
    the scoring stride share one fit.
    """
    groups: dict[tuple[str, str, str, int], list[tuple[str, int]]] = {}
    for image, out, method, schedule, seed in tasks:
        if not Path(out).exists():
            key = (image, method, fit_key(schedule) if method != "rx" else schedule, seed)
            stride = parse_schedule(schedule)[3] if method != "rx" else 8
            groups.setdefault(key, []).append((out, stride))
    walls: dict[str, float] = {}
    if not groups:
        return walls
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        running = {pool.submit(fit_raw, image, outs, method, schedule, seed): outs
                   for (image, method, schedule, seed), outs in groups.items()}
        for done in futures.as_completed(running):
            outs = running[done]
            walls[outs[0][0]] = done.result()
            print(f"  {', '.join(Path(o).name for o, _ in outs)}: {walls[outs[0][0]]:.1f} s", flush=True)
    return walls
