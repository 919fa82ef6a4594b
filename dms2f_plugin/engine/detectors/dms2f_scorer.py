"""Tile scorer for a fitted DMS2F-HAD network: calibrated residual of overlap-averaged reconstructions.

For each tile the scorer cuts every global-grid block that touches the core (the read window has
a halo of one block), reconstructs them in eval mode, averages the overlapping reconstructions
back onto the core pixels and scores each pixel's residual ``reconstruction - input`` (both
normalised) with the fitted model's :class:`~.residual_score.ResidualCalibration`. See
:mod:`.blocks` for why the result does not depend on the tile size; the local background
correction is a separate wrapper (:mod:`.local_background`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.window import Window
from .blocks import BLOCK_SIZE, BLOCK_STRIDE, BlockAccumulator, extract_blocks, grid_block_origins
from .fitting import SCHEDULES
from .inference import reconstruct_blocks
from .oom import run_with_fallback

if TYPE_CHECKING:
    from .model_file import FittedModel

LOG = logging.getLogger(__name__)


def preset_scoring_stride(preset: str) -> int:
    """The block stride models of ``preset`` are scored with (8 for an unknown preset)."""
    schedule = SCHEDULES.get(preset)
    return schedule.scoring_stride if schedule is not None else BLOCK_STRIDE


class Dms2fScorer:
    """A ``TileScorer``: halo of one block, cores aligned to the block stride.

    Attributes:
        halo: pixels read around each core (16).
        align: tile cores start on multiples of this (the scoring stride).
        stride: pixels between block origins.
    """

    halo = BLOCK_SIZE

    def __init__(self, fitted: FittedModel, raster_height: int, raster_width: int, *,
                 device, batch_size: int = 64, stride: int | None = None) -> None:
        """Prepare the scorer.

        Args:
            fitted: the fitted model (network in eval mode and its normalisation).
            raster_height: rows of the whole raster (the block grid is global).
            raster_width: columns of the whole raster.
            device: torch device to score on (the network is moved there).
            batch_size: blocks per forward pass.
            stride: pixels between block origins (None: the model's preset's
                ``scoring_stride``, :data:`.fitting.SCHEDULES`; 8 for an unknown preset).
        """
        self.stride = preset_scoring_stride(fitted.preset) if stride is None else stride
        self.align = self.stride
        self.fitted = fitted
        self.height = raster_height
        self.width = raster_width
        self.device = device
        fitted.network.to(device)
        self.batch_size = batch_size

    def __call__(self, cube: np.ndarray, valid: np.ndarray, read_window: Window,
                 core: Window) -> np.ndarray:
        """Score the core pixels of one tile.

        Args:
            cube: raw values ``(bands, h, w)`` of ``read_window`` (0 at invalid pixels).
            valid: validity ``(h, w)`` of ``read_window``.
            read_window: the window ``cube`` covers (core plus halo, clipped to the raster).
            core: the pixels to score.

        Returns:
            float32 scores ``(core.height, core.width)``, NaN at invalid pixels.
        """
        residual = self.residual(cube, valid, read_window, core)  # (C, ch, cw)
        score = self.fitted.calibration.score(residual)  # (ch, cw)
        score[~valid[core.slices_in(read_window)]] = np.nan
        return score.astype(np.float32)

    def residual(self, cube: np.ndarray, valid: np.ndarray, read_window: Window,
                 core: Window) -> np.ndarray:
        """Reconstruction minus input (both normalised) of the core pixels of one tile.

        Args:
            cube: raw values ``(bands, h, w)`` of ``read_window`` (0 at invalid pixels).
            valid: validity ``(h, w)`` of ``read_window``.
            read_window: the window ``cube`` covers (core plus halo, clipped to the raster).
            core: the pixels whose residual is wanted.

        Returns:
            float32 ``(bands, core.height, core.width)``.
        """
        data = self.fitted.normalisation.apply(cube, valid)  # (C, h, w)
        origins = grid_block_origins(core, self.height, self.width, self.stride)  # (n, 2)
        accumulator = BlockAccumulator(core, data.shape[0])
        # Blocks are cut and reconstructed one batch at a time, so memory stays at one batch of
        # blocks whatever the tile size.
        for start in range(0, len(origins), self.batch_size):
            batch = origins[start : start + self.batch_size]  # (b, 2)
            blocks = extract_blocks(data, batch, read_window)  # (b, C, 16, 16)
            accumulator.add(self._reconstruct(blocks), batch)
        rows, cols = core.slices_in(read_window)
        residual = accumulator.result()  # (C, ch, cw), the mean reconstruction, in place
        residual -= data[:, rows, cols]
        return residual

    def _reconstruct(self, blocks: np.ndarray) -> np.ndarray:
        """Reconstruct ``(b, C, 16, 16)`` blocks.

        After CUDA out-of-memory errors: smaller batches, then the CPU (:mod:`.oom`), kept for the
        following tiles.
        """
        network = self.fitted.network

        def run(batch_size: int, device: Any) -> np.ndarray:
            return reconstruct_blocks(network, blocks, device=device, batch_size=batch_size)

        out, self.batch_size, self.device = run_with_fallback(
            run, self.batch_size, self.device, what="scoring", on_cpu=lambda: network.to("cpu"))
        return out
