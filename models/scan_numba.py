"""Core selective scan as numba CPU kernels with a hand-written, recomputing backward.

Same core contract as :func:`.scan_torch.chunked_scan` (bias, softplus, skip and gate stay autograd
ops around it). Per (batch b, channel d) the state ``h`` (N floats) lives in a local array:

- forward: ``h = exp(delta_t A_d) h + delta_t u_t B_t``, ``y_t = <C_t, h>``; parallel over (b, d);
  nothing but the inputs is kept for the backward.
- backward: parallel over b (so dB and dC, sums over d, are written by one thread only); for each d
  the forward is recomputed into a thread-local (L+1, N) history of states and decays (a few
  hundred KiB, cache resident), then the adjoint ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` runs
  backwards, with the gradient formulas of :mod:`.scan_torch`. dA is summed over b afterwards.

``exp`` is a polynomial with an exponent bit trick so that the loops over N vectorise (numba has
no vector ``exp`` without Intel SVML); arguments are clamped to [-87, 88] in float32 and
[-708, 709] in float64, where it is within a few ulp of ``math.exp``. No compiler is needed on the
user's machine: numba ships LLVM, and compiled kernels are cached on disk after the first call.
"""

from __future__ import annotations

import threading
from typing import Optional

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

Tensor = torch.Tensor

#: Kernel calls are serialised: numba's workqueue threading layer is not safe for concurrent use.
_LOCK = threading.Lock()
_JIT = dict(nogil=True, fastmath=True, cache=True)


@intrinsic
def _bits_to_float(typingctx, bits):  # noqa: ARG001 - numba intrinsic signature
    """Reinterpret int32 bits as float32, int64 bits as float64 (no conversion)."""
    result = {types.int32: types.float32, types.int64: types.float64}[bits]

    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.bitcast(args[0], ir.FloatType() if bits == types.int32 else ir.DoubleType())

    return result(bits), codegen


def fast_exp(x):  # noqa: ANN001, ANN201 - typed by the overload below
    """``exp(x)`` for numba kernels (float32 or float64); see the module docstring."""
    raise NotImplementedError("fast_exp is only callable from numba kernels")


@overload(fast_exp, inline="always", fastmath=True)
def _fast_exp_impl(x):  # noqa: ANN001, ANN202
    if x == types.float32:
        lo, hi, bias = np.float32(-87.0), np.float32(88.0), np.float32(127.5)
        log2e, ln2_hi, ln2_lo = np.float32(1.442695), np.float32(0.693359375), np.float32(-2.12194440e-4)
        coef = tuple(np.float32(1.0 / np.math.factorial(k)) for k in range(8))

        def exp32(x):
            x = min(max(x, lo), hi)
            biased = np.int32(x * log2e + bias)
            k = np.float32(biased - 127)
            r = x - k * ln2_hi - k * ln2_lo
            p = coef[7]
            for i in range(6, -1, -1):
                p = p * r + coef[i]
            return p * _bits_to_float(np.int32(biased << 23))

        return exp32
    if x == types.float64:
        lo64, hi64, bias64, log2e64 = -708.0, 709.0, 1023.5, 1.4426950408889634
        ln2_hi64, ln2_lo64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10
        coef64 = tuple(1.0 / np.math.factorial(k) for k in range(14))

        def exp64(x):
            x = min(max(x, lo64), hi64)
            biased = np.int64(x * log2e64 + bias64)
            k = np.float64(biased - 1023)
            r = x - k * ln2_hi64 - k * ln2_lo64
            p = coef64[13]
            for i in range(12, -1, -1):
                p = p * r + coef64[i]
            return p * _bits_to_float(np.int64(biased << 52))

        return exp64
    return None


