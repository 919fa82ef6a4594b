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


def parse_schedule(spec: str) -> tuple[int, int, int, int, float, float, int]:
    """``"300"`` -> (300, 1, 16, 8, 0.0, 0.0, 1); ``"150x2b8t25e2s16"`` -> (150, 2, 8, 16, 0.25, 0.0, 2).

    Steps, shards, batch size, scoring stride, trimmed share of the loss (``tPERCENT``),
    averaged share of the last steps' weights (``aPERCENT``, ``FitSchedule.average``) and
    ensemble members (``eMEMBERS``: networks fitted per seed, their maps averaged) of a
    candidate; an omitted batch is 16, an omitted stride 8, an omitted trim or average 0, an
    omitted ensemble 1 (the schedule of the runs before they were candidates), never "whatever
    the preset ships now". Everything but the stride comes before it, so that :func:`fit_key`
    keeps it.
    """
    match = re.fullmatch(r"(\d+)(?:x(\d+))?(?:b(\d+))?(?:t(\d+))?(?:a(\d+))?(?:e(\d+))?(?:s(\d+))?", spec)
    if not match or (match.group(6) is not None and int(match.group(6)) < 1):
        raise ValueError(f"bad schedule {spec!r}; "
                         "STEPS[xSHARDS][bBATCH][tTRIM%][aAVERAGE%][eMEMBERS][sSTRIDE], e.g. 150x2b8t25e2s16")
    steps, shards, batch, trim, average, members, stride = match.groups()
    return (int(steps), int(shards or 1), int(batch or 16), int(stride or 8), int(trim or 0) / 100,
            int(average or 0) / 100, int(members or 1))


def member_seeds(seed: int, members: int) -> list[int]:
    """The network seeds of an ensemble's members for seed ``seed``: ``members * seed + k``.

    Distinct for every (seed, member), so the ensembles of two seeds share no fit; one member
    is the seed itself.
    """
    return [members * seed + k for k in range(members)] if members > 1 else [seed]


def average_maps(members: list[Path], out: Path, seeds: list[int]) -> None:
    """Write the mean of the ``members``' score maps to ``out`` (georeferencing of the first).

    The map's metadata is the first member's without what names one member's fit (its ``seed``
    and ``model``), plus ``member_seeds``: ``seeds``, the members' seeds in order. NaN where any
    member is NaN. Written to a temporary name and renamed, so an interrupted run never leaves a
    map that :func:`run_all` would take as done.
    """
    import numpy as np
    from osgeo import gdal

    datasets = [gdal.Open(str(m)) for m in members]
    stack = [np.asarray(d.ReadAsArray(), dtype=np.float64) for d in datasets]  # (H, W) each
    mean = np.mean(stack, axis=0).astype(np.float32)  # (H, W)
    partial = out.with_name(out.name + ".partial.tif")
    first = datasets[0]
    copy = gdal.GetDriverByName("GTiff").CreateCopy(str(partial), first,
                                                    options=["COMPRESS=DEFLATE", "TILED=YES"])
    if copy is None or copy.GetRasterBand(1).WriteArray(mean) != 0:
        raise OSError(f"could not write {partial}")
    metadata = {k: v for k, v in (first.GetMetadata() or {}).items() if k not in ("seed", "model")}
    copy.SetMetadata({**metadata, "member_seeds": ",".join(map(str, seeds))})
    copy.FlushCache()
    copy = None
    partial.replace(out)


def fit_key(spec: str) -> str:
    """The part of a schedule that decides the fitted network (all but the scoring stride)."""
    return spec.split("s")[0]


def fit_raw(image: str, outputs: list[tuple[str, int]], method: str, schedule: str,
             seed: int) -> float:
    """Score ``image`` with the correction off (one thread) into each ``(path, stride)``.

    RX: one map. DMS2F: one fit with the candidate schedule (it replaces the fast preset's in
    this worker process only); a single output is ``detect``, several outputs are one ``fit``
    whose saved model is applied with each scoring stride. An ensemble (``eMEMBERS``) does that
    once per member, with :func:`member_seeds`, and writes the mean of the members' maps
    (:func:`average_maps`). Returns the wall seconds.
    """
    import dataclasses
    import tempfile

    from dms2f_had.dms2f_plugin.engine.app import jobs
    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    started = time.perf_counter()
    if method == "rx":
        jobs.detect(image, outputs[0][0], method="rx", threads=1)
        return time.perf_counter() - started
    steps, shards, batch, _, trim, average, members = parse_schedule(schedule)
    fast = fitting.SCHEDULES["fast"]
    with tempfile.TemporaryDirectory() as scratch:
        seeds = member_seeds(seed, members)
        for k, member_seed in enumerate(seeds):
            model = Path(scratch) / f"model{k}.pt"
            for out, stride in outputs:
                # Every field is set for each output: a worker process runs many tasks, and a field
                # left alone keeps the previous task's value (the first stride-16 run had that bug).
                fitting.SCHEDULES["fast"] = dataclasses.replace(
                    fast, steps=steps, shards=shards, batch_size=batch, scoring_stride=stride,
                    trim=trim, average=average)
                target = out if members == 1 else str(Path(scratch) / f"member{k}-{Path(out).name}")
                if len(outputs) == 1:
                    jobs.detect(image, target, method="dms2f", seed=member_seed, threads=1, local_window=0)
                else:
                    if not model.exists():
                        jobs.fit(image, model, seed=member_seed, threads=1)
                    jobs.apply_model(model, image, target, threads=1, local_window=0)
        if members > 1:
            for out, _ in outputs:
                average_maps([Path(scratch) / f"member{k}-{Path(out).name}" for k in range(members)],
                             Path(out), seeds)
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
