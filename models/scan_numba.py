"""The selective scan with its skip and gate, as numba CPU kernels with a hand-written backward.

Computes ``out = (scan(u, delta, A, B, C) + D u) * silu(z)`` (skip and gate optional), where
delta already holds the step sizes after bias and softplus (those stay autograd ops around it).
The kernels are vectorised across the channels: for each batch row b and time t the state ``h`` is
an (N, D) array, and every inner loop runs over the D channels, which are contiguous in the
time-major (b, L, D) layout a Mamba layer produces:

- forward: ``h[n] = exp(delta_t A[:, n]) h[n] + delta_t u_t B_t[n]``, ``y_t = sum_n C_t[n] h[n]``,
  then skip and gate; nothing but the inputs is kept for the backward.
- backward: per batch row, the forward is recomputed into an (L+1, N, D) history of states and
  an (L, N, D) history of decays, then the adjoint ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` runs
  backwards with the gradient formulas of :mod:`.scan_torch`, after the gate's and the skip's
  own gradients. dA and dD are accumulated per batch row and summed afterwards; dB and dC are
  sums over the channels.

The kernels, compile options, ``exp`` and threading: :mod:`.numba_kernels`.
"""

from __future__ import annotations

from typing import Optional

import torch

from .layout import time_major
from .numba_kernels import as_arrays, run_batched, scan_backward, scan_forward

Tensor = torch.Tensor


def numba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,  # noqa: N803
               D: Optional[Tensor] = None, z: Optional[Tensor] = None) -> Tensor:  # noqa: N803
    """``(scan + D u) * silu(z)`` on numba kernels (CPU, float32 or float64; one dtype for all).

    The kernels work time-major: (batch, D, L) tensors whose memory is (batch, L, D), as a Mamba
    layer produces them from its tokens, are used without a copy, and the result comes back so.

    Args:
        u: input, (batch, D, L).
        delta: step sizes (after bias and softplus), (batch, D, L).
        A: state matrix, (D, N).
        B: input projection, (batch, N, L).
        C: output projection, (batch, N, L).
        D: skip connection per channel, (D,), or None.
        z: gate, (batch, D, L), or None.

    Returns:
        The output, (batch, D, L) (memory time-major).
    """
    return _NumbaScan.apply(u, delta, A, B, C, D, z)


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,  # noqa: N803
                D: Optional[Tensor], z: Optional[Tensor]) -> Tensor:  # noqa: N803
        use_d, use_z = D is not None, z is not None
        ut, dt, bt, ct = (time_major(x) for x in (u, delta, B, C))  # (b, L, D) x2, (b, L, N) x2
        dv = D.detach().to(ut.dtype) if D is not None else ut.new_zeros(ut.shape[2])  # (D,)
        zt = time_major(z).to(ut.dtype) if z is not None else ut  # (b, L, D); a placeholder
        out = ut.new_empty(ut.shape)  # (b, L, D)
        run_batched(scan_forward, as_arrays(ut, dt, bt, ct, zt, out),
                    [*as_arrays(dv, A.t()), use_d, use_z])
        ctx.use_d, ctx.use_z = use_d, use_z
        ctx.save_for_backward(ut, dt, A, bt, ct, dv, zt)
        return out.transpose(1, 2)  # (b, D, L)

    @staticmethod
    def backward(ctx, dout: Tensor) -> tuple[Optional[Tensor], ...]:
        ut, dt, A, bt, ct, dv, zt = ctx.saved_tensors  # noqa: N806
        du, ddelta, dz = (torch.empty_like(ut) for _ in range(3))  # (b, L, D) each
        d_at = ut.new_zeros(ut.shape[0], A.shape[1], A.shape[0])  # (b, N, D)
        d_dv = ut.new_zeros(ut.shape[0], ut.shape[2])  # (b, D)
        dbt, dct = torch.empty_like(bt), torch.empty_like(ct)  # (b, L, N) each
        run_batched(scan_backward, as_arrays(ut, dt, bt, ct, zt, time_major(dout).to(ut.dtype), du,
                                         ddelta, d_at, dbt, dct, d_dv, dz),
                    [*as_arrays(dv, A.t()), ctx.use_d, ctx.use_z])
        return (du.transpose(1, 2), ddelta.transpose(1, 2), d_at.sum(0).t(), dbt.transpose(1, 2),
                dct.transpose(1, 2), d_dv.sum(0) if ctx.use_d else None,
                dz.transpose(1, 2) if ctx.use_z else None)
