"""Training objective: random 3x3 holes in the input blocks and the reconstruction loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention

Tensor = torch.Tensor

HOLE = 3
L1_WEIGHT = 0.1


def corrupt_blocks(x: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """With probability ``p`` (one draw per batch), zero one random 3x3 hole per block, all bands.

    Args:
        x: blocks, (batch, bands, H, W), H and W at least 3.
        generator: source of randomness (its device is used for the draws).
        p: probability that this batch is corrupted.

    Returns:
        A new tensor like ``x`` (``x`` itself is never modified).
    """
    device = generator.device
    if torch.rand((), generator=generator, device=device).item() >= p:
        return x.clone()
    batch, _, height, width = x.shape
    rows = torch.randint(0, height - HOLE + 1, (batch, 1), generator=generator,
                         device=device).to(x.device)  # (b, 1)
    cols = torch.randint(0, width - HOLE + 1, (batch, 1), generator=generator,
                         device=device).to(x.device)  # (b, 1)
    ys = torch.arange(height, device=x.device)  # (H,)
    xs = torch.arange(width, device=x.device)  # (W,)
    in_rows = (ys >= rows) & (ys < rows + HOLE)  # (b, H)
    in_cols = (xs >= cols) & (xs < cols + HOLE)  # (b, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (b, H, W)
    return x.masked_fill(hole[:, None], 0.0)  # (b, bands, H, W)


def reconstruction_loss(recon: Tensor, target: Tensor) -> Tensor:
    """MSE + 0.1 * L1, both averaged over every element.

    Args:
        recon: reconstructions, (batch, bands, H, W).
        target: clean blocks, same shape.

    Returns:
        Scalar loss.
    """
    return F.mse_loss(recon, target) + L1_WEIGHT * F.l1_loss(recon, target)
