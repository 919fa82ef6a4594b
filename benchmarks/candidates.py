"""The candidate background corrections of ``benchmarks/select_defaults.py``.

Each is a deterministic function of a raw score map (the network's, the correction off) and, for
the fusions, the global RX map of the same image; the protocol that declared them is
``benchmarks/selection-protocol.md``.
"""

from __future__ import annotations

import numpy as np

from dms2f_had.dms2f_plugin.engine.detectors import local_background as lb
from dms2f_had.dms2f_plugin.engine.detectors.rx_fusion import RobustScale

#: Candidate corrections: name -> (kind, size); kinds as in :func:`corrected`.
CANDIDATES: dict[str, tuple[str, int]] = {
    "off": ("off", 0), "square15": ("square", 15), "square31": ("square", 31),
    "square51": ("square", 51), "lines31": ("lines", 31), "lines61": ("lines", 61),
    "lines61+rx": ("lines+rx", 61), "lines61|rx": ("lines|rx", 61),
    "off|rx": ("off|rx", 0), "lines61|rx3": ("lines|rx3", 61), "lines61|rxq": ("lines|rxq", 61),
    "lines31|rx3": ("lines|rx3", 31), "lines45|rx3": ("lines|rx3", 45),
}


def robust_units(score: np.ndarray) -> np.ndarray:
    """``(score - median) / (1.4826 MAD)`` over the finite pixels (NaN kept): the shipped fusion's."""
    return RobustScale.of(score).units(score)


def corrected(raw: np.ndarray, candidate: str, rx: np.ndarray | None = None) -> np.ndarray:
    """``raw`` (H, W) with a candidate correction subtracted, or fused with ``rx`` (NaN kept)."""
    kind, size = CANDIDATES[candidate]
    if kind == "off":
        return raw
    if kind == "off|rx":
        return np.fmax(robust_units(raw), robust_units(_needs(rx)))
    background = lb.square_background(size) if kind == "square" else lb.line_background(size)
    score = raw - background(raw)
    if kind == "lines+rx":
        return robust_units(score) + robust_units(_needs(rx))
    if kind == "lines|rx":
        return np.fmax(robust_units(score), robust_units(_needs(rx)))
    if kind == "lines|rx3":
        return np.fmax(robust_units(score), robust_units(np.cbrt(_needs(rx))))
    if kind == "lines|rxq":
        return np.fmax(normal_quantiles(score), normal_quantiles(_needs(rx)))
    return score


def normal_quantiles(score: np.ndarray) -> np.ndarray:
    """Each finite pixel's average rank ``r`` of ``n`` as ``Phi^-1((r - 0.5) / n)`` (NaN kept)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    out = np.full(score.shape, np.nan)
    finite = np.isfinite(score)
    ranks = rankdata(score[finite], method="average")  # (n,) 1..n
    out[finite] = ndtri((ranks - 0.5) / len(ranks))
    return out


def _needs(rx: np.ndarray | None) -> np.ndarray:
    if rx is None:
        raise ValueError("a fusion candidate needs the RX map of the same image")
    return rx
