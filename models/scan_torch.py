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

from typing import Optional

import torch

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


def _chunk_terms(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, t0: int, t1: int) -> tuple[Tensor, Tensor]:
    """Decay a and drive b of steps t0..t1-1, time-major."""
    dl = delta[:, :, t0:t1].permute(2, 0, 1)  # (K, b, D)
    decay = torch.exp(dl[..., None] * A)  # (K, b, D, N)
    du = (dl * u[:, :, t0:t1].permute(2, 0, 1))[..., None]  # (K, b, D, 1)
    drive = du * B[:, :, t0:t1].permute(2, 0, 1)[:, :, None, :]  # (K, b, D, N)
    return decay, drive


def _run_chunk(decay: Tensor, drive: Tensor, h: Tensor) -> Tensor:
    """Run the recurrence in place: ``drive[k]`` becomes the state h of step k."""
    for k in range(decay.shape[0]):
        h = drive[k].addcmul_(decay[k], h)  # (b, D, N)
    return drive  # (K, b, D, N)


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
        batch, dim, length = u.shape
        h = u.new_zeros(batch, dim, A.shape[1])  # (b, D, N)
        starts = []
        y = u.new_empty(length, batch, dim)  # (L, b, D)
        for t0 in range(0, length, CHUNK):
            t1 = min(t0 + CHUNK, length)
            starts.append(h)
            hist = _run_chunk(*_chunk_terms(u, delta, A, B, t0, t1), h)  # (K, b, D, N)
            c = C[:, :, t0:t1].permute(2, 0, 1)  # (K, b, N)
            y[t0:t1] = torch.einsum("kbdn,kbn->kbd", hist, c)  # (K, b, D)
            h = hist[-1].clone()  # (b, D, N)
        ctx.save_for_backward(u, delta, A, B, C, *starts)
        return y.permute(1, 2, 0).contiguous()  # (b, D, L)

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Optional[Tensor], ...]:
        u, delta, A, B, C, *starts = ctx.saved_tensors  # noqa: N806
        length = u.shape[2]
        dy = dy.permute(2, 0, 1).contiguous()  # (L, b, D)
        du, ddelta = torch.empty_like(dy), torch.empty_like(dy)  # (L, b, D)
        dB, dC = u.new_empty(length, u.shape[0], A.shape[1]), u.new_empty(length, u.shape[0], A.shape[1])  # noqa: N806
        dA = torch.zeros_like(A)  # (D, N) # noqa: N806
        g = torch.zeros_like(starts[0])  # (b, D, N): dL/dh from the steps after the chunk
        for index in reversed(range(len(starts))):
            t0 = index * CHUNK
            t1 = min(t0 + CHUNK, length)
            decay, drive = _chunk_terms(u, delta, A, B, t0, t1)  # (K, b, D, N) each
            hist = _run_chunk(decay, drive.clone(), starts[index])  # (K, b, D, N)
            c = C[:, :, t0:t1].permute(2, 0, 1)  # (K, b, N)
            grads = torch.empty_like(hist)  # (K, b, D, N): g_t
            for k in reversed(range(t1 - t0)):
                torch.addcmul(g, dy[t0 + k, :, :, None], c[k, :, None, :], out=grads[k])  # (b, D, N)
                g = grads[k] * decay[k]  # (b, D, N)
            dC[t0:t1] = torch.einsum("kbd,kbdn->kbn", dy[t0:t1], hist)  # (K, b, N)
            h_prev = torch.cat([starts[index][None], hist[:-1]])  # (K, b, D, N)
            dl = delta[:, :, t0:t1].permute(2, 0, 1)  # (K, b, D)
            uu = u[:, :, t0:t1].permute(2, 0, 1)  # (K, b, D)
            bb = B[:, :, t0:t1].permute(2, 0, 1)  # (K, b, N)
            g_b = torch.einsum("kbdn,kbn->kbd", grads, bb)  # (K, b, D): sum_n g B
            dB[t0:t1] = torch.einsum("kbdn,kbd->kbn", grads, dl * uu)  # (K, b, N)
            du[t0:t1] = g_b * dl  # (K, b, D)
            gl = grads.mul_(h_prev).mul_(decay)  # (K, b, D, N): dL/d(delta A)
            ddelta[t0:t1] = g_b * uu + torch.einsum("kbdn,dn->kbd", gl, A)  # (K, b, D)
            dA += torch.einsum("kbdn,kbd->dn", gl, dl)  # (D, N)
        return (du.permute(1, 2, 0), ddelta.permute(1, 2, 0), dA,
                dB.permute(1, 2, 0), dC.permute(1, 2, 0))
