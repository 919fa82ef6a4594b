"""Eigen-clipped whitening of a covariance: the Mahalanobis distance behind RX and the residual score."""

from __future__ import annotations

import numpy as np


def whitening_matrix(covariance: np.ndarray, *, rtol: float = 1e-10,
                     components: int | None = None) -> np.ndarray:
    """Eigen-clipped whitening ``W`` with ``W W^T = C^+`` (restricted to the top components).

    Args:
        covariance: symmetric ``(bands, bands)``.
        rtol: eigenvalues <= ``rtol`` x the largest are dropped (pseudo-inverse).
        components: keep at most this many leading components (None = all kept).

    Returns:
        ``(bands, k)`` float64; ``||W^T (x - mu)||^2`` is the Mahalanobis distance.
    """
    values, vectors = np.linalg.eigh(covariance)  # (bands,), (bands, bands) ascending
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = values > rtol * max(values[0], np.finfo(float).tiny)
    if components is not None:
        keep &= np.arange(len(values)) < components
    return vectors[:, keep] / np.sqrt(values[keep])  # (bands, k)
