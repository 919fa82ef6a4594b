"""The Mamba layer's depthwise causal convolution followed by SiLU, as numba CPU kernels.

``out[b, t, d] = silu(bias[d] + sum_k w[d, k] x[b, t - (K - 1) + k, d])`` (x is zero before t = 0),
with a hand-written backward that recomputes the pre-activation instead of storing it. The
kernels (in :mod:`.numba_kernels`) loop over the D channels innermost (contiguous in the
time-major (b, L, D) layout), so they vectorise; the batch is split across threads
(:func:`.kernel_threads.run_batched`), and dW and d(bias) are summed per batch row and reduced
afterwards.
"""

from __future__ import annotations

import torch

from .kernel_threads import run_batched
from .numba_kernels import as_arrays, conv_silu_backward, conv_silu_forward

Tensor = torch.Tensor


def numba_causal_conv_silu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """SiLU of a depthwise causal convolution along L, on numba kernels (CPU).

    Args:
        x: token-major input, (b, L, D).
        weight: the depthwise kernel as ``nn.Conv1d`` stores it, (D, 1, K).
        bias: (D,).

    Returns:
        (b, L, D), contiguous.
    """
    return _CausalConvSilu.apply(x, weight, bias)


class _CausalConvSilu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        xc = x.detach().contiguous()  # (b, L, D)
        wt = weight.detach()[:, 0, :].t().contiguous().to(xc.dtype)  # (K, D)
        b = bias.detach().to(xc.dtype)  # (D,)
        out = torch.empty_like(xc)  # (b, L, D)
        run_batched(conv_silu_forward, as_arrays(xc, out), as_arrays(wt, b))
        ctx.save_for_backward(xc, wt, b)
        return out

    @staticmethod
    def backward(ctx, dout: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        xc, wt, b = ctx.saved_tensors
        dx = torch.zeros_like(xc)  # (b, L, D)
        dwt = xc.new_zeros(xc.shape[0], *wt.shape)  # (b, K, D)
        dbias = xc.new_zeros(xc.shape[0], xc.shape[2])  # (b, D)
        run_batched(conv_silu_backward, as_arrays(xc, dout.to(xc.dtype), dx, dwt, dbias), as_arrays(wt, b))
        return dx, dwt.sum(0).t()[:, None, :], dbias.sum(0)  # (b, L, D), (D, 1, K), (D,)
