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


def reconstruction_loss(recon: Tensor, target: Tensor, trim: float = 0.0) -> Tensor:
    """MSE + 0.1 * L1, both averaged over every element (but the trimmed pixels).

    Computed by :class:`_MseL1` in two passes forward and one backward (autograd's composition
    of the two losses makes about eight); :func:`reconstruction_loss_ref` is the plain formula
    its parity test holds it to.

    Args:
        recon: reconstructions, (batch, bands, H, W).
        target: clean blocks, same shape.
        trim: share of each block's pixels left out, those with the largest loss (0: none; see
            :func:`trimmed_reconstruction_loss`).

    Returns:
        Scalar loss.
    """
    if trim:
        return trimmed_reconstruction_loss(recon, target, trim)
    return _MseL1.apply(recon, target)


def trimmed_reconstruction_loss(recon: Tensor, target: Tensor, trim: float) -> Tensor:
    """The loss over each block's pixels but its ``trim`` share with the largest loss.

    A robust fit: pixels the network reconstructs worst (rare materials, targets) do not pull it
    towards reconstructing them. Per block, so the loss of a batch is the mean of its blocks'
    and does not depend on how the batch is split. ``trim = 0`` is :func:`reconstruction_loss`.

    Args:
        recon: reconstructions, (batch, bands, H, W).
        target: clean blocks, same shape.
        trim: share in ``[0, 1)`` of each block's H x W pixels left out.

    Returns:
        Scalar loss.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"trim must be in [0, 1), got {trim}")
    diff = recon - target  # (b, C, H, W)
    per_pixel = (diff.square() + L1_WEIGHT * diff.abs()).mean(dim=1).flatten(1)  # (b, H*W)
    keep = per_pixel.shape[1] - int(trim * per_pixel.shape[1])
    kept = torch.topk(per_pixel, keep, dim=1, largest=False).values  # (b, keep)
    return kept.mean()


def reconstruction_loss_ref(recon: Tensor, target: Tensor) -> Tensor:
    """Reference: ``F.mse_loss + 0.1 F.l1_loss``, differentiated by autograd."""
    return F.mse_loss(recon, target) + L1_WEIGHT * F.l1_loss(recon, target)


class _MseL1(torch.autograd.Function):
    """``mean(d^2) + 0.1 mean(|d|)`` with ``d = recon - target``; gradient ``(2 d + 0.1 sign d) / n``."""

    @staticmethod
    def forward(ctx, recon: Tensor, target: Tensor) -> Tensor:
        diff = recon.detach() - target.detach()  # recon's shape
        n = diff.numel()
        ctx.save_for_backward(diff)
        ctx.target_grad = target.requires_grad
        return (diff.square().sum() + L1_WEIGHT * diff.abs().sum()) / n  # ()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor | None]:
        (diff,) = ctx.saved_tensors
        g = torch.sign(diff).mul_(L1_WEIGHT).add_(diff, alpha=2.0).mul_(grad / diff.numel())  # recon's shape
        return g, (-g if ctx.target_grad else None)
