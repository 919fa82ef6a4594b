"""``dms2f-had bench --implant``: the target-implant benchmark, run with the bench's protocol.

For each host scene (``--only``; default every ``.mat`` scene of ``--scenes``), each size group
(one implant copy per group, :mod:`.synthesis`), each variant (:mod:`.variants`), each method and
each seed (DMS2F only; RX and local RX are deterministic), a fresh worker process receives ONLY
the variant's image file (:func:`..bench.run_in_subprocess`): it fits, scores and writes the score
map. The implant masks and the host's labels never leave this process; after the map is written,
this process computes the ROC AUC of each size class (positives: the class's implant mask;
background: pixels neither implanted nor labelled). Donor spectra come from every other scene of
the folder, whatever ``--only`` says.

Cost: one DMS2F fit per (host, group, variant, seed). The default full run (11 scenes, 3 groups,
6 variants, 3 seeds) is 594 fits plus 198 runs of each RX method; at about a minute a fit on two
cores that is some ten hours. A quick check: ``--only abu-airport-1 --groups 1,25,144
--variants original --seeds 1`` (one fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .report import final_line, found_lines, summarise, table_lines, worst_scene_lines
from .spectra import DonorSpectra, donor_spectra
from .synthesis import DEFAULT_GROUPS, JITTER, ImplantedScene, Scene, check_group, implant
from .variants import VARIANTS, make_variant, write_variant

METHODS = ("dms2f", "rx", "lrx")
_DETERMINISTIC = ("rx", "lrx")
MAX_SEEDS = 50
MAX_STEPS = 100_000
MAX_THREADS = 256
MAX_SEED_VALUE = 2**31 - 1
MAX_JITTER = 2.0
#: Labelled pixels in the kept ground-truth rasters (``--keep``).
KEPT_LABEL_VALUE = 65535


@dataclasses.dataclass(frozen=True)
class ImplantConfig:
    """Everything a run of the implant benchmark depends on (recorded in the JSON)."""

    scenes: Path
    hosts: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    variants: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: int
    implant_seed: int
    preset: str
    steps: int | None
    threads: int | None
    keep_all_bands: bool
    jitter: float = JITTER
    first_seed: int = 0

    def runs_per_image(self) -> list[tuple[str, int]]:
        """(method, seed) pairs run on every variant image (RX methods once, as seed 0)."""
        return [(m, s) for m in self.methods
                for s in ((0,) if m in _DETERMINISTIC
                          else range(self.first_seed, self.first_seed + self.seeds))]


def load_scenes(folder: Path) -> list[Scene]:
    """Every ``.mat`` scene of ``folder`` with its labels (for hosts and donors), by name."""
    from ...io.matfile import load_mat

    scenes = []
    for path in sorted(folder.glob("*.mat")):
        mat = load_mat(path)
        labels = (np.zeros(mat.cube.shape[:2], dtype=bool) if mat.ground_truth is None
                  else mat.ground_truth.astype(bool))
        scenes.append(Scene(path.stem, mat.cube, labels))
    return scenes


def class_aucs(score: np.ndarray, copy: ImplantedScene) -> dict[str, float]:
    """ROC AUC of each size class of ``copy`` for a finished score map ``(H, W)`` (NaN left out)."""
    from ...products.evaluate import roc_auc

    aucs = {}
    for size in copy.group:
        positives, evaluated = copy.evaluation_masks(size)
        keep = evaluated & np.isfinite(score)
        aucs[str(size)] = round(float(roc_auc(score[keep], positives[keep])), 5)
    return aucs


def target_ranks(score: np.ndarray, copy: ImplantedScene) -> list[dict[str, float]]:
    """Where each target of ``copy`` ranks in a finished score map ``(H, W)``.

    A target's rank is the fraction of the background (pixels neither implanted nor labelled,
    NaN left out) that scores strictly below the target's median pixel: 0.5 is a target the
    method does not see, 1.0 one above every background pixel.

    Returns:
        One ``{"size", "abundance", "rank"}`` per target, in ``copy.targets`` order.
    """
    finite = np.isfinite(score)
    background = np.sort(score[~(copy.implanted | copy.labels) & finite])  # (n,)
    ranks = []
    for target in copy.targets:
        row, col, rows, cols = target.box
        box = (slice(row, row + rows), slice(col, col + cols))
        # Targets keep a margin from each other, so the box holds no other target's pixel.
        pixels = score[box][copy.masks[target.size][box] & finite[box]]
        rank = (float(np.searchsorted(background, np.median(pixels), side="left") / len(background))
                if len(pixels) and len(background) else math.nan)
        ranks.append({"size": target.size, "abundance": target.abundance, "rank": round(rank, 5)})
    return ranks


def _read_score(path: str) -> np.ndarray:
    from osgeo import gdal

    return np.asarray(gdal.Open(path).ReadAsArray(), dtype=np.float64)  # (H, W)


def run_copy(config: ImplantConfig, copy: ImplantedScene, folder: Path,
             log: Callable[[str], None], keep: Path | None = None) -> list[dict[str, Any]]:
    """Every variant, method and seed on one implant copy; returns the run records.

    ``folder`` holds each variant image while its runs go (nothing else). With ``keep``, each
    run's score map is moved there once its AUCs are computed, as
    ``<host>-g<sizes>-<variant>-<method>-seed<seed>-score.tif``.
    """
    from ..bench import discard_score, run_in_subprocess

    records = []
    label = f"{copy.host}-g{'+'.join(str(s) for s in copy.group)}"
    for variant_name in config.variants:
        variant = make_variant(variant_name, copy.cube, config.implant_seed)
        # The name tells the worker nothing about the targets (not even the group's sizes).
        image = write_variant(variant, folder / f"{copy.host}-{variant_name}.tif")
        for method, seed in config.runs_per_image():
            run = run_in_subprocess(image, method, config.preset, seed, config.threads,
                                    config.steps, config.keep_all_bands)
            score = _read_score(run["score_file"])
            run["auc"] = class_aucs(score, copy)
            run["targets"] = target_ranks(score, copy)
            if keep is not None:
                made = Path(run.pop("score_file"))
                kept = shutil.move(made, keep / f"{label}-{variant_name}-{method}-seed{seed}-score.tif")
                made.parent.rmdir()
                run["score_map"] = str(kept)
            else:
                discard_score(run)
            run.update(scene=copy.host, group=list(copy.group), variant=variant_name,
                       method=method, seed=seed, implant_seed=copy.seed,
                       bands=int(variant.data.shape[2]), pixels=int(copy.labels.size))
            records.append(run)
            aucs = " ".join(f"{k}px {v:.4f}" for k, v in run["auc"].items())
            log(f"{label} {variant_name:11s} {method:5s} seed {seed}: {aucs} | fit "
                f"{run['fit_s']:.1f} s total {run['wall_s']:.1f} s CPU {run['cpu_s']:.1f} s")
        image.unlink()
    return records


def keep_truth(copy: ImplantedScene, path: Path) -> None:
    """Write a copy's ground truth: the target size per implanted pixel, 65535 on labels."""
    from ...io.raster_writer import RasterWriter
    from ...io.window import Window

    truth = np.zeros(copy.labels.shape, dtype=np.uint16)
    for size, mask in copy.masks.items():
        truth[mask] = size
    truth[copy.labels] = KEPT_LABEL_VALUE
    rows, cols = truth.shape
    with RasterWriter(path, width=cols, height=rows, dtype="uint16", nodata=None, crs_wkt=None,
                      geotransform=None, description="implant size (0 background, 65535 label)") as w:
        w.write(Window(0, 0, cols, rows), truth)