@njit(parallel=True, **_JIT)
def _forward(u, delta, A, Bt, Ct, y):  # noqa: N803
    """y[b, d, t] = <Ct[b, t], h_t>; u, delta, y: (b, D, L); A: (D, N); Bt, Ct: (b, L, N)."""
    batch, dim, length = u.shape
    n_state = A.shape[1]
    for job in prange(batch * dim):
        b, d = job // dim, job % dim
        h = np.zeros(n_state, dtype=u.dtype)  # (N,)
        for t in range(length):
            dt = delta[b, d, t]
            drive = dt * u[b, d, t]
            acc = h[0] * 0
            for n in range(n_state):
                h[n] = fast_exp(dt * A[d, n]) * h[n] + drive * Bt[b, t, n]
                acc += h[n] * Ct[b, t, n]
            y[b, d, t] = acc


@njit(parallel=True, **_JIT)
def _backward(u, delta, A, Bt, Ct, dy, du, ddelta, dA, dBt, dCt):  # noqa: N803
    """Gradients of the core scan; dA: (b, D, N) partial sums; dBt, dCt: (b, L, N), zeroed."""
    batch, dim, length = u.shape
    n_state = A.shape[1]
    for b in prange(batch):
        hist = np.zeros((length + 1, n_state), dtype=u.dtype)  # (L+1, N): hist[t+1] = h_t
        decay = np.empty((length, n_state), dtype=u.dtype)  # (L, N)
        g = np.empty(n_state, dtype=u.dtype)  # (N,): dL/dh_t
        for d in range(dim):
            for t in range(length):
                dt = delta[b, d, t]
                drive = dt * u[b, d, t]
                for n in range(n_state):
                    decay[t, n] = fast_exp(dt * A[d, n])
                    hist[t + 1, n] = decay[t, n] * hist[t, n] + drive * Bt[b, t, n]
            g[:] = 0
            for t in range(length - 1, -1, -1):
                gy, dt, ut = dy[b, d, t], delta[b, d, t], u[b, d, t]
                drive = dt * ut
                s_ddelta = gy * 0
                s_gb = gy * 0
                for n in range(n_state):
                    gn = g[n] + gy * Ct[b, t, n]
                    dCt[b, t, n] += gy * hist[t + 1, n]
                    gl = gn * hist[t, n] * decay[t, n]
                    s_ddelta += gl * A[d, n]
                    dA[b, d, n] += gl * dt
                    s_gb += gn * Bt[b, t, n]
                    dBt[b, t, n] += gn * drive
                    g[n] = gn * decay[t, n]
                du[b, d, t] = s_gb * dt
                ddelta[b, d, t] = s_ddelta + s_gb * ut


def numba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
    """Core selective scan ``y_t = <C_t, h_t>`` on numba kernels (CPU, float32 or float64).

    Args:
        u: input, (batch, D, L).
        delta: step sizes (after bias and softplus), (batch, D, L).
        A: state matrix, (D, N).
        B: input projection, (batch, N, L).
        C: output projection, (batch, N, L).

    Returns:
        y, (batch, D, L), without skip or gate.
    """
    return _NumbaScan.apply(u, delta, A, B, C)


def _arrays(*tensors: Tensor) -> list[np.ndarray]:
    return [t.detach().contiguous().numpy() for t in tensors]


def _run(kernel, *args: np.ndarray) -> None:  # noqa: ANN001
    with _LOCK:
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        kernel(*args)


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
        bt, ct = B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous()  # (b, L, N) each
        y = torch.empty_like(u, memory_format=torch.contiguous_format)  # (b, D, L)
        _run(_forward, *_arrays(u, delta, A, bt, ct), y.numpy())
        ctx.save_for_backward(u, delta, A, bt, ct)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Optional[Tensor], ...]:
        u, delta, A, bt, ct = ctx.saved_tensors  # noqa: N806
        du, ddelta = torch.empty_like(u), torch.empty_like(u)  # (b, D, L) each
        dA = u.new_zeros(u.shape[0], *A.shape)  # (b, D, N) # noqa: N806
        dbt, dct = torch.zeros_like(bt), torch.zeros_like(ct)  # (b, L, N) each
        _run(_backward, *_arrays(u, delta, A, bt, ct, dy),
             du.numpy(), ddelta.numpy(), dA.numpy(), dbt.numpy(), dct.numpy())
        return du, ddelta, dA.sum(0), dbt.transpose(1, 2), dct.transpose(1, 2)
