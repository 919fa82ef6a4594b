"""Prove the CUDA path on a GPU machine: parity of the CUDA scans, then fit + detect one scene.

Run on a CUDA machine from the repository root (the scene travels inside the checkout; the
machine needs torch with CUDA, numpy and scipy or h5py; GDAL is not needed)::

    python3 benchmarks/gpu_check.py --scene build/gpu/aviris-1.mat [--install]

Steps, each printed with its time:

1. the versions, the GPU, whether mamba-ssm's fused kernel imports (``--install`` first tries
   ``pip install mamba-ssm causal-conv1d``, which needs network access or carried wheels);
2. the GPU test tier (``tests/gpu``: the mamba-ssm kernel and the PyTorch fallback against the
   sequential reference, outputs and gradients; the network on CUDA against the CPU);
3. fit + detect of the scene on CUDA with the ``fast`` and the ``paper`` presets (in memory,
   through the engine's own fitting, calibration, scorer and local background), then the ROC
   AUC of each map against the scene's ground truth, read only after the map exists.

The last line is ``gpu_check fast_auc=<x> fast_s=<fit+detect s> paper_auc=<y> paper_s=<s>``.
``--device cpu`` runs the same steps on the CPU (a dry run of the script itself).
"""

from __future__ import annotations

import argparse
import subprocess  # nosec B404 - fixed argument lists, never a shell
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(message, flush=True)


def _install() -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "mamba-ssm", "causal-conv1d"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # nosec B603
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    _say(f"pip install mamba-ssm causal-conv1d: exit {proc.returncode} in "
         f"{time.perf_counter() - started:.0f} s ({tail[0][:160]})")


def _environment(device: str) -> None:
    import torch

    from dms2f_had.models import scan_backend_name

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    _say(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
         f"GPU: {gpu}, scan on {device}: {scan_backend_name(device)}")


def _gpu_tests() -> int:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",  # nosec B603
                           str(REPO / "tests" / "gpu")], capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    _say(f"tests/gpu: {lines[-1] if lines else proc.stderr.strip()[-300:]} "
         f"({time.perf_counter() - started:.0f} s)")
    return proc.returncode


def _fit_and_detect(cube: np.ndarray, preset: str, device: str, seed: int,
                    steps: int | None) -> tuple[np.ndarray, float, float]:
    """Score map of the engine's fit + detect on an in-memory cube, with fit and total seconds."""
    import torch

    from dms2f_had.dms2f_plugin.engine.detectors.dms2f_scorer import Dms2fScorer
    from dms2f_had.dms2f_plugin.engine.detectors.fitting import fit_scene
    from dms2f_had.dms2f_plugin.engine.detectors.local_background import (
        DEFAULT_LOCAL_WINDOW,
        with_local_background,
    )
    from dms2f_had.dms2f_plugin.engine.io.array_source import ArraySource

    source = ArraySource(np.moveaxis(cube, 2, 0))  # (C, H, W)
    started = time.perf_counter()
    fitted = fit_scene(source, preset=preset, device=device, seed=seed, steps=steps)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - started
    inner = Dms2fScorer(fitted, source.height, source.width, device=torch.device(device))
    scorer = with_local_background(inner, DEFAULT_LOCAL_WINDOW, source.height, source.width)
    full = source.full_window
    data, valid = source.read_window(full.expand(scorer.halo, source.width, source.height))
    score = scorer(data, valid, full, full)  # (H, W)
    return score, fit_s, time.perf_counter() - started


def _auc(score: np.ndarray, truth: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(score.ravel())
    positive = truth.ravel() != 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", type=Path, required=True, help="a benchmark .mat scene")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--install", action="store_true", help="try pip install mamba-ssm first")
    parser.add_argument("--presets", default="fast,paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--steps", type=int, default=None, help="fitting steps (default: each preset's)")
    args = parser.parse_args()
    if args.install:
        _install()
    _environment(args.device)
    if not args.skip_tests:
        _gpu_tests()
    from dms2f_had.dms2f_plugin.engine.io.matfile import load_mat

    scene = load_mat(args.scene)  # the cube; its ground truth is used only after each map exists
    summary = []
    for preset in args.presets.split(","):
        score, fit_s, total_s = _fit_and_detect(scene.cube, preset, args.device, args.seed, args.steps)
        auc = _auc(score, scene.ground_truth) if scene.ground_truth is not None else float("nan")
        _say(f"{args.scene.stem} {preset} on {args.device}: fit {fit_s:.1f} s, fit + detect "
             f"{total_s:.1f} s, AUC {auc:.4f}")
        summary.append(f"{preset}_auc={auc:.4f} {preset}_s={total_s:.1f}")
    _say("gpu_check " + " ".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
