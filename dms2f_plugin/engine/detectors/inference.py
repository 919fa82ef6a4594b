"""Reconstruction of blocks by a fitted network, in eval mode: what scoring and calibration run."""

from __future__ import annotations

import numpy as np


def reconstruct_blocks(network, blocks: np.ndarray, *, device, batch_size: int = 64) -> np.ndarray:
    """Reconstruct blocks with a fitted network in eval mode (no masking, no dropout).

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
    with torch.inference_mode():
        for start in range(0, len(blocks), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(blocks[start : start + batch_size])).to(device)
            out[start : start + batch_size] = network(batch).float().cpu().numpy()  # (b, C, 16, 16)
    return out
