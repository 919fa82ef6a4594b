"""What the implant benchmark prints: AUC per size class and variant, worst scenes, the last line.

A *record* is one run (scene copy, variant, method, seed) as the runner stores it: keys
``scene``, ``variant``, ``method``, ``seed`` and ``auc`` (size class as text -> ROC AUC of that
class), besides the timings. Aggregation, for each (variant, size class, method): per seed, the
mean over scenes; then the mean and the standard deviation of those over the seeds (RX and local
RX are deterministic and run once, so their spread is 0).

Beside the AUCs, each target's *rank* (the share of the background below its median pixel,
recorded by the runner) says which targets a method finds: :func:`found_lines` counts, per size
class, the targets each method ranks at or above :data:`FOUND_RANK`, and those no method finds
(a class's AUC margin can hinge on where two methods place a target neither of them sees).

The last line is ``implant_worst_margin_vs_rx=<m>``: the minimum over size classes and variants
of (mean DMS2F AUC - RX AUC), ``nan`` when either method is missing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Record = dict[str, Any]
#: A target is found when its median pixel scores above this share of the background.
FOUND_RANK = 0.99


@dataclasses.dataclass(frozen=True)
class ClassResult:
    """One cell of the table: mean and spread over seeds of the mean AUC over scenes."""

    mean: float
    std: float
    seeds: int
    scenes: int


def _sizes(records: Iterable[Record]) -> list[int]:
    return sorted({int(size) for r in records for size in r["auc"]})


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    seen = set(values)
    return [v for v in order if v in seen] + sorted(seen - set(order))


def summarise(records: Sequence[Record]) -> dict[tuple[str, int, str], ClassResult]:
    """(variant, size class, method) -> :class:`ClassResult` (see the module docstring)."""
    cells: dict[tuple[str, int, str], dict[int, list[float]]] = {}
    for r in records:
        for size, auc in r["auc"].items():
            key = (r["variant"], int(size), r["method"])
            cells.setdefault(key, {}).setdefault(int(r["seed"]), []).append(float(auc))
    out = {}
    for key, by_seed in cells.items():
        per_seed = np.array([np.mean(v) for v in by_seed.values()])
        scenes = max(len(v) for v in by_seed.values())
        out[key] = ClassResult(float(per_seed.mean()), float(per_seed.std()), len(per_seed), scenes)
    return out


def worst_margin_vs_rx(summary: dict[tuple[str, int, str], ClassResult]) -> float:
    """Minimum over (variant, size class) of mean DMS2F AUC - RX AUC; NaN without both methods."""
    margins = [cell.mean - summary[(variant, size, "rx")].mean
               for (variant, size, method), cell in summary.items()
               if method == "dms2f" and (variant, size, "rx") in summary]
    return min(margins) if margins else math.nan


def table_lines(summary: dict[tuple[str, int, str], ClassResult], methods: Sequence[str],
                variants: Sequence[str]) -> list[str]:
    """Markdown: one row per (variant, size class), ``mean (std)`` per method, DMS2F - RX."""
    methods = _ordered({m for _, _, m in summary}, methods)
    margin = "dms2f" in methods and "rx" in methods
    head = ["variant", "size px", *[f"{m} AUC (std)" for m in methods]]
    head += ["dms2f - rx"] if margin else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant in _ordered({v for v, _, _ in summary}, variants):
        for size in sorted({s for v, s, _ in summary if v == variant}):
            cells = []
            for m in methods:
                cell = summary.get((variant, size, m))
                cells.append("" if cell is None else f"{cell.mean:.4f} ({cell.std:.4f})")
            if margin:
                d, r = summary.get((variant, size, "dms2f")), summary.get((variant, size, "rx"))
                cells.append("" if d is None or r is None else f"{d.mean - r.mean:+.4f}")
            lines.append(f"| {variant} | {size} | " + " | ".join(cells) + " |")
    return lines


def _scene_means(records: Sequence[Record], method: str,
                 size: int) -> dict[tuple[str, str], float]:
    """(scene, variant) -> mean over seeds of one method's AUC in one size class."""
    values: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r["method"] == method and str(size) in r["auc"]:
            values.setdefault((r["scene"], r["variant"]), []).append(float(r["auc"][str(size)]))
    return {key: float(np.mean(v)) for key, v in values.items()}


def worst_scene_lines(records: Sequence[Record], methods: Sequence[str]) -> list[str]:
    """Per size class: each method's lowest (scene, variant), and the lowest DMS2F - RX margin."""
    lines = []
    methods = _ordered({r["method"] for r in records}, methods)
    for size in _sizes(records):
        parts = []
        for method in methods:
            means = _scene_means(records, method, size)
            if means:
                (scene, variant), auc = min(means.items(), key=lambda kv: (kv[1], kv[0]))
                parts.append(f"{method} {auc:.4f} on {scene}/{variant}")
        dms2f, rx = _scene_means(records, "dms2f", size), _scene_means(records, "rx", size)
        gaps = {key: dms2f[key] - rx[key] for key in dms2f if key in rx}
        if gaps:
            (scene, variant), gap = min(gaps.items(), key=lambda kv: (kv[1], kv[0]))
            parts.append(f"dms2f - rx {gap:+.4f} on {scene}/{variant}")
        lines.append(f"worst scene, {size} px: " + "; ".join(parts))
    return lines


def found_lines(records: Sequence[Record], methods: Sequence[str]) -> list[str]:
    """Markdown: per size class, targets each method finds (mean over seeds) and none finds.

    Records without target ranks (older results files) are left out; no lines without any.
    """
    # (scene, group, variant, implant seed) -> method -> per target, found or not, per seed.
    images: dict[tuple[str, ...], dict[str, list[list[float]]]] = {}
    sizes: dict[tuple[str, ...], list[int]] = {}
    for r in records:
        if not r.get("targets"):
            continue
        image = (str(r["scene"]), str(r.get("group")), str(r["variant"]), str(r.get("implant_seed")))
        found = [float(t["rank"] >= FOUND_RANK) for t in r["targets"]]
        images.setdefault(image, {}).setdefault(r["method"], []).append(found)
        sizes[image] = [int(t["size"]) for t in r["targets"]]
    if not images:
        return []
    methods = _ordered({m for runs in images.values() for m in runs}, methods)
    totals: dict[int, dict[str, float]] = {}
    for key, runs in images.items():
        shares = {m: np.mean(np.array(v), axis=0) for m, v in runs.items()}  # (targets,)
        for i, size in enumerate(sizes[key]):
            cell = totals.setdefault(size, {"targets": 0.0, "none": 0.0})
            cell["targets"] += 1
            cell["none"] += float(all(s[i] == 0 for s in shares.values()))
            for m, share in shares.items():
                cell[m] = cell.get(m, 0.0) + float(share[i])
    lines = [f"targets found (median pixel above {FOUND_RANK:.0%} of the background; mean over "
             "seeds), per size class:",
             "| size px | targets | " + " | ".join(methods) + " | found by none |",
             "|" + "---|" * (len(methods) + 3)]
    for size in sorted(totals):
        cell = totals[size]
        counts = " | ".join(f"{cell.get(m, 0.0):g}" for m in methods)
        lines.append(f"| {size} | {cell['targets']:g} | {counts} | {cell['none']:g} |")
    return lines


def final_line(summary: dict[tuple[str, int, str], ClassResult]) -> str:
    """``implant_worst_margin_vs_rx=<m>`` with 4 decimals (``nan`` when undefined)."""
    margin = worst_margin_vs_rx(summary)
    return f"implant_worst_margin_vs_rx={'nan' if math.isnan(margin) else f'{margin:.4f}'}"
