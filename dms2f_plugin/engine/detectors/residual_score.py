"""How a DMS2F-HAD reconstruction residual becomes an anomaly score, calibrated at fit time.

A pixel's residual ``r = reconstruction - input`` (bands,) is measured twice:

* its length ``||r||`` (the paper's score): large wherever the network could not reconstruct;
* its Mahalanobis length ``||W^T (r - mu)||`` under the covariance of the scene's own residuals:
  large where the residual points in a direction the background's residuals seldom take, even
  when it is short. It discounts what the network gets wrong everywhere (noisy bands, brightness).

Each is turned into robust units of the background (``(d - median) / MAD``) and the two are
added. The statistics (``mu``, ``W``, medians, MADs) come from the fitted network's residuals on
the scene's own sampled training blocks, after training, without labels; they are stored with the
model, so scoring a tile needs nothing global and tiles stay independent.

How this score was chosen, and what it was compared with, is in the README ("Benchmark"); it is
the same for every scene.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from .inference import reconstruct_blocks
from .oom import run_with_fallback
from .whitening import whitening_matrix

LOG = logging.getLogger(__name__)

#: Eigenvalues of the residual covariance below this fraction of the largest are dropped.
EIGEN_RTOL = 1e-6
#: Most training blocks whose residuals calibrate the score (bounds time and memory).
CALIBRATION_BLOCKS = 256
_CHUNK_PIXELS = 65536


def _median_spread(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD of ``values``; the MAD falls back to the standard deviation, then 1."""
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median)))
    if not spread > 0:
        spread = float(values.std()) or 1.0
    return median, spread


@dataclasses.dataclass(frozen=True)
class ResidualCalibration:
    """Statistics of a fitted network's residuals on its own scene.

    Attributes:
        mean: mean residual ``(bands,)``.
        whiten: eigen-clipped whitening of the residual covariance ``(bands, k)``.
        length_median: median of ``||r||``.
        length_spread: MAD of ``||r||``.
        mahalanobis_median: median of the Mahalanobis length.
        mahalanobis_spread: MAD of the Mahalanobis length.
    """

    mean: np.ndarray
    whiten: np.ndarray
    length_median: float
    length_spread: float
    mahalanobis_median: float
    mahalanobis_spread: float

    @classmethod
    def from_residuals(cls, residuals: np.ndarray) -> ResidualCalibration:
        """Calibrate on background residual pixels.

        Args:
            residuals: ``(bands, n)`` residuals of valid pixels, n >= 2.

        Returns:
            The calibration.

        Raises:
            ValueError: fewer than two pixels.
        """
        if residuals.ndim != 2 or residuals.shape[1] < 2:
            raise ValueError(f"need (bands, n >= 2) residual pixels, got {residuals.shape}")
        pixels = residuals.astype(np.float64)  # (C, n)
        mean = pixels.mean(axis=1)  # (C,)
        whiten = whitening_matrix(np.cov(pixels), rtol=EIGEN_RTOL)  # (C, k)
        length, mahalanobis = _distances(pixels, mean, whiten)  # (n,), (n,)
        calibration = cls(mean, whiten, *_median_spread(length), *_median_spread(mahalanobis))
        LOG.info("Residual calibration on %d pixels: covariance rank %d of %d bands",
                 pixels.shape[1], whiten.shape[1], len(mean))
        return calibration

    def score(self, residual: np.ndarray) -> np.ndarray:
        """Anomaly score of every pixel of a residual cube.

        Args:
            residual: ``(bands, h, w)`` reconstruction minus input.

        Returns:
            float64 ``(h, w)``: robust units of ``||r||`` plus those of the Mahalanobis length.
        """
        bands, h, w = residual.shape
        pixels = residual.reshape(bands, -1)  # (C, h*w)
        out = np.empty(pixels.shape[1], dtype=np.float64)  # (h*w,)
        for start in range(0, pixels.shape[1], _CHUNK_PIXELS):
            chunk = pixels[:, start:start + _CHUNK_PIXELS].astype(np.float64)  # (C, m)
            length, mahalanobis = _distances(chunk, self.mean, self.whiten)  # (m,), (m,)
            out[start:start + _CHUNK_PIXELS] = (
                (length - self.length_median) / self.length_spread
                + (mahalanobis - self.mahalanobis_median) / self.mahalanobis_spread)
        return out.reshape(h, w)

    def to_metadata(self) -> dict[str, Any]:
        """The scalars, JSON-able (the arrays go to :meth:`to_arrays`)."""
        return {"length_median": self.length_median, "length_spread": self.length_spread,
                "mahalanobis_median": self.mahalanobis_median,
                "mahalanobis_spread": self.mahalanobis_spread}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays, by name."""
        return {"mean": self.mean, "whiten": self.whiten}

    @classmethod
    def from_parts(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> ResidualCalibration:
        """Inverse of :meth:`to_metadata` and :meth:`to_arrays`.

        Raises:
            KeyError, TypeError, ValueError: a part is missing or malformed.
        """
        mean = np.asarray(arrays["mean"], dtype=np.float64)  # (C,)
        whiten = np.asarray(arrays["whiten"], dtype=np.float64)  # (C, k)
        if mean.ndim != 1 or whiten.ndim != 2 or whiten.shape[0] != len(mean):
            raise ValueError(f"calibration arrays of shapes {mean.shape} and {whiten.shape}")
        return cls(mean, whiten, float(metadata["length_median"]),
                   float(metadata["length_spread"]), float(metadata["mahalanobis_median"]),
                   float(metadata["mahalanobis_spread"]))


def _distances(pixels: np.ndarray, mean: np.ndarray,
               whiten: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``||r||`` and the Mahalanobis length of ``(C, n)`` float64 residual pixels."""
    length = np.sqrt(np.einsum("cn,cn->n", pixels, pixels))  # (n,)
    z = whiten.T @ (pixels - mean[:, None])  # (k, n)
    return length, np.sqrt(np.einsum("kn,kn->n", z, z))


def calibrate_on_blocks(network: Any, blocks: np.ndarray, valid: np.ndarray, *,
                        device: Any) -> ResidualCalibration:
    """Calibrate the score on the residuals of (at most :data:`CALIBRATION_BLOCKS`) blocks.

    Args:
        network: the fitted network, in eval mode.
        blocks: normalised training blocks ``(n, bands, 16, 16)``.
        valid: which of their pixels are real, valid pixels ``(n, 16, 16)`` (not padding, not
            nodata); only those calibrate.
        device: torch device of the network.

    Returns:
        The calibration.
    """
    pick = np.unique(np.linspace(0, len(blocks) - 1, min(len(blocks), CALIBRATION_BLOCKS))
                     .round().astype(np.int64))  # (m,) evenly spread, deterministic
    chosen = blocks[pick]  # (m, C, 16, 16)
    recon, _, _ = run_with_fallback(
        lambda batch, where: reconstruct_blocks(network, chosen, device=where, batch_size=batch),
        64, device, what="calibrating the score", on_cpu=lambda: network.to("cpu"))
    residual = recon - chosen  # (m, C, 16, 16)
    pixels = residual.transpose(1, 0, 2, 3)[:, valid[pick]]  # (C, valid pixels)
    return ResidualCalibration.from_residuals(pixels)
