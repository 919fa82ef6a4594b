"""Pixel-level evaluation of a score map against ground truth.

- ROC AUC: area under PD (true-positive rate) versus PF (false-positive rate) over all distinct
  score thresholds, by the trapezoid rule. Tied scores form one step, i.e. a diagonal segment,
  so the AUC equals the Mann-Whitney probability ``P(s_anomaly > s_background) + 0.5 P(tie)``.
- Chang's 3D-ROC measures, with ``tau`` the score min-max normalised to [0, 1] over the evaluated
  pixels: ``AUC(D,tau) = integral_0^1 PD(tau) dtau`` and ``AUC(F,tau) = integral_0^1 PF(tau)
  dtau`` where ``PD(tau)`` / ``PF(tau)`` are the fractions of anomaly / background pixels with
  normalised score >= tau. Since ``integral_0^1 [s >= tau] dtau = s``, these are exactly the
  mean normalised score of the anomaly pixels and of the background pixels; that closed form is
  what is computed (no discretisation of tau). Derived: ``AUC_TD = AUC + AUC(D,tau)``,
  ``AUC_BS = AUC - AUC(F,tau)``, ``AUC_SNPR = AUC(D,tau) / AUC(F,tau)``.

Ground truth: a raster on the score's grid (any nonzero = anomaly; its nodata pixels are left
out), or polygons (any OGR vector) burnt onto the score's grid (:mod:`.ground_truth` refuses a
raster on another grid and polygons without a CRS or outside the score's extent, rather than
comparing misaligned pixels). Pixels where the score is nodata are left out. The whole score map
is held in memory (sorting needs it): 12 bytes per pixel.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from ..errors import InputError
from ..io.gdalutil import is_raster, open_vector
from ..io.raster import RasterSource, open_raster
from ..types import PathLike
from .ground_truth import burn_polygons, check_same_grid

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RocCurve:
    """ROC points from the highest threshold down: ``pf``, ``pd`` and the thresholds."""

    pf: np.ndarray
    pd: np.ndarray
    thresholds: np.ndarray


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Detection quality numbers.

    Attributes:
        auc: ROC AUC.
        auc_d_tau: AUC(D, tau), mean normalised score of anomaly pixels.
        auc_f_tau: AUC(F, tau), mean normalised score of background pixels.
        anomaly_pixels: anomaly pixels evaluated.
        background_pixels: background pixels evaluated.
        roc: the ROC curve.
    """

    auc: float
    auc_d_tau: float
    auc_f_tau: float
    anomaly_pixels: int
    background_pixels: int
    roc: RocCurve

    @property
    def auc_td(self) -> float:
        """Target detectability AUC + AUC(D,tau)."""
        return self.auc + self.auc_d_tau

    @property
    def auc_bs(self) -> float:
        """Background suppression AUC - AUC(F,tau)."""
        return self.auc - self.auc_f_tau

    @property
    def auc_snpr(self) -> float:
        """Signal-to-noise probability ratio AUC(D,tau) / AUC(F,tau) (inf when 0)."""
        return self.auc_d_tau / self.auc_f_tau if self.auc_f_tau > 0 else float("inf")


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten, and refuse inputs without both classes."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel() != 0
    if scores.shape != labels.shape:
        raise InputError(f"{scores.size} scores but {labels.size} labels; they must match.")
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        kind = "no anomaly" if positives == 0 else "no background"
        raise InputError(f"The ground truth has {kind} pixel among the {labels.size} evaluated "
                         "pixels, so ROC AUC is undefined; check the ground-truth raster.")
    return scores, labels


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> RocCurve:
    """ROC curve over all distinct thresholds (ties form one diagonal step).

    Args:
        scores: any shape; higher = more anomalous.
        labels: same size; nonzero = anomaly.

    Returns:
        :class:`RocCurve` starting at (0, 0) and ending at (1, 1).

    Raises:
        InputError: sizes differ, or only one class present.
    """
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_run = np.r_[np.nonzero(np.diff(sorted_scores))[0], sorted_scores.size - 1]
    tp = np.cumsum(sorted_labels)[last_of_run]
    fp = (last_of_run + 1) - tp
    pd = np.r_[0.0, tp / tp[-1]]
    pf = np.r_[0.0, fp / fp[-1]]
    return RocCurve(pf, pd, np.r_[np.inf, sorted_scores[last_of_run]])


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid-rule integral of ``y`` over ``x`` (the same on numpy 1 and numpy 2)."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids; ties count one half)."""
    curve = roc_curve(scores, labels)
    return trapezoid(curve.pd, curve.pf)


