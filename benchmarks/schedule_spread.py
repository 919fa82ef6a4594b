"""How much one implant size class moves with the network's seed, under each candidate schedule.

Usage::

    python benchmarks/schedule_spread.py --scenes ../shared/data/had --work build/schedule-spread \\
        --schedules 300x2b8t25s16,150x2b8t25e2s16 [--hosts abu-airport-1,san-diego,abu-urban-3,pavia-car] \\
        [--size 144] [--seeds 6] [--correction "lines45|rx3"] [--workers 2]

An exploration, not a selection: it chooses nothing. For each host's implant copy of one size class
(implant seed 0, the original variant, as select_defaults builds it) and for the CI implant test's
copy (``benchmarks/ci_gate.py``: abu-airport-1, 1, 25 and 144 px), it fits every schedule
(``benchmarks/fit_maps.py``'s grammar, ensembles included) with network seeds 0..N-1, scores the
maps with ``--correction`` (``benchmarks/candidates.py``) and prints, per schedule, the class AUC of
every fit, the mean, the pooled seed std (the root of the mean over hosts of each host's sample
variance over the seeds), the standard deviation over the seeds of the mean over the hosts, and on
the CI test's copy whether each seed beats global RX in every class, and where each of its 1 px
targets ranks (:func:`...implant.runner.target_ranks`). Ground truth (the implant masks) is
read only after every map is written; every image and map is kept in ``--work`` and reused by name.
An ensemble's map (``eMEMBERS``) not yet in the folder is the mean of its members' maps, each kept
as the map of the schedule without ``eMEMBERS`` at the member's seed (``fit_maps.member_seeds``):
the members of full-length ensembles are the single schedule's fits at those seeds (shared with
its own seeds), fitted once whichever needs them (the maps ``fit_maps.fit_raw`` would average).
Last line: ``schedule_spread <schedule>=<pooled std> ...``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ci_gate  # noqa: E402 - the CI test's copy
import select_defaults as sd  # noqa: E402 - the sibling script's implant copies and scores
from candidates import corrected  # noqa: E402 - the candidate corrections
from fit_maps import average_maps, member_seeds, parse_schedule, run_all  # noqa: E402 - the fits
from seed_sources import HOSTS  # noqa: E402 - the same four hosts

from dms2f_had.dms2f_plugin.engine.app.implant import runner, variants  # noqa: E402


def pooled_std(aucs: dict[str, list[float]]) -> float:
    """Root of the mean over hosts of each host's sample variance (n - 1) over the seeds."""
    return float(np.sqrt(np.mean([np.var(v, ddof=1) for v in aucs.values()])))


