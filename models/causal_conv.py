"""The Mamba layer's depthwise causal convolution + SiLU behind one signature.

- :func:`causal_conv_silu_ref`: ``nn.Conv1d``'s own computation (pad, convolve, cut), then SiLU;
  readable; the tests' reference.
- :func:`causal_conv_silu`: the shipped path: the numba kernels of :mod:`.conv_numba` on the CPU
  when numba imports, else the same convolution as a 2-D convolution on a channels-last view
  (no transposed copies), then SiLU.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention

Tensor = torch.Tensor


def causal_conv_silu_ref(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Reference: ``silu(conv1d(x, padding K - 1)[..., :L])`` on token-major input.

    Args:
        x: (b, L, D).
        weight: (D, 1, K), depthwise.
        bias: (D,).

    Returns:
        (b, L, D).
    """
    length, k_size = x.shape[1], weight.shape[-1]
    out = F.conv1d(x.transpose(1, 2), weight, bias, padding=k_size - 1,
                   groups=weight.shape[0])  # (b, D, L + K - 1)
    return F.silu(out[..., :length]).transpose(1, 2)  # (b, L, D)


def _conv2d_silu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The same as :func:`causal_conv_silu_ref` as a 2-D convolution on a channels-last view."""
    length, k_size = x.shape[1], weight.shape[-1]
    image = x.transpose(1, 2).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (b, D, 1, L)
    out = F.conv2d(image, weight.unsqueeze(2), bias, padding=(0, k_size - 1),
                   groups=weight.shape[0])  # (b, D, 1, L + K - 1)
    return F.silu(out[:, :, 0, :length].transpose(1, 2))  # (b, L, D)


def causal_conv_silu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """SiLU of the depthwise causal convolution of token-major ``x`` (see the module docstring).

    Args:
        x: (b, L, D).
        weight: (D, 1, K), depthwise.
        bias: (D,).

    Returns:
        (b, L, D).
    """
    kernel = _numba_kernel() if x.device.type == "cpu" else None
    return (kernel or _conv2d_silu)(x, weight, bias)


@functools.cache
def _numba_kernel() -> Callable[[Tensor, Tensor, Tensor], Tensor] | None:
    """The numba path, or None when numba does not import (the scan dispatcher logs that)."""
    try:
        from .conv_numba import numba_causal_conv_silu
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return None
    return numba_causal_conv_silu