def tau_aucs(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(AUC(D,tau), AUC(F,tau))`` by the closed form in the module docstring."""
    scores, labels = _check(scores, labels)
    lo, hi = scores.min(), scores.max()
    norm = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
    return float(norm[labels].mean()), float(norm[~labels].mean())


def evaluate_arrays(scores: np.ndarray, labels: np.ndarray) -> Evaluation:
    """All measures for matching score and label arrays (NaN scores are left out)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    keep = np.isfinite(scores)
    scores, labels = scores[keep], labels[keep] != 0
    curve = roc_curve(scores, labels)
    d_tau, f_tau = tau_aucs(scores, labels)
    return Evaluation(auc=trapezoid(curve.pd, curve.pf), auc_d_tau=d_tau, auc_f_tau=f_tau,
                      anomaly_pixels=int(labels.sum()), background_pixels=int((~labels).sum()),
                      roc=curve)


def _ground_truth_on_grid(path: PathLike, score: RasterSource) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, usable)`` uint8/bool ``(H, W)`` of a raster, vector or .mat ground truth."""
    text = os.fspath(path)
    if text.lower().endswith(".mat"):
        return _mat_ground_truth(path, score)
    vector = open_vector(text)
    if vector is not None and not is_raster(text):
        return burn_polygons(vector, text, score.info), np.ones((score.height, score.width), bool)
    with open_raster(path, min_bands=1) as truth:
        if truth.info.band_count != 1:  # most often the image itself, given by mistake
            raise InputError(f"The ground truth '{path}' has {truth.info.band_count} bands; give "
                             "a single-band raster with 1 for anomalies and 0 for background "
                             "(not the image).")
        check_same_grid(truth.info, score.info)
        cube, usable = truth.read_window(truth.full_window)  # (bands, H, W), (H, W)
    if not usable.any():
        raise InputError(f"The ground truth '{path}' has no valid pixel (all nodata); give a "
                         "ground truth with 1 for anomalies and 0 for background.")
    return (cube[0] != 0).astype(np.uint8), usable


def _mat_ground_truth(path: PathLike, score: RasterSource) -> tuple[np.ndarray, np.ndarray]:
    """The ground-truth map of a benchmark .mat scene, checked against the score's size."""
    from ..io.matfile import load_mat

    labels = load_mat(path).ground_truth
    if labels is None:
        raise InputError(f"'{path}' holds no ground-truth map; give a ground-truth raster or "
                         "polygons instead.")
    if labels.shape != (score.height, score.width):
        raise InputError(
            f"Ground truth in '{path}' is {labels.shape[1]} x {labels.shape[0]} pixels but the "
            f"score raster is {score.width} x {score.height}; score that scene itself.")
    return (labels != 0).astype(np.uint8), np.ones(labels.shape, dtype=bool)


def evaluate_rasters(score_path: PathLike, ground_truth_path: PathLike) -> Evaluation:
    """Evaluate a score raster against a ground-truth raster or vector.

    Args:
        score_path: single-band score raster (NaN/nodata pixels left out).
        ground_truth_path: raster on the same grid (nonzero = anomaly) or polygons.

    Returns:
        The :class:`Evaluation`.

    Raises:
        RasterReadError: unreadable file.
        InputError: grids differ, or the ground truth lacks anomalies or background.
    """
    with open_raster(score_path, min_bands=1) as score:
        if score.info.band_count != 1:
            raise InputError(f"'{score_path}' has {score.info.band_count} bands; give the "
                             "single-band score raster written by 'dms2f-had detect'.")
        cube, valid = score.read_window(score.full_window)  # (1, H, W), (H, W)
        if not valid.any():
            raise InputError(f"The score raster '{score_path}' has no valid pixel (every score is "
                             "NaN or nodata), so there is nothing to evaluate; check the run that "
                             "wrote it (its input's nodata and band selection).")
        labels, usable = _ground_truth_on_grid(ground_truth_path, score)
    keep = valid & usable  # (H, W)
    if not keep.any():
        raise InputError(f"No pixel is valid in both the score '{score_path}' and the ground "
                         f"truth '{ground_truth_path}'; their nodata areas cover each other.")
    result = evaluate_arrays(cube[0][keep], labels[keep])
    LOGGER.info("AUC %.4f, AUC(D,tau) %.4f, AUC(F,tau) %.4f over %d anomaly and %d background "
                "pixels", result.auc, result.auc_d_tau, result.auc_f_tau, result.anomaly_pixels,
                result.background_pixels)
    return result

