"""Choose the background correction and the fast schedule by a rule fixed before the results.

Usage::

    python benchmarks/select_defaults.py --scenes ../shared/data/had --work build/select \
        [--schedules 300,300x2] [--seeds 1] [--implant-seeds 1|N,M,...] \
        [--implant-hosts abu-airport-1|all] [--ci-gate] [--workers 2] [--only SCENE,...] \
        [--json benchmarks/results/select-defaults.json]

The candidates, the rule and every round's declaration, each written before its results, are in
``benchmarks/selection-protocol.md``. The candidate corrections are computed in
``benchmarks/candidates.py``.

The script prints one table per stage and ends with ``selected local_window=... steps=...``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ci_gate  # the sibling module: the CI implant test as a gate of rule 1
import numpy as np
from candidates import CANDIDATES, corrected  # the sibling module: the candidate corrections
from fit_maps import run_all  # the sibling module: the score maps, fitted in worker processes
from map_ledger import Ledger  # the sibling module: scores of maps, kept across machines
from reference_round import load_reference, merge_reference  # an earlier round's numbers

from dms2f_had.dms2f_plugin.engine.app import selection
from dms2f_had.dms2f_plugin.engine.app.bench import write_json
from dms2f_had.dms2f_plugin.engine.app.implant import runner, spectra, synthesis, variants
from dms2f_had.dms2f_plugin.engine.io import matfile
from dms2f_had.dms2f_plugin.engine.products.evaluate import roc_auc

ROOT = Path(__file__).resolve().parents[1]

IMPLANT_GROUPS = synthesis.DEFAULT_GROUPS
LOSO_TOLERANCE = 0.003


IMPLANT_MARGIN_SLACK = 0.01
#: The correction the engine ships (``local_window`` auto); rule 3 is also judged with it.
SHIPPED_CORRECTION = "lines45|rx3"


def read_map(path: Path) -> np.ndarray:
    """A kept score map ``(H, W)``, as float64."""
    from osgeo import gdal

    return np.asarray(gdal.Open(str(path)).ReadAsArray(), dtype=np.float64)  # (H, W)


def _auc(score: np.ndarray, truth: np.ndarray, evaluated: np.ndarray | None = None) -> float:
    keep = np.isfinite(score) if evaluated is None else evaluated & np.isfinite(score)
    return float(roc_auc(score[keep], truth[keep]))


def development(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """steps -> candidate -> scene -> mean AUC over seeds (and RX under steps "rx")."""
    scenes = [s for s in sorted(args.scenes.glob("*.mat")) if not args.only or s.stem in args.only]
    tasks = []
    for scene in scenes:
        tasks.append((str(scene), str(args.work / f"{scene.stem}-rx.tif"), "rx", "0", 0))
        for steps in args.steps:
            for seed in range(args.seeds):
                out = args.work / f"{scene.stem}-s{steps}-seed{seed}.tif"
                if not args.ledger.has(out):
                    tasks.append((str(scene), str(out), "dms2f", steps, seed))
    run_all([t for t in tasks if t[2] == "rx" or not args.record_only], args.workers)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for scene in scenes:  # ground truth from here on
        truth = matfile.load_mat(scene).ground_truth.astype(bool)
        rx = read_map(args.work / f"{scene.stem}-rx.tif")
        table.setdefault("rx", {}).setdefault("rx", {})[scene.stem] = _auc(rx, truth)
        for steps in args.steps:
            per_seed = []
            for seed in range(args.seeds):
                path = args.work / f"{scene.stem}-s{steps}-seed{seed}.tif"
                if args.record_only and not args.ledger.done(path):
                    args.missing.append(path.name)
                    continue
                per_seed.append(args.ledger.scores(path, functools.partial(dev_scores, path, rx, truth)))
            for candidate in CANDIDATES:
                table.setdefault(str(steps), {}).setdefault(candidate, {})[scene.stem] = \
                    float(np.mean([scores[candidate] for scores in per_seed] or [np.nan]))
    return table


def implant_copies(scenes_dir: Path, hosts: list[str],
                   groups: Any = IMPLANT_GROUPS) -> Iterator[tuple[Any, str]]:
    """``(implant copy, tag)`` of every host and size group (implant seed 0, as in every round)."""
    scenes = runner.load_scenes(scenes_dir)
    donors = [spectra.donor_spectra(s.name, s.cube, s.labels) for s in scenes if s.labels.any()]
    by_name = {s.name: s for s in scenes}
    for host in hosts:
        for group in groups:
            yield synthesis.implant(by_name[host], donors, group, 0), f"{host}-g{'+'.join(map(str, group))}"


def dev_scores(path: Path, rx: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """candidate -> AUC of one kept development map (the correction off) on the scene's truth."""
    raw = read_map(path)
    return {candidate: _auc(corrected(raw, candidate, rx), truth) for candidate in CANDIDATES}


