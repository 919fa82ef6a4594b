"""The options, bounds and report of ``dms2f-had bench --implant`` (the run is :mod:`.runner`).

Every number an analyst can type is bounded here, before any scene is read; ``--report`` joins
results files written by runs split over machines or sessions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..bench import DETERMINISTIC, METHODS, header_line, machine_info, timing_line, write_json
from .report import final_line, found_lines, summarise, table_lines, worst_scene_lines
from .runner import (
    MAX_JITTER,
    MAX_SEED_VALUE,
    MAX_SEEDS,
    MAX_STEPS,
    MAX_THREADS,
    ImplantConfig,
    run_benchmark,
)
from .synthesis import DEFAULT_GROUPS, JITTER, check_group
from .variants import VARIANTS


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
          f"{images * len(set(config.methods) & set(DETERMINISTIC))} RX run(s)", flush=True)
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
