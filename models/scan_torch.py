"""Chunked selective scan in plain PyTorch with a hand-written backward (the numba-free fallback).

Core recurrence only (bias, softplus, skip and gate are autograd ops around it)::

    h_t = a_t * h_{t-1} + b_t,   a_t = exp(delta_t A),   b_t = delta_t u_t B_t,   y_t = <C_t, h_t>

Time is cut into chunks of ``CHUNK`` steps. Per chunk, ``a`` and ``b`` are materialised time-major
as (K, batch, D, N) so that each step of the loop is one contiguous ``addcmul``; only the state at
each chunk boundary is kept for the backward, which recomputes the chunk and runs the adjoint
recurrence ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` (g_t = dL/dh_t). With ``h_{t-1}`` and ``g_t``::

    dL/da_t = g_t h_{t-1}     dL/d(delta_t A) = a_t g_t h_{t-1}
    dL/dA   = sum_{b,t} delta_t a_t g_t h_{t-1}
    dL/ddelta_t = sum_n (A a_t g_t h_{t-1} + u_t B_t g_t)
    dL/du_t = delta_t sum_n B_t g_t     dL/dB_t = sum_d delta_t u_t g_t     dL/dC_t = sum_d dy_t h_t
"""

from __future__ import annotations

import torch

from .layout import time_major

Tensor = torch.Tensor

#: Time steps per chunk: larger chunks mean fewer kernel launches but more memory per chunk.
CHUNK = 32


def chunked_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
    """Core selective scan ``y_t = <C_t, h_t>`` with a recomputing hand-written backward.

    Args:
        u: input, (batch, D, L).
        delta: step sizes (after bias and softplus), (batch, D, L).
        A: state matrix, (D, N).
        B: input projection, (batch, N, L).
        C: output projection, (batch, N, L).

    Returns:
        y, (batch, D, L), without skip or gate.
    """
    return _ChunkedScan.apply(u, delta, A, B, C)


def _chunk_terms(u: Tensor, delta: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:  # noqa: N803
    """Decay a and drive b of one chunk; inputs time-major (K, b, D) and (K, b, N)."""
    decay = torch.exp(delta[..., None] * A)  # (K, b, D, N)
    drive = (delta * u)[..., None] * B[:, :, None, :]  # (K, b, D, N)
    return decay, drive


def _run_chunk(decay: Tensor, drive: Tensor, h: Tensor) -> Tensor:
    """Run the recurrence in place: ``drive[k]`` becomes the state h of step k."""
    for k in range(decay.shape[0]):
        h = drive[k].addcmul_(decay[k], h)  # (b, D, N)
    return drive  # (K, b, D, N)


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
        u_t, delta_t, b_t, c_t = (time_major(x, time_first=True)
                                  for x in (u, delta, B, C))  # (L, b, D) x2, (L, b, N) x2
        length, batch, dim = u_t.shape
        h = u.new_zeros(batch, dim, A.shape[1])  # (b, D, N)
        starts = []
        y = u.new_empty(length, batch, dim)  # (L, b, D)
        for t0 in range(0, length, CHUNK):
            t1 = min(t0 + CHUNK, length)
            starts.append(h)
            hist = _run_chunk(*_chunk_terms(u_t[t0:t1], delta_t[t0:t1], A, b_t[t0:t1]), h)  # (K, b, D, N)
            c = c_t[t0:t1].flatten(0, 1)[..., None]  # (K b, N, 1)
            y[t0:t1] = torch.bmm(hist.flatten(0, 1), c).view(t1 - t0, batch, dim)  # (K, b, D)
            h = hist[-1].clone()  # (b, D, N)
        ctx.save_for_backward(u_t, delta_t, A, b_t, c_t, *starts)
        return y.permute(1, 2, 0)  # (b, D, L)

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Tensor | None, ...]:
        u_t, delta_t, A, b_t, c_t, *starts = ctx.saved_tensors  # noqa: N806
        length, batch, dim = u_t.shape
        dy = time_major(dy, time_first=True)  # (L, b, D)
        du, ddelta = torch.empty_like(dy), torch.empty_like(dy)  # (L, b, D) each
        dB, dC = torch.empty_like(b_t), torch.empty_like(c_t)  # (L, b, N) each # noqa: N806
        dA = torch.zeros_like(A)  # (D, N) # noqa: N806
        g = u_t.new_zeros(batch, dim, A.shape[1])  # (b, D, N): dL/dh from the steps after the chunk
        for index in reversed(range(len(starts))):
            t0 = index * CHUNK
            t1 = min(t0 + CHUNK, length)
            dl, uu, bb, cc, gy = delta_t[t0:t1], u_t[t0:t1], b_t[t0:t1], c_t[t0:t1], dy[t0:t1]
            decay, drive = _chunk_terms(uu, dl, A, bb)  # (K, b, D, N) each
            hist = _run_chunk(decay, drive, starts[index])  # (K, b, D, N)
            grads = torch.empty_like(hist)  # (K, b, D, N): g_t
            for k in reversed(range(t1 - t0)):
                torch.addcmul(g, gy[k, :, :, None], cc[k, :, None, :], out=grads[k])  # (b, D, N)
                g = grads[k] * decay[k]  # (b, D, N)
            flat_grads = grads.flatten(0, 1)  # (K b, D, N)
            dC[t0:t1] = torch.bmm(gy.flatten(0, 1)[:, None], hist.flatten(0, 1)).view_as(cc)  # (K, b, N)
            g_b = torch.bmm(flat_grads, bb.flatten(0, 1)[..., None]).view_as(dl)  # (K, b, D): sum_n g B
            dB[t0:t1] = torch.bmm((dl * uu).flatten(0, 1)[:, None], flat_grads).view_as(bb)  # (K, b, N)
            du[t0:t1] = g_b * dl  # (K, b, D)
            grads.mul_(decay)  # (K, b, D, N): g_t a_t
            grads[0].mul_(starts[index])
            grads[1:].mul_(hist[:-1])  # (K, b, D, N): dL/d(delta A) = g_t a_t h_{t-1}
            ddelta[t0:t1] = g_b * uu + (grads * A).sum(-1)  # (K, b, D)
            dA += (grads * dl[..., None]).sum((0, 1))  # (D, N) # noqa: N806
        return (du.permute(1, 2, 0), ddelta.permute(1, 2, 0), dA, dB.permute(1, 2, 0), dC.permute(1, 2, 0))