def schedule_list(text: str) -> list[str]:
    """The ``--schedules`` list, each checked against the grammar before any fit starts."""
    schedules = [s for s in text.split(",") if s]
    for schedule in schedules:
        try:
            parse_schedule(schedule)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if not schedules:
        raise argparse.ArgumentTypeError("name at least one schedule")
    return schedules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="keeps every image and map")
    parser.add_argument("--schedules", type=schedule_list, required=True)
    parser.add_argument("--hosts", default=HOSTS)
    parser.add_argument("--size", type=int, default=144, choices=[1, 4, 9, 25, 64, 144, 300])
    parser.add_argument("--seeds", type=int, default=6, choices=range(2, 21), metavar="2..20")
    parser.add_argument("--correction", default=sd.SHIPPED_CORRECTION, choices=list(sd.CANDIDATES))
    parser.add_argument("--workers", type=int, default=2, choices=range(1, 17), metavar="1..16")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    hosts = [h for h in args.hosts.split(",") if h]
    copies = {tag: copy for copy, tag in sd.implant_copies(args.scenes, hosts, [(args.size,)])}
    gate_copy, _ = next(sd.implant_copies(args.scenes, [ci_gate.SCENE], [ci_gate.GROUP]))
    images = {"ci-gate": ci_gate.write_image(gate_copy, args.work)}
    for tag, copy in copies.items():
        images[tag] = args.work / f"implant-{tag}-original.tif"
        if not images[tag].exists():
            variants.write_variant(variants.make_variant("original", copy.cube, 0), images[tag])

    def raw(tag: str, schedule: str | None, seed: int = 0) -> Path:
        return args.work / f"{tag}-{'rx' if schedule is None else f's{schedule}-seed{seed}'}.tif"

    tasks = [(str(images[t]), str(raw(t, None)), "rx", "0", 0) for t in images]
    ensembles: dict[Path, tuple[list[Path], list[int]]] = {}  # an ensemble's map -> members' maps, seeds
    for seed in range(args.seeds):
        for s in args.schedules:
            members = parse_schedule(s)[-1]
            for t in images:
                if members == 1 or raw(t, s, seed).exists():
                    tasks.append((str(images[t]), str(raw(t, s, seed)), "dms2f", s, seed))
                    continue
                base = re.sub(r"e\d+", "", s)  # each member is a fit of the schedule without eN
                seeds = member_seeds(seed, members)
                ensembles[raw(t, s, seed)] = ([raw(t, base, m) for m in seeds], seeds)
                tasks += [(str(images[t]), str(raw(t, base, m)), "dms2f", base, m) for m in seeds]
    tasks = list(dict.fromkeys(tasks))  # a member shared by two ensembles is fitted once
    print(f"{sum(not Path(t[1]).exists() for t in tasks)} map(s) to fit", flush=True)
    run_all(tasks, args.workers)
    for out, (members_maps, seeds) in ensembles.items():
        average_maps(members_maps, out, seeds)

    size = str(args.size)
    pooled: dict[str, float] = {}
    gate_rx_map = sd.read_map(raw("ci-gate", None))
    gate_rx = runner.class_aucs(gate_rx_map, gate_copy)
    for schedule in args.schedules:
        aucs: dict[str, list[float]] = {}
        for tag, copy in copies.items():
            rx = sd.read_map(raw(tag, None))
            aucs[tag] = [sd.implant_scores(raw(tag, schedule, seed), rx, copy, [args.correction])
                         [args.correction][size] for seed in range(args.seeds)]
        print(f"\ns{schedule}, {args.correction}, {args.size} px, seeds 0..{args.seeds - 1}:")
        for tag, values in aucs.items():
            print(f"  {tag:22s} " + " ".join(f"{v:.4f}" for v in values)
                  + f"  mean {np.mean(values):.4f} std {np.std(values, ddof=1):.4f}")
        hosts_mean = np.mean(list(aucs.values()), axis=0)  # (seeds,) the mean over the hosts
        pooled[schedule] = pooled_std(aucs)
        print(f"  mean {np.mean(hosts_mean):.4f}; pooled seed std {pooled[schedule]:.4f}; std over the "
              f"seeds of the {len(aucs)}-host mean {np.std(hosts_mean, ddof=1):.4f} (n - 1), "
              f"{np.std(hosts_mean):.4f} (n)")
        passed = 0
        for seed in range(args.seeds):
            score = corrected(sd.read_map(raw("ci-gate", schedule, seed)), args.correction, gate_rx_map)
            scores = runner.class_aucs(score, gate_copy)
            ok = ci_gate.passes({"rx": gate_rx, args.correction: scores}, args.correction)
            passed += ok
            ranks = [t["rank"] for t in runner.target_ranks(score, gate_copy) if t["size"] == 1]
            print(f"  CI test's copy, seed {seed}: " + " ".join(f"{k} px {v:.4f}" for k, v in scores.items())
                  + ("  passes" if ok else "  FAILS") + "; 1 px ranks " + " ".join(f"{r:.4f}" for r in ranks))
        print(f"  CI test's copy: {passed} of {args.seeds} seeds pass (RX "
              + " ".join(f"{k} px {v:.4f}" for k, v in gate_rx.items()) + ")")
    rx_ranks = [t for t in runner.target_ranks(gate_rx_map, gate_copy) if t["size"] == 1]
    print("\nThe CI test's copy's 1 px targets: abundance "
          + " ".join(f"{t['abundance']:.2f}" for t in rx_ranks)
          + "; rank (the share of the background below the target) with RX "
          + " ".join(f"{t['rank']:.4f}" for t in rx_ranks))
    print("schedule_spread " + " ".join(f"{s}={v:.4f}" for s, v in pooled.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
