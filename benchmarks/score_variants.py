"""How the DMS2F-HAD score was chosen: AUC of each way of scoring the SAME fitted networks.

For every ``.mat`` scene in ``--scenes`` and every seed, fits the network once with the shipped
defaults (no labels), reconstructs the whole scene, and scores the residual cube several ways:

* ``length``: the residual's length, the paper's score (the engine's score before this choice);
* ``length+mahal``: length plus Mahalanobis length, each in robust units, calibrated on the
  training blocks as the engine does (without the local background);
* ``length+mahal local W``: the same minus the local median score of a W x W neighbourhood (what
  ships, with W = 15);
* ``length local 15``: the length alone, minus its local median;
* ``RX`` and ``RX local 15``: global RX on the scene, without and with the same local median
  (to see whether the local median helps any detector or this score in particular).

Only then is the ground truth read, to print one AUC table (mean and std over seeds per scene)
and a mean row per variant; the last line is ``best=<variant> mean_auc=<x>``. It runs the fits in
this process, one after the other (about 50 s each on 2 cores). Usage::

    .venv/bin/python benchmarks/score_variants.py --scenes ../shared/data/had [--seeds 3]
        [--only abu-beach-2,...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dms2f_had.dms2f_plugin.engine.detectors.dms2f_scorer import Dms2fScorer
from dms2f_had.dms2f_plugin.engine.detectors.fitting import fit_scene
from dms2f_had.dms2f_plugin.engine.detectors.local_background import local_median
from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer
from dms2f_had.dms2f_plugin.engine.io.matfile import load_mat
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.io.window import Window
from dms2f_had.dms2f_plugin.engine.products.evaluate import roc_auc

WINDOWS = (11, 15, 21, 31)


def normalised_and_residual(fitted, source) -> tuple[np.ndarray, np.ndarray]:
    """Normalised input and residual of the whole scene, both ``(C, H, W)``, as the engine scores."""
    import torch

    full = source.full_window
    cube, valid = source.read_window(full)  # (C, H, W), (H, W)
    scorer = Dms2fScorer(fitted, source.height, source.width, device=torch.device("cpu"))
    residual = scorer.residual(cube, valid, full, full)  # (C, H, W)
    return fitted.normalisation.apply(cube, valid), residual


def global_rx(data: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of every pixel to the scene's mean and covariance ``(H, W)``."""
    bands, h, w = data.shape
    pixels = data.reshape(bands, -1).astype(np.float64)  # (C, n)
    scorer = GlobalRxScorer(pixels.mean(axis=1), np.cov(pixels))
    full = Window(0, 0, w, h)
    return np.sqrt(scorer(data, np.ones((h, w), dtype=bool), full, full))  # (H, W), squared -> distance


def variants(fitted, source) -> dict[str, np.ndarray]:
    """Every score map of one fitted network, by variant name."""
    data, residual = normalised_and_residual(fitted, source)
    length = np.sqrt(np.einsum("chw,chw->hw", residual, residual))  # (H, W)
    calibrated = fitted.calibration.score(residual)  # (H, W), as the engine scores
    rx = global_rx(data)
    maps = {"length": length, "length+mahal": calibrated,
            "length local 15": length - local_median(length, 15),
            "RX": rx, "RX local 15": rx - local_median(rx, 15)}
    for window in WINDOWS:
        maps[f"length+mahal local {window}"] = calibrated - local_median(calibrated, window)
    return maps


def main() -> int:
    """Fit, score every variant, then (only then) evaluate; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated scene stems")
    parser.add_argument("--steps", type=int, default=None, help="fitting steps (default: the preset's)")
    args = parser.parse_args()
    scenes = sorted(args.scenes.glob("*.mat"))
    if args.only:
        scenes = [s for s in scenes if s.stem in args.only.split(",")]
    aucs: dict[tuple[str, str], list[float]] = {}
    for scene in scenes:
        for seed in range(args.seeds):
            with open_raster(scene) as source:
                fitted = fit_scene(source, preset="fast", device="cpu", seed=seed, steps=args.steps)
                maps = variants(fitted, source)
            truth = load_mat(scene).ground_truth  # read only now, after the maps exist
            for name, score in maps.items():
                aucs.setdefault((name, scene.stem), []).append(roc_auc(score, truth))
            print(f"{scene.stem} seed {seed} fitted and scored", flush=True)
    names = list(dict.fromkeys(name for name, _ in aucs))
    print("\n| variant | " + " | ".join(s.stem for s in scenes) + " | mean |")
    print("|---|" + "---|" * (len(scenes) + 1))
    means = {}
    for name in names:
        cells = [aucs[(name, s.stem)] for s in scenes]
        means[name] = float(np.mean([np.mean(c) for c in cells]))
        print(f"| {name} | " + " | ".join(f"{np.mean(c):.4f}±{np.std(c):.4f}" for c in cells)
              + f" | {means[name]:.4f} |")
    best = max(means, key=means.get)
    print(f"best={best.replace(' ', '_')} mean_auc={means[best]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