Saver = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]


def run_benchmark(config: ImplantConfig, workdir: Path, log: Callable[[str], None] = print,
                  keep: Path | None = None, save: Saver | None = None,
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the whole plan; returns ``(run records, implant descriptions)``.

    Args:
        config: the plan.
        workdir: where variant images are written (each deleted after its runs); nothing else
            is written there, so a worker sees no score map nor truth beside its image.
        log: one line per run.
        keep: a folder to keep every score map in (:func:`run_copy`), and every copy's ground
            truth once every run is done.
        save: called with the records and implants so far after every implant copy (a long
            plan that stops half-way keeps what it measured).
    """
    scenes = load_scenes(config.scenes)
    donors: list[DonorSpectra] = [donor_spectra(s.name, s.cube, s.labels)
                                  for s in scenes if s.labels.any()]
    by_name = {s.name: s for s in scenes}
    records: list[dict[str, Any]] = []
    implants: list[dict[str, Any]] = []
    copies = []
    for host in config.hosts:
        for group in config.groups:
            copy = implant(by_name[host], donors, group, config.implant_seed,
                           jitter_scale=config.jitter)
            copies.append(copy)
            implants.append({"scene": host, "group": list(group), "seed": config.implant_seed,
                             "targets": [dataclasses.asdict(t) for t in copy.targets]})
            records += run_copy(config, copy, workdir, log, keep)
            if save is not None:
                save(records, implants)
    if keep is not None:
        for copy in copies:
            keep_truth(copy, keep / f"{copy.host}-g{'+'.join(map(str, copy.group))}-truth.tif")
    return records, implants


def _bounded(name: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got '{text}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be {low}..{high}, got {value}")
        return value
    return parse


def _jitter(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jitter must be a number, got '{text}'") from None
    if not 0.0 <= value <= MAX_JITTER:
        raise argparse.ArgumentTypeError(f"--jitter must be 0..{MAX_JITTER}, got {value}")
    return value


def parse_groups(text: str) -> tuple[tuple[int, ...], ...]:
    """``"1,4,9/144/300"`` -> ``((1, 4, 9), (144,), (300,))``; a size may appear in one group only."""
    try:
        groups = tuple(check_group([int(x) for x in part.split(",") if x.strip()])
                       for part in text.split("/"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--groups '{text}': {exc}") from None
    sizes = [s for g in groups for s in g]
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"--groups '{text}' lists a size in two groups")
    return groups


def _choices(name: str, allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
        bad = [x for x in items if x not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"{name} '{text}': use a comma list of "
                                             f"{','.join(allowed)}")
        return items
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``dms2f-had bench --implant`` options."""
    default_groups = "/".join(",".join(map(str, g)) for g in DEFAULT_GROUPS)
    p = argparse.ArgumentParser(prog="dms2f-had bench --implant", description=(
        "Implant synthetic targets (sizes 1-300 px, abundances 0.25/0.5/1) into benchmark "
        "scenes and report ROC AUC per size class and scene variant; each run gets only the "
        "image, the implant masks are read afterwards."))
    p.add_argument("--scenes", type=Path, help="folder of .mat scenes (needed unless --report)")
    p.add_argument("--report", type=Path, nargs="+", metavar="JSON", default=None,
                   help="run nothing: print the report of these results files together (the "
                   "records of every file; e.g. seeds run apart with --first-seed)")
    p.add_argument("--only", default="", help="comma list of host scenes (default all)")
    p.add_argument("--groups", type=parse_groups, default=DEFAULT_GROUPS, help="size groups, "
                   f"one implant copy each, '/' between groups (default {default_groups})")
    p.add_argument("--variants", type=_choices("--variants", VARIANTS), default=VARIANTS,
                   help=f"comma list of {','.join(VARIANTS)} (default all)")
    p.add_argument("--methods", type=_choices("--methods", METHODS), default=("dms2f", "rx"),
                   help="comma list of dms2f,rx,lrx (default dms2f,rx)")
    p.add_argument("--seeds", type=_bounded("--seeds", 1, MAX_SEEDS), default=3,
                   help="DMS2F seeds per image (default 3)")
    p.add_argument("--first-seed", type=_bounded("--first-seed", 0, MAX_SEED_VALUE), default=0,
                   help="first DMS2F seed (default 0): a plan split over machines or sessions "
                   "runs seeds N to N+seeds-1 here; --report joins the results files")
    p.add_argument("--implant-seed", type=_bounded("--implant-seed", 0, MAX_SEED_VALUE),
                   default=0, help="seed of the target synthesis (default 0)")
    p.add_argument("--jitter", type=_jitter, default=JITTER, help="per-pixel target jitter, as "
                   f"a fraction of the background's spread (default {JITTER})")
    p.add_argument("--preset", default="fast", choices=("fast", "paper"))
    p.add_argument("--steps", type=_bounded("--steps", 1, MAX_STEPS), default=None,
                   help="DMS2F optimiser steps instead of the preset's (quick checks only)")
    p.add_argument("--threads", type=_bounded("--threads", 1, MAX_THREADS), default=None,
                   help="torch threads")
    p.add_argument("--keep-all-bands", action="store_true",
                   help="keep every band (no bad-band or water-vapour band removal)")
    p.add_argument("--json", type=Path, default=None, help="write every result here")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep every score "
                   "map and the copies' ground truth here (the truth once every run is done); "
                   "variant images are deleted")
    return p


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ImplantConfig:
    if args.scenes is None:
        parser.error("--scenes is required (a folder of .mat scenes), unless --report is given")
    names = sorted(p.stem for p in args.scenes.glob("*.mat"))
    if len(names) < 2:
        parser.error(f"{args.scenes} needs at least two .mat scenes (hosts and donors)")
    hosts = tuple(x for x in args.only.split(",") if x) if args.only else tuple(names)
    unknown = sorted(set(hosts) - set(names))
    if unknown:
        parser.error(f"--only: no scene {unknown} in {args.scenes}")
    return ImplantConfig(scenes=args.scenes, hosts=hosts, groups=args.groups,
                         variants=args.variants, methods=args.methods, seeds=args.seeds,
                         implant_seed=args.implant_seed, preset=args.preset, steps=args.steps,
                         threads=args.threads, keep_all_bands=args.keep_all_bands,
                         jitter=args.jitter, first_seed=args.first_seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dms2f-had bench --implant``; prints the report, returns the exit code."""
    from ..bench import header_line, machine_info, timing_line, write_json

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report:
        return _report(args.report, parser)
    config = _config(args, parser)
    if args.keep is not None:
        try:
            args.keep.mkdir(exist_ok=True)
        except OSError as exc:
            parser.error(f"--keep: cannot use '{args.keep}' as a folder ({exc.strerror})")
    images = len(config.hosts) * len(config.groups) * len(config.variants)
    fits = images * config.seeds if "dms2f" in config.methods else 0
    print(f"implant plan: {len(config.hosts)} host(s) x {len(config.groups)} group(s) x "
          f"{len(config.variants)} variant(s) = {images} image(s); {fits} DMS2F fit(s), "
          f"{images * len(set(config.methods) & set(_DETERMINISTIC))} RX run(s)", flush=True)
    machine = machine_info()
    started = time.perf_counter()
    settings = {k: (str(v) if isinstance(v, Path) else v)
                for k, v in dataclasses.asdict(config).items()}

    def save(records: list[dict[str, Any]], implants: list[dict[str, Any]],
             summary: dict[tuple[str, int, str], Any] | None = None) -> None:
        if args.json:  # "partial" until every run is in; --report reads either
            write_json(args.json, {
                "machine": machine, "config": settings, "partial": summary is None,
                "implants": implants, "results": records,
                "summary": [{"variant": v, "size": s, "method": m, **dataclasses.asdict(c)}
                            for (v, s, m), c in sorted((summary or {}).items())]})

    with tempfile.TemporaryDirectory(prefix="dms2f-implant-") as temp:
        records, implants = run_benchmark(config, Path(temp), lambda s: print(s, flush=True),
                                          keep=args.keep, save=save)
    summary = summarise(records)
    print()
    print(header_line(machine, config.preset, config.steps, config.threads)
          + f"; implant seed {config.implant_seed}, jitter {config.jitter}, "
          f"{time.perf_counter() - started:.0f} s in all")
    _print_tables(records, summary, config.methods, config.variants)
    save(records, implants, summary)
    print(timing_line(records))
    print(final_line(summary))
    return 0


def _print_tables(records: list[dict[str, Any]], summary: dict[tuple[str, int, str], Any],
                  methods: Sequence[str], variants: Sequence[str]) -> None:
    print("\n".join(table_lines(summary, methods, variants)))
    print("\n".join(worst_scene_lines(records, methods)))
    print("\n".join(found_lines(records, methods)))


def _report(files: Sequence[Path], parser: argparse.ArgumentParser) -> int:
    """``--report``: the tables and the last line of the records of ``files`` together."""
    import json

    from ..bench import timing_line

    records: list[dict[str, Any]] = []
    for path in files:
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            found = payload["results"]
            config = payload.get("config", {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"--report: '{path}' is not a results file of this benchmark ({exc})")
        partial = " (partial: stopped before its plan ended)" if payload.get("partial") else ""
        print(f"{path}: {len(found)} run(s){partial}; implant seed {config.get('implant_seed')}, "
              f"first seed {config.get('first_seed', 0)}, preset {config.get('preset')}")
        records += found
    if not records:
        parser.error("--report: no run in the given files")
    summary = summarise(records)
    _print_tables(records, summary, METHODS, VARIANTS)
    print(timing_line(records))
    print(final_line(summary))
    return 0
