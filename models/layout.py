"""The one layout helper of the scan kernels: (batch, channels, L) tensors made time-major."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def time_major(x: Tensor, *, time_first: bool = False) -> Tensor:
    """A contiguous, time-major copy of ``x`` (no copy when its memory is already so laid out).

    Args:
        x: (batch, X, L), any strides.
        time_first: put time before the batch.

    Returns:
        (batch, L, X), or (L, batch, X) with ``time_first``; detached from autograd.
    """
    order = (2, 0, 1) if time_first else (0, 2, 1)
    return x.detach().permute(*order).contiguous()
