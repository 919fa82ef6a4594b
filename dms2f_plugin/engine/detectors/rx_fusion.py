"""Fusion of the corrected DMS2F-HAD score with global RX, each in robust units of its own map.

The automatic background handling ends here. RX's score is a squared Mahalanobis distance,
close to chi-square with a long right tail; its cube root is close to normal (the
Wilson-Hilferty transform), so a few bright pixels do not stretch its scale. The line-corrected
network score ``a`` and the cube root of the global RX score ``r`` of the same raster are each
put in robust units of the whole map, ``(x - median) / (1.4826 MAD)`` over the valid pixels, and
the larger of the two is the score::

    fused = max((a - median_a) / spread_a, (cbrt(r) - median_c) / spread_c)

A pixel is as anomalous as the more confident of the two detectors says, in units of that
detector's own background: where RX sees a target the network reconstructs (large targets, few
bands), the RX term carries it; where the network sees what RX's global covariance hides (targets
that enter the covariance), the network term does. It was chosen by the rule fixed in
``benchmarks/select_defaults.py`` (implant benchmark over every development scene first); the
README gives its numbers and what it costs.

The medians and spreads need the whole maps, so :func:`..tiled.score_raster` scores the two maps
to temporary rasters first (both from one read of each tile: :class:`PairedScorer`) and fuses them
in a last pass (:func:`fusion_terms` of each tile, then :func:`fuse`); tiles stay independent
(Dask included). Maps larger than :data:`EXACT_PIXELS` take their medians from a regular grid of
pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..io.window import Window
    from .tiled import TileScorer

LOGGER = logging.getLogger(__name__)

#: Up to this many pixels a map's median and MAD use every valid pixel; above, a regular grid.
EXACT_PIXELS = 1 << 24
#: MAD to standard deviation for a normal background.
MAD_TO_SIGMA = 1.4826
#: What a fused score's metadata (``rx_fusion``) says of the fusion.
FUSION_METADATA = "max of robust units (RX as its cube root)"


@dataclasses.dataclass(frozen=True)
class RxFusedScorer:
    """The two scorers whose maps are fused; :func:`..tiled.score_raster` scores both per tile.

    Attributes:
        network: the (corrected) DMS2F-HAD scorer.
        rx: the global RX scorer of the same raster.
    """

    network: TileScorer
    rx: TileScorer


class PairedScorer:
    """The fusion's first pass: both uncorrected maps of a tile from one read of the raster.

    A tile scorer (halo and alignment the network's) returning ``(2, h, w)`` float32: the
    network's scores, then global RX's, which scores the core of the window the network read
    (RX needs no halo). Picklable, so Dask workers score tiles with it as with any scorer.
    """

    def __init__(self, network: TileScorer, rx: TileScorer) -> None:
        """Pair ``network`` with ``rx`` (whose halo must be 0)."""
        if rx.halo:
            raise ValueError(f"the paired RX scorer needs no halo, got {rx.halo}")
        self.network, self.rx = network, rx
        self.halo, self.align = network.halo, network.align

    def __call__(self, cube: np.ndarray, valid: np.ndarray, read_window: Window,
                 core_window: Window) -> np.ndarray:
        """Both scores of ``core_window``, float32 ``(2, core_h, core_w)``."""
        return np.stack([np.asarray(scorer(cube, valid, read_window, core_window), np.float32)
                         for scorer in (self.network, self.rx)])  # (2, h, w)


@dataclasses.dataclass(frozen=True)
class RobustScale:
    """A map's median and spread (1.4826 MAD; 1 when the MAD is 0)."""

    median: float
    spread: float

    @classmethod
    def of(cls, values: np.ndarray) -> RobustScale:
        """The scale of the finite ``values`` (any shape; NaN left out; 0 and 1 when none)."""
        finite = values[np.isfinite(values)].astype(np.float64)  # (n,)
        if finite.size == 0:
            return cls(0.0, 1.0)
        median = float(np.median(finite))
        spread = MAD_TO_SIGMA * float(np.median(np.abs(finite - median)))
        return cls(median, spread if spread > 0 else 1.0)

    def units(self, values: np.ndarray) -> np.ndarray:
        """``values`` in robust units, float64 (NaN kept)."""
        return (np.asarray(values, dtype=np.float64) - self.median) / self.spread


def sample_step(width: int, height: int) -> int:
    """Row and column step of the pixels a map's scale is taken from (1: every pixel)."""
    return max(1, math.ceil(math.sqrt(width * height / EXACT_PIXELS)))


def sampled(values: np.ndarray, row_off: int, col_off: int, step: int) -> np.ndarray:
    """The pixels of a tile ``(h, w)`` at ``(row_off, col_off)`` on the global ``step`` grid."""
    first_row, first_col = -row_off % step, -col_off % step
    return values[first_row::step, first_col::step].ravel()


def fusion_terms(network: np.ndarray, rx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two maps as the fusion scales them: the network's as it is, RX's cube root.

    Args:
        network: the (corrected) network scores ``(h, w)``.
        rx: the global RX scores of the same pixels ``(h, w)`` (squared distances, >= 0).

    Returns:
        ``(network, cbrt(rx))``, float64 ``(h, w)`` each, NaN kept.
    """
    return (np.asarray(network, dtype=np.float64),
            np.cbrt(np.asarray(rx, dtype=np.float64)))  # (h, w) each


def fuse(network: np.ndarray, rx: np.ndarray, network_scale: RobustScale,
         rx_scale: RobustScale) -> np.ndarray:
    """The fused score of matching tiles ``(h, w)``: the larger robust unit, float32 (NaN kept).

    ``network`` and ``rx`` are :func:`fusion_terms`; the scales are those of the whole maps' terms.
    """
    return np.fmax(network_scale.units(network), rx_scale.units(rx)).astype(np.float32)


def fuse_arrays(network: np.ndarray, rx: np.ndarray) -> np.ndarray:
    """Whole maps ``(H, W)`` (network, RX scores) fused in memory: the tiled pass's reference."""
    network, rx = fusion_terms(network, rx)  # (H, W) each
    step = sample_step(network.shape[1], network.shape[0])
    network_scale, rx_scale = (RobustScale.of(sampled(m, 0, 0, step)) for m in (network, rx))
    log_fusion(network_scale, rx_scale, rx_share(network, rx, network_scale, rx_scale))
    return fuse(network, rx, network_scale, rx_scale)


def rx_share(network: np.ndarray, rx: np.ndarray, network_scale: RobustScale,
             rx_scale: RobustScale) -> tuple[int, int]:
    """``(pixels where the RX term is the larger, valid pixels)`` of matching fusion terms."""
    a, b = network_scale.units(network), rx_scale.units(rx)
    both = np.isfinite(a) & np.isfinite(b)
    return int((b[both] > a[both]).sum()), int(both.sum())


def log_fusion(network_scale: RobustScale, rx_scale: RobustScale, share_rx: tuple[int, int]) -> None:
    """One line for the analyst: the two scales and where RX decides."""
    larger, valid = share_rx
    LOGGER.info("Fused with global RX in robust units (DMS2F median %.4g, spread %.4g; cube root "
                "of RX median %.4g, spread %.4g): the RX term is the larger at %.1f%% of the "
                "pixels",
                network_scale.median, network_scale.spread, rx_scale.median, rx_scale.spread,
                100.0 * larger / valid if valid else 0.0)
