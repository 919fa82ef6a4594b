"""Core selective scan as numba CPU kernels with a hand-written, recomputing backward.

Same core contract as :func:`.scan_torch.chunked_scan` (bias, softplus, skip and gate stay autograd
ops around it). Per (batch b, channel d) the state ``h`` (N floats) lives in a small local array:

- forward: ``h = exp(delta_t A_d) h + delta_t u_t B_t``, ``y_t = <C_t, h>``; nothing but the
  inputs is kept for the backward.
- backward: per (b, d), the forward is recomputed into an (L+1, N) history of states and an
  (L, N) history of decays (about 130 KiB at L 256, N 64: cache resident), then the adjoint
  ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` runs backwards with the gradient formulas of
  :mod:`.scan_torch`. dA is accumulated per batch row and summed afterwards.

Threads: the kernels are serial and release the GIL; the batch is split across
``torch.get_num_threads()`` Python threads, so dB and dC (sums over d) of a batch row are written
by one thread only, and numba's own threading layer is never started. (A ``prange`` version ran
the backward three times slower: its outlined loop body no longer vectorised.)

``exp`` is a polynomial with an exponent bit trick so that the loops over N vectorise (numba has
no vector ``exp`` without Intel SVML). Arguments are clamped to [-87, 88] (float32) or
[-708, 709] (float64); inside, the result is within 2 ulp of ``math.exp``. Fast-math flags allow
reassociation but keep NaN and infinity semantics, so a NaN input still gives a NaN output.

No compiler is needed on the user's machine: numba ships LLVM. The first call compiles the
kernels (about 10 to 20 s); they are cached on disk (``__pycache__``) for later sessions.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import torch

from .layout import time_major

try:
    import numpy as np  # numba's own dependency: kernels allocate their work arrays with it
    from numba import njit, types
    from numba.extending import intrinsic, overload
except ImportError as err:  # the dispatcher logs this and uses the chunked PyTorch scan
    raise ImportError(f"{err}; install the pinned numba from requirements.txt") from err

Tensor = torch.Tensor

_JIT: dict[str, Any] = dict(nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp", "afn"}, cache=True)


@intrinsic
def _power_of_two(typingctx, k):  # noqa: ARG001 - numba intrinsic signature
    """``2.0 ** k`` for an int32 k in [-126, 127] (float32) or int64 k in [-1022, 1023] (float64).

    Built by writing ``k + bias`` into the exponent field (one add, one shift, one bit cast) so
    that it vectorises.
    """
    if k not in (types.int32, types.int64):
        return None
    result = types.float32 if k == types.int32 else types.float64
    bias, shift = (127, 23) if k == types.int32 else (1023, 52)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        biased = builder.add(args[0], context.get_constant(k, bias))
        bits = builder.shl(biased, context.get_constant(k, shift))
        return builder.bitcast(bits, context.get_value_type(result))

    return result(k), codegen


def fast_exp(x):  # noqa: ANN001, ANN201 - typed by the overload below
    """``exp(x)`` for numba kernels (float32 or float64); see the module docstring."""
    raise NotImplementedError("fast_exp is only callable from numba kernels")


@overload(fast_exp, inline="always")
def _fast_exp_impl(x):  # noqa: ANN001, ANN202
    """Range reduction x = k ln2 + r, |r| <= ln2/2; Taylor polynomial of e^r (degree 7 / 13); times 2^k."""
    if x == types.float32:
        f = np.float32
        lo, hi, log2e, half = f(-87.0), f(88.0), f(1.4426950408889634), f(0.5)
        ln2_hi, ln2_lo = f(0.693359375), f(-2.12194440e-4)
        c = tuple(f(1.0 / math.factorial(k)) for k in range(8))

        def exp32(x):
            x = min(max(x, lo), hi)
            k = np.floor(x * log2e + half)  # round(x / ln2); floor keeps fastmath from reassociating
            r = x - k * ln2_hi - k * ln2_lo
            p = ((((((c[7] * r + c[6]) * r + c[5]) * r + c[4]) * r + c[3]) * r + c[2]) * r + c[1]) * r + c[0]
            return p * _power_of_two(np.int32(k))

        return exp32
    if x == types.float64:
        lo64, hi64, log2e64 = -708.0, 709.0, 1.4426950408889634
        ln2_hi64, ln2_lo64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10
        c64 = tuple(1.0 / math.factorial(k) for k in range(14))

        def exp64(x):
            x = min(max(x, lo64), hi64)
            k = np.floor(x * log2e64 + 0.5)
            r = x - k * ln2_hi64 - k * ln2_lo64
            p = c64[13]
            for i in range(12, -1, -1):
                p = p * r + c64[i]
            return p * _power_of_two(np.int64(k))

        return exp64
    return None


@njit(**_JIT)
def _forward(u, delta, Bt, Ct, y, A):  # noqa: N803
    """y[b, t, d] = <Ct[b, t], h_t>; u, delta, y: (b, L, D); Bt, Ct: (b, L, N); A: (D, N)."""
    batch, length, dim = u.shape
    n_state = A.shape[1]
    h = np.empty(n_state, dtype=u.dtype)  # (N,)
    for b in range(batch):
        for d in range(dim):
            a_row = A[d]  # (N,)
            h[:] = 0
            for t in range(length):
                dt = delta[b, t, d]
                drive = dt * u[b, t, d]
                b_row, c_row = Bt[b, t], Ct[b, t]  # (N,) each
                acc = h[0] * 0
                for n in range(n_state):
                    h[n] = fast_exp(dt * a_row[n]) * h[n] + drive * b_row[n]
                    acc += h[n] * c_row[n]
                y[b, t, d] = acc


@njit(**_JIT)
def _backward(u, delta, Bt, Ct, dy, du, ddelta, dA, dBt, dCt, A):  # noqa: N803
    """Gradients of the core scan, time-major like :func:`_forward`.

    dA: (b, D, N) per-batch partial sums; dBt, dCt: (b, L, N), zeroed by the caller. The loops
    over N write at most two arrays each so that LLVM vectorises them although it cannot prove
    that the arrays do not alias; the work arrays are allocated per batch row on purpose (hoisted
    out of that loop, the backward runs 2.5 times slower).
    """
    batch, length, dim = u.shape
    n_state = A.shape[1]
    for b in range(batch):
        hist = np.zeros((length + 1, n_state), dtype=u.dtype)  # (L+1, N): hist[t+1] = h_t
        decay = np.empty((length, n_state), dtype=u.dtype)  # (L, N): exp(delta_t A_d)
        g = np.empty(n_state, dtype=u.dtype)  # (N,): dL/dh_t
        for d in range(dim):
            a_row, da_row = A[d], dA[b, d]  # (N,) each
            for t in range(length):
                dt = delta[b, t, d]
                drive = dt * u[b, t, d]
                dec, h_prev, h_new, b_row = decay[t], hist[t], hist[t + 1], Bt[b, t]  # (N,) each
                for n in range(n_state):
                    dec[n] = fast_exp(dt * a_row[n])
                for n in range(n_state):
                    h_new[n] = dec[n] * h_prev[n] + drive * b_row[n]
            g[:] = 0
            for t in range(length - 1, -1, -1):
                gy, dt, ut = dy[b, t, d], delta[b, t, d], u[b, t, d]
                drive = dt * ut
                c_row, dc_row, h_new = Ct[b, t], dCt[b, t], hist[t + 1]  # (N,) each
                for n in range(n_state):
                    g[n] += gy * c_row[n]
                    dc_row[n] += gy * h_new[n]
                b_row, db_row = Bt[b, t], dBt[b, t]  # (N,) each
                s_gb = gy * 0  # sum_n g B
                for n in range(n_state):
                    s_gb += g[n] * b_row[n]
                    db_row[n] += g[n] * drive
                h_prev, dec = hist[t], decay[t]  # (N,) each
                s_ddelta = gy * 0  # sum_n A dL/d(delta A)
                for n in range(n_state):
                    grad_log = g[n] * h_prev[n] * dec[n]
                    s_ddelta += grad_log * a_row[n]
                    da_row[n] += grad_log * dt
                    g[n] *= dec[n]
                du[b, t, d] = s_gb * dt
                ddelta[b, t, d] = s_ddelta + s_gb * ut


def numba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
    """Core selective scan ``y_t = <C_t, h_t>`` on numba kernels (CPU, float32 or float64).

    The kernels work time-major: (batch, D, L) tensors whose memory is (batch, L, D), as a Mamba
    layer produces them from its tokens, are used without a copy, and the results come back so.

    Args:
        u: input, (batch, D, L).
        delta: step sizes (after bias and softplus), (batch, D, L).
        A: state matrix, (D, N).
        B: input projection, (batch, N, L).
        C: output projection, (batch, N, L).

    Returns:
        y, (batch, D, L) (memory time-major), without skip or gate.
    """
    return _NumbaScan.apply(u, delta, A, B, C)


def _arrays(*tensors: Tensor) -> list[np.ndarray]:
    return [t.detach().contiguous().numpy() for t in tensors]


def _run(kernel: Callable[..., None], batched: list[np.ndarray], shared: list[np.ndarray]) -> None:
    """Run ``kernel(*batched, *shared)`` on slices of the batch, one per torch thread."""
    batch = batched[0].shape[0]
    workers = max(1, min(torch.get_num_threads(), batch))
    bounds = [batch * i // workers for i in range(workers + 1)]
    slices = [[a[lo:hi] for a in batched] + shared for lo, hi in zip(bounds, bounds[1:])]
    if workers == 1:
        kernel(*slices[0])
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(kernel, *args) for args in slices]:
            future.result()


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # noqa: N803
        ut, dt, bt, ct = (time_major(x) for x in (u, delta, B, C))  # (b, L, D) x2, (b, L, N) x2
        y = ut.new_empty(ut.shape)  # (b, L, D)
        *batched, a_np = _arrays(ut, dt, bt, ct, y, A)
        _run(_forward, batched, [a_np])
        ctx.save_for_backward(ut, dt, A, bt, ct)
        return y.transpose(1, 2)  # (b, D, L)

    @staticmethod
    def backward(ctx, dy: Tensor) -> tuple[Tensor | None, ...]:
        ut, dt, A, bt, ct = ctx.saved_tensors  # noqa: N806
        du, ddelta = torch.empty_like(ut), torch.empty_like(ut)  # (b, L, D) each
        dA = ut.new_zeros(ut.shape[0], *A.shape)  # (b, D, N) # noqa: N806
        dbt, dct = torch.zeros_like(bt), torch.zeros_like(ct)  # (b, L, N) each
        *batched, a_np = _arrays(ut, dt, bt, ct, time_major(dy), du, ddelta, dA, dbt, dct, A)
        _run(_backward, batched, [a_np])
        return du.transpose(1, 2), ddelta.transpose(1, 2), dA.sum(0), dbt.transpose(1, 2), dct.transpose(1, 2)