def implant_map(work: Path, tag: str, variant: str, steps: str | None = None,
                seed: int = 0) -> Path:
    """Where a variant's score map is kept: global RX's (``steps`` None) or a fit's."""
    what = "rx" if steps is None else f"s{steps}-seed{seed}"
    return work / f"implant-{tag}-{variant}-{what}-score.tif"


def implants(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """steps -> candidate (and "rx") -> "variant/size" -> AUC (mean over hosts and seeds)."""
    copies, tasks = [], []
    for copy, tag in implant_copies(args.scenes, args.implant_hosts):
        for name in variants.VARIANTS:
            image = args.work / f"implant-{tag}-{name}.tif"
            if not image.exists():
                variants.write_variant(variants.make_variant(name, copy.cube, 0), image)
            tasks.append((str(image), str(implant_map(args.work, tag, name)), "rx", "0", 0))
            for steps in args.steps:
                for seed in range(args.implant_seeds[steps]):
                    out = implant_map(args.work, tag, name, steps, seed)
                    if not args.ledger.has(out):
                        tasks.append((str(image), str(out), "dms2f", steps, seed))
            copies.append((copy, tag, name))
    run_all([t for t in tasks if t[2] == "rx" or not args.record_only], args.workers)
    cells: dict[str, dict[str, dict[str, list[float]]]] = {}
    for copy, tag, name in copies:
        rx_map = read_map(implant_map(args.work, tag, name))
        rx = runner.class_aucs(rx_map, copy)
        for steps in args.steps:
            table = cells.setdefault(str(steps), {})
            for size, auc in rx.items():
                table.setdefault("rx", {}).setdefault(f"{name}/{size}", []).append(auc)
            for seed in range(args.implant_seeds[steps]):
                path = implant_map(args.work, tag, name, steps, seed)
                if args.record_only and not args.ledger.done(path):
                    args.missing.append(path.name)
                    continue
                by_candidate = args.ledger.scores(path, functools.partial(implant_scores, path, rx_map, copy))
                for candidate in CANDIDATES:
                    for size, auc in by_candidate[candidate].items():
                        table.setdefault(candidate, {}).setdefault(f"{name}/{size}", []).append(auc)
    return {steps: {c: {k: float(np.mean(v)) for k, v in by_cell.items()}
                    for c, by_cell in by_candidate.items()}
            for steps, by_candidate in cells.items()}


def implant_scores(path: Path, rx: np.ndarray, copy: Any,
                   candidates: Any = CANDIDATES) -> dict[str, dict[str, float]]:
    """candidate -> size class -> AUC of one kept implant map (the correction off)."""
    raw = read_map(path)
    return {candidate: runner.class_aucs(corrected(raw, candidate, rx), copy) for candidate in candidates}


def gate_aucs(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """Fit the CI test's copy once per schedule (seed 0) and score every candidate on it."""
    copy, _ = next(implant_copies(args.scenes, [ci_gate.SCENE], [ci_gate.GROUP]))
    image = ci_gate.write_image(copy, args.work)
    run_all(ci_gate.tasks(image, args.work, args.steps), args.workers)
    aucs = ci_gate.class_aucs(copy, args.work, args.steps, list(CANDIDATES), read_map, corrected)
    print(f"\nThe CI implant test's copy ({ci_gate.SCENE}, {ci_gate.VARIANT}, seed {ci_gate.SEED}), AUC "
          "per size class:")
    for steps, by_candidate in aucs.items():
        for candidate, by_size in by_candidate.items():
            print(f"  s{steps} {candidate:12s} " + " ".join(f"{k} px {v:.4f}" for k, v in by_size.items())
                  + ("" if candidate == "rx" else "  passes" if ci_gate.passes(by_candidate, candidate)
                     else "  FAILS"))
    return aucs


def implant_table(aucs: dict[str, dict[str, float]], candidates: list[str]) -> list[str]:
    """Markdown table: one row per size class, per variant the AUC of RX and of ``candidates``."""
    keys = list(aucs["rx"])
    variants_seen = list(dict.fromkeys(k.split("/")[0] for k in keys))
    sizes = sorted({int(k.split("/")[1]) for k in keys})
    head = ["size px"] + [f"{v} {c}" for v in variants_seen for c in ["rx", *candidates]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size in sizes:
        row = [str(size)] + [f"{aucs[c][f'{v}/{size}']:.4f}" for v in variants_seen
                             for c in ["rx", *candidates]]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def passes(entry: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Rule 3 for one schedule against the default schedule (both entries of ``chosen``)."""
    margin, default_margin = entry["worst_implant_margin"], reference["worst_implant_margin"]
    implant_ok = margin is None or default_margin is None or margin > 0 or \
        margin >= default_margin - IMPLANT_MARGIN_SLACK
    return entry["loso_mean"] >= reference["loso_mean"] - LOSO_TOLERANCE and implant_ok


def shipped_entry(dev: dict[str, Any], chosen: dict[str, Any], steps: str) -> dict[str, Any]:
    """Rule 3's inputs for the shipped correction alone (one candidate: LOSO = in-sample mean)."""
    loo = selection.leave_one_scene_out({SHIPPED_CORRECTION: dev[steps][SHIPPED_CORRECTION]})
    return {"loso_mean": loo.mean,
            "worst_implant_margin": chosen[steps]["worst_by_candidate"].get(SHIPPED_CORRECTION)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=ROOT.parent / "shared" / "data" / "had")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "select")
    parser.add_argument("--schedules", default="300,300x2",
                        help="candidate fast schedules, STEPS or STEPSxSHARDS, the default first")
    parser.add_argument("--seeds", type=int, default=1, help="seeds of the development fits")
    parser.add_argument("--implant-seeds", default="1",
                        help="seeds of the implant fits: one number, or one per schedule (2,3)")
    parser.add_argument("--implant-hosts", default="abu-airport-1",
                        help="comma list of implant hosts, or 'all' (every scene)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", default="", help="comma list of development scenes (default all)")
    parser.add_argument("--ci-gate", action="store_true",
                        help="rule 1 also requires the issue's CI implant test (benchmarks/ci_gate.py)")
    parser.add_argument("--reference", type=Path,
                        help="an earlier round's results file: the first schedule's numbers are read "
                             "from it instead of fitted")
    parser.add_argument("--ledger", type=Path,
                        help="a JSON file of the maps' scores (benchmarks/map_ledger.py): a map recorded "
                             "there is not fitted again; every map scored is recorded")
    parser.add_argument("--record-only", action="store_true",
                        help="fit nothing: record the scores of the maps kept so far in --ledger and stop")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.record_only and not args.ledger:
        parser.error("--record-only needs --ledger")
    args.ledger, args.missing = Ledger(args.ledger), []
    args.only = {name for name in args.only.split(",") if name}
    args.steps = [s for s in args.schedules.split(",") if s]
    counts = [int(n) if n.strip().isdigit() else 0 for n in args.implant_seeds.split(",")]
    if len(counts) not in (1, len(args.steps)) or min(counts) < 1:
        parser.error("--implant-seeds: one whole number of 1 or more, or one per schedule (2,3)")
    args.implant_seeds = dict(zip(args.steps, counts * len(args.steps) if len(counts) == 1 else counts))
    args.implant_hosts = ([s.stem for s in sorted(args.scenes.glob("*.mat"))]
                          if args.implant_hosts == "all"
                          else [h for h in args.implant_hosts.split(",") if h])
    args.work.mkdir(parents=True, exist_ok=True)

    reference = load_reference(args, parser, list(CANDIDATES)) if args.reference else None
    started, cpu0 = time.perf_counter(), time.process_time()
    fitted = argparse.Namespace(**{**vars(args), "steps": args.steps[1:] if reference else args.steps})
    dev = development(fitted)
    imp = implants(fitted) if args.implant_hosts else {}
    args.ledger.save()
    if args.record_only:
        print(f"recorded {len(args.ledger.entries)} maps in {args.ledger.path}; "
              f"{len(args.missing)} still to fit")
        return 0
    gate = gate_aucs(args if reference else fitted) if args.ci_gate else {}
    if reference:
        merge_reference(reference, str(args.steps[0]), list(CANDIDATES), dev, imp, gate)
    print("\nDevelopment scenes, AUC (mean over seeds), correction applied to the same fit:")
    scenes = sorted(dev["rx"]["rx"])
    print(f"{'':16s}" + "".join(f"{s[:11]:>12s}" for s in scenes) + f"{'mean':>9s}")
    print(f"{'rx':16s}" + "".join(f"{dev['rx']['rx'][s]:12.4f}" for s in scenes)
          + f"{np.mean(list(dev['rx']['rx'].values())):9.4f}")
    for steps in map(str, args.steps):
        for candidate, aucs in dev[steps].items():
            print(f"{'s' + steps + ' ' + candidate:16s}" + "".join(f"{aucs[s]:12.4f}" for s in scenes)
                  + f"{np.mean(list(aucs.values())):9.4f}")
    report: dict[str, Any] = {"development": dev, "implant_aucs": imp, "steps": args.steps,
                              "seeds": args.seeds, "implant_seeds": args.implant_seeds,
                              "implant_hosts": args.implant_hosts,
                              "reference": str(args.reference) if args.reference else None}
    chosen: dict[str, Any] = {}
    for steps in map(str, args.steps):
        by_candidate = imp.get(steps, {})
        worst = {c: min(v - by_candidate["rx"][k] for k, v in cells.items())
                 for c, cells in by_candidate.items() if c != "rx"}
        gated = [c for c in CANDIDATES if not gate or ci_gate.passes(gate[steps], c)]
        if gate:
            print(f"\ns{steps}: the CI implant test passes {gated or 'no candidate (gate not applied)'}")
            gated = gated or list(CANDIDATES)
        if worst:
            print(f"\nImplant worst margin over RX (s{steps}): "
                  + ", ".join(f"{c} {w:+.4f}" for c, w in worst.items()))
            admissible = [c for c in gated if worst[c] > 0] or \
                [c for c in gated if worst[c] == max(worst[g] for g in gated)]
        else:
            admissible = gated
        loo = selection.leave_one_scene_out({c: dev[steps][c] for c in admissible})
        print(f"s{steps}: admissible {admissible}; picks {loo.picks()}; in-sample best "
              f"{loo.in_sample_best} {loo.in_sample_mean:.4f}; leave-one-scene-out {loo.mean:.4f}")
        chosen[steps] = {"admissible": admissible, "pick": loo.in_sample_best,
                         "in_sample_mean": loo.in_sample_mean, "loso_mean": loo.mean,
                         "picks": loo.picks(), "worst_implant_margin": worst.get(loo.in_sample_best),
                         "worst_by_candidate": worst}
    reference = chosen[str(args.steps[0])]
    final_steps = args.steps[0]
    for steps in map(str, args.steps):
        shipped = shipped_entry(dev, chosen, steps)
        print(f"s{steps} with the shipped {SHIPPED_CORRECTION}: mean {shipped['loso_mean']:.4f}, "
              f"implant worst margin {shipped['worst_implant_margin']}")
    for steps in args.steps[1:]:
        entry = chosen[str(steps)]
        if passes(entry, reference) and passes(shipped_entry(dev, chosen, str(steps)),
                                               shipped_entry(dev, chosen, str(args.steps[0]))):
            final_steps = steps
            break
    pick = chosen[str(final_steps)]["pick"]
    report.update(chosen=chosen, ci_gate=gate, selected={"correction": pick, "steps": final_steps},
                  wall_s=round(time.perf_counter() - started, 1),
                  parent_cpu_s=round(time.process_time() - cpu0, 1))
    if args.json:
        write_json(args.json, report)  # the engine's checked, atomic writer
    if imp:
        print(f"\nImplant AUC (s{final_steps}, mean over hosts and seeds), RX beside the pick "
              "and the previous default:")
        print("\n".join(implant_table(imp[str(final_steps)], list(dict.fromkeys([pick, "square15"])))))
    kind, size = CANDIDATES[pick]
    window = {"off": "0", "square": str(size), "lines": f"auto(lines {size})",
              "lines+rx": f"auto(lines {size}) + rx", "lines|rx": f"max(auto(lines {size}), rx)",
              "off|rx": "max(0, rx)", "lines|rx3": f"max(auto(lines {size}), cbrt(rx))",
              "lines|rxq": f"max quantiles(auto(lines {size}), rx)"}[kind]
    print(f"selected local_window={window} steps={final_steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
