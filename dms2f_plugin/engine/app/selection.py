"""Choosing a default honestly: the leave-one-scene-out estimate of a selection rule.

Picking the candidate setting with the best mean AUC over the same scenes it is then reported on
overstates what a new scene will get. Leave-one-scene-out measures the rule "pick the best mean"
itself: for each scene in turn, the candidate with the best mean over the OTHER scenes is picked
and its AUC on the held-out scene recorded; the mean of those is the estimate a new scene can
expect, and the picks show how stable the choice is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Fold:
    """One held-out scene: the candidate picked on the others and its AUC there."""

    held_out: str
    picked: str
    auc: float


@dataclasses.dataclass(frozen=True)
class LeaveOneOut:
    """The leave-one-scene-out estimate.

    Attributes:
        mean: mean over the folds of the held-out AUC.
        folds: one :class:`Fold` per scene, in scene order.
        in_sample_best: the candidate with the best mean over all scenes.
        in_sample_mean: that mean (the optimistic, in-sample figure).
    """

    mean: float
    folds: tuple[Fold, ...]
    in_sample_best: str
    in_sample_mean: float

    def picks(self) -> dict[str, int]:
        """How many folds picked each candidate."""
        counts: dict[str, int] = {}
        for fold in self.folds:
            counts[fold.picked] = counts.get(fold.picked, 0) + 1
        return counts


def _best(aucs: Mapping[str, Mapping[str, float]], candidates: Sequence[str],
          scenes: Sequence[str]) -> tuple[str, float]:
    """The candidate with the highest mean over ``scenes``; ties go to the earlier candidate."""
    means = [(float(np.mean([aucs[c][s] for s in scenes])), -i, c) for i, c in enumerate(candidates)]
    mean, _, best = max(means)
    return best, mean


def leave_one_scene_out(aucs: Mapping[str, Mapping[str, float]]) -> LeaveOneOut:
    """Leave-one-scene-out estimate of "pick the candidate with the best mean AUC".

    Args:
        aucs: candidate -> scene -> AUC; every candidate must have every scene. Candidates keep
            the mapping's order, which breaks ties (list the current default first).

    Returns:
        The :class:`LeaveOneOut` estimate.

    Raises:
        ValueError: no candidate, fewer than two scenes, or a candidate missing a scene.
    """
    candidates = list(aucs)
    if not candidates:
        raise ValueError("no candidate settings to choose from")
    scenes = sorted(aucs[candidates[0]])
    if len(scenes) < 2:
        raise ValueError(f"leave-one-scene-out needs at least two scenes, got {scenes}")
    for candidate in candidates:
        if sorted(aucs[candidate]) != scenes:
            missing = sorted(set(scenes) ^ set(aucs[candidate]))
            raise ValueError(f"candidate '{candidate}' does not cover the same scenes as "
                             f"'{candidates[0]}' (differs on {missing})")
    folds = []
    for held_out in scenes:
        picked, _ = _best(aucs, candidates, [s for s in scenes if s != held_out])
        folds.append(Fold(held_out, picked, float(aucs[picked][held_out])))
    best, best_mean = _best(aucs, candidates, scenes)
    return LeaveOneOut(mean=float(np.mean([f.auc for f in folds])), folds=tuple(folds),
                       in_sample_best=best, in_sample_mean=best_mean)


def scene_aucs(results: Sequence[Mapping[str, Any]], method: str = "dms2f") -> dict[str, float]:
    """Scene -> mean AUC over seeds of one method's runs in a ``dms2f-had bench`` JSON."""
    values: dict[str, list[float]] = {}
    for run in results:
        if run["method"] == method:
            values.setdefault(run["scene"], []).append(float(run["auc"]))
    return {scene: float(np.mean(v)) for scene, v in sorted(values.items())}
