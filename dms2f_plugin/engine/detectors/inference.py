"""Reconstruction of blocks by a fitted network, in eval mode: what scoring and calibration run."""

from __future__ import annotations

import functools

import numpy as np

from .cpu_threads import parallel_slices, run_in_parallel


def reconstruct_blocks(network, blocks: np.ndarray, *, device, batch_size: int = 64) -> np.ndarray:
    """Reconstruct blocks with a fitted network in eval mode (no masking, no dropout).

    On the CPU each batch is cut into one slice per torch thread, reconstructed on parallel
    threads (:mod:`.cpu_threads`); a block's reconstruction depends on its batch only through
    floating-point rounding.

    Args:
        network: the fitted network.
        blocks: normalised blocks, shape (n, bands, block, block), float32.
        device: torch device of the network.
        batch_size: blocks per forward pass.

    Returns:
        Reconstructions, same shape and dtype as ``blocks``.
    """
    import torch

    out = np.empty_like(blocks, dtype=np.float32)  # (n, C, 16, 16)

    def run(start: int, stop: int) -> None:
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(blocks[start:stop])).to(device)  # (b, C, 16, 16)
            out[start:stop] = network(batch).float().cpu().numpy()  # (b, C, 16, 16)

    with parallel_slices(device, batch_size) as slices:
        for start in range(0, len(blocks), batch_size):
            stop = min(len(blocks), start + batch_size)
            bounds = np.linspace(start, stop, min(slices, stop - start) + 1).astype(int)
            run_in_parallel([functools.partial(run, int(lo), int(hi)) for lo, hi in zip(bounds, bounds[1:])])
    return out
