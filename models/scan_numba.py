"""The whole selective scan, as numba CPU kernels with a hand-written backward.

Computes ``out = (scan(u, softplus(delta + bias), A, B, C) + D u) * silu(z)`` (bias, softplus,
skip and gate each optional), the contract of :func:`.scan.selective_scan_ref`.
The kernels are vectorised across the channels: for each batch row b and time t the state ``h`` is
an (N, D) array, and every inner loop runs over the D channels, which are contiguous in the
time-major (b, L, D) layout a Mamba layer produces:

- forward: ``h[n] = exp(delta_t A[:, n]) h[n] + delta_t u_t B_t[n]``, ``y_t = sum_n C_t[n] h[n]``,
  then skip and gate; nothing but the inputs is kept for the backward.
- backward: per batch row, the forward is recomputed into an (L+1, N, D) history of states, an
  (L, N, D) history of decays, the (L, D) outputs before the gate and the step sizes with their
  slopes, then the adjoint
  ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` runs backwards with the gradient formulas of
  :mod:`.scan_torch`, after the gate's and the skip's own gradients, and ends with the softplus's
  slope. dA, dD and d(bias) are accumulated per batch row and summed afterwards; dB and dC are
  sums over the channels.

The kernels, compile options and ``exp``: :mod:`.numba_kernels`; the threads that run them:
:mod:`.kernel_threads`.
"""

from __future__ import annotations

import torch

from .kernel_threads import run_batched
from .layout import time_major
from .numba_kernels import as_arrays, scan_backward, scan_forward

Tensor = torch.Tensor


def numba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,  # noqa: N803
               D: Tensor | None = None, z: Tensor | None = None,  # noqa: N803
               delta_bias: Tensor | None = None, delta_softplus: bool = False) -> Tensor:
    """The whole selective scan on numba kernels (CPU; one float dtype for all tensors).

    Same contract as :func:`.scan.selective_scan_ref`. The kernels work time-major: (batch, D, L)
    tensors whose memory is (batch, L, D), as a Mamba layer produces them from its tokens, are
    used without a copy, and the result comes back so.

    Args:
        u: input, (batch, D, L).
        delta: step sizes before bias and softplus, (batch, D, L).
        A: state matrix, (D, N).
        B: input projection, (batch, N, L).
        C: output projection, (batch, N, L).
        D: skip connection per channel, (D,), or None.
        z: gate, (batch, D, L), or None.
        delta_bias: added to delta before the softplus, (D,), or None.
        delta_softplus: apply softplus to delta.

    Returns:
        The output, (batch, D, L) (memory time-major).
    """
    return _NumbaScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,  # noqa: N803
                D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None,  # noqa: N803
                delta_softplus: bool) -> Tensor:
        flags = (D is not None, z is not None, bool(delta_softplus))
        ut, dt, bt, ct = (time_major(x) for x in (u, delta, B, C))  # (b, L, D) x2, (b, L, N) x2
        dv = D.detach().to(ut.dtype) if D is not None else ut.new_zeros(ut.shape[2])  # (D,)
        bias = (delta_bias.detach().to(ut.dtype) if delta_bias is not None
                else ut.new_zeros(ut.shape[2]))  # (D,)
        zt = time_major(z).to(ut.dtype) if z is not None else ut  # (b, L, D); a placeholder
        out = ut.new_empty(ut.shape)  # (b, L, D)
        run_batched(scan_forward, as_arrays(ut, dt, bt, ct, zt, out),
                    [*as_arrays(dv, A.t(), bias), *flags])
        ctx.flags, ctx.has_bias = flags, delta_bias is not None
        ctx.save_for_backward(ut, dt, A, bt, ct, dv, zt, bias)
        return out.transpose(1, 2)  # (b, D, L)

    @staticmethod
    def backward(ctx, dout: Tensor) -> tuple[Tensor | None, ...]:
        ut, dt, A, bt, ct, dv, zt, bias = ctx.saved_tensors  # noqa: N806
        use_d, use_z, _ = ctx.flags
        du, ddelta, dz = (torch.empty_like(ut) for _ in range(3))  # (b, L, D) each
        d_at = ut.new_zeros(ut.shape[0], A.shape[1], A.shape[0])  # (b, N, D)
        d_dv = ut.new_zeros(ut.shape[0], ut.shape[2])  # (b, D)
        d_bias = torch.zeros_like(d_dv)  # (b, D)
        dbt, dct = torch.empty_like(bt), torch.empty_like(ct)  # (b, L, N) each
        run_batched(scan_backward, as_arrays(ut, dt, bt, ct, zt, time_major(dout).to(ut.dtype), du,
                                             ddelta, d_at, dbt, dct, d_dv, dz, d_bias),
                    [*as_arrays(dv, A.t(), bias), *ctx.flags])
        return (du.transpose(1, 2), ddelta.transpose(1, 2), d_at.sum(0).t(), dbt.transpose(1, 2),
                dct.transpose(1, 2), d_dv.sum(0) if use_d else None,
                dz.transpose(1, 2) if use_z else None, d_bias.sum(0) if ctx.has_bias else None, None)
