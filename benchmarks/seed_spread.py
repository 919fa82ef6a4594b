"""How much each implant size class moves with the network's seed, from select_defaults' maps.

Usage::

    python benchmarks/seed_spread.py --work build/select --implant-hosts all \\
        --implant-seeds 2 --schedule 300x2b8t10s16 --corrections lines61|rx3,lines61|rx

Reads the implant score maps that ``benchmarks/select_defaults.py`` kept in ``--work`` (it fits
nothing; a missing map is an error) and, for each correction, prints the AUC of every size class
as a mean over the hosts and variants, per network seed, then the class's spread: the standard
deviation of those per-seed means (over two seeds, half their difference; with more seeds the
sample standard deviation is printed beside it), the measure of the
issue's "seed std per class"; then, per seed, the worst margin over global RX of the cells
(size class x variant, each a mean over the hosts). Ground truth is read here only to score the kept maps, as
select_defaults does, after every map was written; ``--ledger`` reads the scores of maps no
longer kept from select_defaults' ledger (``benchmarks/map_ledger.py``). The last line is
``max_seed_spread=<largest spread over classes and corrections>``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import select_defaults as sd  # noqa: E402 - the sibling script's map names and corrections
from map_ledger import Ledger  # noqa: E402 - scores of maps no longer kept

from dms2f_had.dms2f_plugin.engine.app.implant import runner, variants  # noqa: E402

Cells = dict[str, dict[tuple[str, int], dict[int, list[float]]]]


def cell_aucs(work: Path, scenes_dir: Path, hosts: list[str], schedule: str, corrections: list[str],
              seeds: int, ledger: Ledger | None = None) -> Cells:
    """correction (and "rx", seed 0) -> (variant, size class) -> seed -> AUC of each host.

    A map no longer kept in ``work`` is read from ``ledger`` (RX maps are always kept).
    """
    ledger = ledger or Ledger(None)
    cells: Cells = collections.defaultdict(
        lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for copy, tag in sd.implant_copies(scenes_dir, hosts):  # the copies select_defaults scored
        for name in variants.VARIANTS:
            rx = sd.read_map(sd.implant_map(work, tag, name))
            for size, auc in runner.class_aucs(rx, copy).items():
                cells["rx"][(name, int(size))][0].append(auc)
            for seed in range(seeds):
                path = sd.implant_map(work, tag, name, schedule, seed)
                by_correction = ledger.scores(
                    path, functools.partial(sd.implant_scores, path, rx, copy, corrections), record=False)
                for correction in corrections:
                    for size, auc in by_correction[correction].items():
                        cells[correction][(name, int(size))][seed].append(auc)
    return cells


def class_means(cells: Cells) -> dict[str, dict[int, dict[int, float]]]:
    """correction (and "rx") -> size class -> seed -> AUC mean over hosts and variants."""
    pooled: dict[str, dict[int, dict[int, list[float]]]] = collections.defaultdict(
        lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for correction, by_cell in cells.items():
        for (_, size), by_seed in by_cell.items():
            for seed, aucs in by_seed.items():
                pooled[correction][size][seed].extend(aucs)
    return {c: {size: {seed: float(np.mean(v)) for seed, v in by_seed.items()}
                for size, by_seed in by_size.items()} for c, by_size in pooled.items()}


def worst_margin(cells: Cells, correction: str, seed: int) -> tuple[float, str]:
    """Least (correction - RX) over the cells, each a mean over hosts, for one seed; its cell."""
    rx = cells["rx"]
    margins = {f"{variant}, {size} px": float(np.mean(by_seed[seed]) - np.mean(rx[(variant, size)][0]))
               for (variant, size), by_seed in cells[correction].items()}
    cell = min(margins, key=margins.__getitem__)
    return margins[cell], cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=Path, default=sd.ROOT.parent / "shared" / "data" / "had")
    parser.add_argument("--work", type=Path, default=sd.ROOT / "build" / "select")
    parser.add_argument("--schedule", default="300x2b8t10s16")
    parser.add_argument("--corrections", default=sd.SHIPPED_CORRECTION)
    parser.add_argument("--implant-seeds", type=int, default=2)
    parser.add_argument("--implant-hosts", default="all")
    parser.add_argument("--ledger", type=Path, help="select_defaults' --ledger, for maps no longer kept")
    args = parser.parse_args(argv)
    corrections = [c for c in args.corrections.split(",") if c]
    unknown = [c for c in corrections if c not in sd.CANDIDATES]
    if unknown or args.implant_seeds < 2:
        parser.error(f"unknown corrections {unknown}" if unknown else "a spread needs 2 seeds or more")
    hosts = ([p.stem for p in sorted(args.scenes.glob("*.mat"))] if args.implant_hosts == "all"
             else args.implant_hosts.split(","))
    cells = cell_aucs(args.work, args.scenes, hosts, args.schedule, corrections, args.implant_seeds,
                      Ledger(args.ledger))
    means = class_means(cells)
    sizes = sorted(means["rx"])
    print(f"Implant AUC per size class, mean over {len(hosts)} hosts and {len(variants.VARIANTS)} "
          f"variants, schedule {args.schedule}:")
    print("| correction | seed | " + " | ".join(f"{s} px" for s in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    print("| global RX | | " + " | ".join(f"{means['rx'][s][0]:.4f}" for s in sizes) + " |")
    largest = 0.0
    for correction in corrections:
        for seed in range(args.implant_seeds):
            print(f"| {correction} | {seed} | "
                  + " | ".join(f"{means[correction][s][seed]:.4f}" for s in sizes) + " |")
        spreads = [float(np.std(list(means[correction][s].values()))) for s in sizes]
        largest = max(largest, *spreads)
        print(f"| {correction} | spread | " + " | ".join(f"{x:.4f}" for x in spreads) + " |")
        if args.implant_seeds > 2:  # with two seeds ddof 1 is the spread times the square root of 2
            print(f"| {correction} | sample std (n - 1) | " + " | ".join(
                f"{np.std(list(means[correction][s].values()), ddof=1):.4f}" for s in sizes) + " |")
    for correction in corrections:
        worst = [worst_margin(cells, correction, seed) for seed in range(args.implant_seeds)]
        print(f"{correction}: worst margin over RX (cells of size class x variant, mean over hosts) "
              + "; ".join(f"seed {seed} {m:+.4f} ({cell})" for seed, (m, cell) in enumerate(worst)))
    print(f"max_seed_spread={largest:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
