"""An earlier selection round's numbers for the default schedule, in place of fitting it again.

``benchmarks/select_defaults.py --reference FILE`` reads the first listed schedule's development,
implant and CI-gate AUCs from an earlier round's results file (its ``--json``), when the maps
that round fitted are lost, and fits only the other schedules. The file must describe the schedule
as the run would fit it (seeds, implant seeds, hosts, gate). The run refits the reference
schedule's CI-gate copy and the RX maps and prints how far they are from the file's numbers: the
check that the file stands for this machine's fits.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def load_reference(args: argparse.Namespace, parser: argparse.ArgumentParser,
                   candidates: list[str]) -> dict[str, Any]:
    """An earlier round's results file, checked to describe the first schedule as this run would."""
    try:
        reference = json.loads(args.reference.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--reference {args.reference}: cannot read it ({exc})")
    first = str(args.steps[0])
    expected = {"seeds": args.seeds, "implant_seeds": args.implant_seeds[first],
                "implant_hosts": args.implant_hosts, "ci_gate": args.ci_gate}
    found = {"seeds": reference.get("seeds"),
             "implant_seeds": reference.get("implant_seeds", {}).get(first),
             "implant_hosts": reference.get("implant_hosts"), "ci_gate": bool(reference.get("ci_gate"))}
    if first not in reference.get("steps", []) or found != expected:
        parser.error(f"--reference {args.reference} does not hold {first} as this run would fit it: "
                     f"it has {found}, this run needs {expected}")
    missing = set(candidates) - set(reference["development"][first])
    if missing:
        parser.error(f"--reference {args.reference} lacks the candidates {sorted(missing)}")
    return reference


def merge_reference(reference: dict[str, Any], first: str, candidates: list[str], dev: dict[str, Any],
                    imp: dict[str, Any], gate: dict[str, Any]) -> None:
    """Put the reference schedule's numbers beside the fitted ones; print how well they reproduce."""
    rx_gap = max(abs(dev["rx"]["rx"][s] - reference["development"]["rx"]["rx"][s]) for s in dev["rx"]["rx"])
    print(f"\nReference {first} read from the results file; RX development AUCs differ from it by "
          f"at most {rx_gap:.2e}", end="")
    if gate:
        fresh = gate[first]
        gap = max(abs(fresh[c][k] - reference["ci_gate"][first][c][k]) for c in fresh for k in fresh[c])
        print(f"; its CI-gate fit, refitted here, by at most {gap:.2e}", end="")
        gate[first] = reference["ci_gate"][first]
    print()
    scenes = set(dev["rx"]["rx"])  # the development scenes of this run (--only)
    dev[first] = {c: {s: auc for s, auc in reference["development"][first][c].items() if s in scenes}
                  for c in candidates}
    if any(set(by_scene) != scenes for by_scene in dev[first].values()):
        raise SystemExit(f"the reference lacks development scenes of this run: {sorted(scenes)}")
    if reference.get("implant_aucs"):
        imp[first] = reference["implant_aucs"][first]
