"""The issue's CI implant test, as a gate of ``benchmarks/select_defaults.py``'s rule 1.

The issue fixes a CI test (``tests/integration/test_implant_defaults.py``): on ``abu-airport-1``,
one implant copy holding the 1, 25 and 144 px classes (implant seed 0), the original variant,
network seed 0, the shipped defaults must beat global RX in every class. A default that fails it
cannot ship, so the selection scores every candidate correction on that same copy, from one raw
fit per schedule (the correction off, as every map of the selection), and rule 1 requires it.
Ground truth (the implant masks) is read only after the maps are written. Like every map of the
selection, the gate's image and maps are kept in the work folder and reused by name; start a fresh
folder after changing the implant synthesis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dms2f_had.dms2f_plugin.engine.app.implant import runner, synthesis, variants

#: As in tests/integration/test_implant_defaults.py (its scene rule is written there).
SCENE = "abu-airport-1"
GROUP = (1, 25, 144)
VARIANT = "original"
SEED = 0

Task = tuple[str, str, str, str, int]


def write_image(copy: synthesis.ImplantedScene, work: Path) -> Path:
    """The test's variant of its implant copy (``SCENE``, ``GROUP``), written once into ``work``."""
    path = work / f"ci-gate-{SCENE}-{VARIANT}.tif"
    if not path.exists():
        variants.write_variant(variants.make_variant(VARIANT, copy.cube, 0), path)
    return path


def raw_map(work: Path, schedule: str | None) -> Path:
    """Where the gate's RX map (``schedule`` None) or a schedule's raw seed-0 map is kept."""
    return work / f"ci-gate-{SCENE}-{'rx' if schedule is None else f's{schedule}-seed{SEED}'}.tif"


def tasks(image: Path, work: Path, schedules: list[str]) -> list[Task]:
    """The fits the gate needs, as ``fit_maps.run_all`` tasks."""
    return [(str(image), str(raw_map(work, None)), "rx", "0", 0)] + [
        (str(image), str(raw_map(work, s)), "dms2f", s, SEED) for s in schedules]


def class_aucs(copy: synthesis.ImplantedScene, work: Path, schedules: list[str], candidates: list[str],
               read: Callable[[Path], np.ndarray],
               corrected: Callable[[np.ndarray, str, np.ndarray], np.ndarray],
               ) -> dict[str, dict[str, dict[str, float]]]:
    """schedule -> candidate (and "rx") -> size class -> AUC on the gate's copy."""
    rx = read(raw_map(work, None))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for schedule in schedules:
        raw = read(raw_map(work, schedule))
        out[schedule] = {"rx": runner.class_aucs(rx, copy)}
        for candidate in candidates:
            out[schedule][candidate] = runner.class_aucs(corrected(raw, candidate, rx), copy)
    return out


def passes(aucs: dict[str, dict[str, float]], candidate: str) -> bool:
    """The test's assertion: the candidate above RX in every size class."""
    return all(aucs[candidate][size] > aucs["rx"][size] for size in aucs["rx"])
