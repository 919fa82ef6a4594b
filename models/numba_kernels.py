"""Every numba CPU kernel of the network, with the math they share, in ONE module.

numba's on-disk cache is invalidated only when the file that defines a kernel changes, not when a
helper it inlines from another file does; keeping the helpers and the kernels here means a new
``exp`` can never run beside stale kernels compiled with the old one.

- :func:`scan_forward` / :func:`scan_backward`: the selective scan with its skip and gate
  (:mod:`.scan_numba` wraps them for autograd and documents the maths);
- :func:`conv_silu_forward` / :func:`conv_silu_backward`: the depthwise causal convolution and
  SiLU of a Mamba layer (:mod:`.conv_numba`).

``exp`` is a polynomial with an exponent bit trick so that the channel loops vectorise (numba has
no vector ``exp`` without Intel SVML). Arguments are clamped to [-87, 88] (float32) or
[-708, 709] (float64); inside, the result is within 2 ulp of ``math.exp``. Fast-math flags allow
reassociation but keep NaN and infinity semantics, so a NaN input still gives a NaN output.
Constants are typed like the data (a Python ``1`` next to a float32 would promote to float64).

Threads: the kernels are serial and release the GIL; :func:`.kernel_threads.run_batched` splits
the batch across ``torch.get_num_threads()`` Python threads, so each thread writes its own batch
rows only and numba's own threading layer is never started.

No compiler is needed on the user's machine: numba ships LLVM. The first call compiles a kernel;
it is cached on disk (``__pycache__``) for later sessions.
"""

from __future__ import annotations

import math
from typing import Any

import torch

try:
    import numpy as np  # numba's own dependency: kernels allocate their work arrays with it
    from numba import njit, types
    from numba.extending import intrinsic, overload
except ImportError as err:  # the dispatchers log this and use the PyTorch paths
    raise ImportError(f"{err}; install the pinned numba from requirements.txt") from err

Tensor = torch.Tensor


#: Options of every kernel: release the GIL, fast math that keeps NaN and infinity, numpy's error
#: model (a float division by zero gives inf or NaN instead of a per-element Python check, which
#: would stop the loops from vectorising), on-disk cache.
JIT_OPTIONS: dict[str, Any] = dict(nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp", "afn"},
                                   error_model="numpy", cache=True)


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
            p = p * r + c64[12]
            p = p * r + c64[11]
            p = p * r + c64[10]
            p = p * r + c64[9]
            p = p * r + c64[8]
            p = p * r + c64[7]
            p = p * r + c64[6]
            p = p * r + c64[5]
            p = p * r + c64[4]
            p = p * r + c64[3]
            p = p * r + c64[2]
            p = p * r + c64[1]
            p = p * r + c64[0]  # unrolled: a loop here upsets numba's inliner
            return p * _power_of_two(np.int64(k))

        return exp64
    return None


def fast_sigmoid(x):  # noqa: ANN001, ANN201 - typed by the overload below
    """``1 / (1 + exp(-x))`` for numba kernels, in the type of ``x`` (no float64 detour)."""
    raise NotImplementedError("fast_sigmoid is only callable from numba kernels")


@overload(fast_sigmoid, inline="always")
def _fast_sigmoid_impl(x):  # noqa: ANN001, ANN202
    if x not in (types.float32, types.float64):
        return None
    one = np.float32(1.0) if x == types.float32 else 1.0

    def sigmoid(x):
        return one / (one + fast_exp(-x))

    return sigmoid


def silu_grad(x):  # noqa: ANN001, ANN201 - typed by the overload below
    """``d silu(x) / dx = s (1 + x (1 - s))`` with ``s = sigmoid(x)``, in the type of ``x``."""
    raise NotImplementedError("silu_grad is only callable from numba kernels")


@overload(silu_grad, inline="always")
def _silu_grad_impl(x):  # noqa: ANN001, ANN202
    if x not in (types.float32, types.float64):
        return None
    one = np.float32(1.0) if x == types.float32 else 1.0

    def grad(x):
        s = fast_sigmoid(x)
        return s * (one + x * (one - s))

    return grad


def softplus(x):  # noqa: ANN001, ANN201 - typed by the overload below
    """``log(1 + exp(x))`` for numba kernels, in the type of ``x``.

    As ``max(x, 0) + log1p(exp(-|x|))``, with ``log1p(y) = 2 atanh(y / (2 + y))`` summed as its
    odd series in ``s = y / (2 + y)``, ``0 < s <= 1/3``: to ``s^15`` (float32) or ``s^35``
    (float64), below one unit in the last place.
    """
    raise NotImplementedError("softplus is only callable from numba kernels")


@overload(softplus, inline="always")
def _softplus_impl(x):  # noqa: ANN001, ANN202
    if x == types.float32:
        f = np.float32
        zero, _one, two = f(0.0), f(1.0), f(2.0)
        c = tuple(f(1.0 / (2 * k + 1)) for k in range(8))

        def softplus32(x):
            y = fast_exp(-abs(x))
            s = y / (two + y)
            q = s * s
            series = (((((((c[7] * q + c[6]) * q + c[5]) * q + c[4]) * q + c[3]) * q + c[2]) * q
                       + c[1]) * q + c[0])
            return max(x, zero) + two * s * series

        return softplus32
    if x == types.float64:
        c64 = tuple(1.0 / (2 * k + 1) for k in range(18))

        def softplus64(x):
            y = fast_exp(-abs(x))
            s = y / (2.0 + y)
            q = s * s
            series = c64[17]
            series = series * q + c64[16]
            series = series * q + c64[15]
            series = series * q + c64[14]
            series = series * q + c64[13]
            series = series * q + c64[12]
            series = series * q + c64[11]
            series = series * q + c64[10]
            series = series * q + c64[9]
            series = series * q + c64[8]
            series = series * q + c64[7]
            series = series * q + c64[6]
            series = series * q + c64[5]
            series = series * q + c64[4]
            series = series * q + c64[3]
            series = series * q + c64[2]
            series = series * q + c64[1]
            series = series * q + c64[0]  # unrolled: a loop here upsets numba's inliner
            return max(x, 0.0) + 2.0 * s * series

        return softplus64
    return None


@njit(**JIT_OPTIONS)
def _step_sizes(delta_raw, bias, use_softplus, dt, slope):  # noqa: ANN001, ANN202
    """``dt = softplus(delta_raw + bias)`` (or without softplus) and its slope ``d dt / d delta_raw``."""
    for d in range(dt.shape[0]):
        x = delta_raw[d] + bias[d]
        if use_softplus:
            dt[d] = softplus(x)
            slope[d] = fast_sigmoid(x)
        else:
            dt[d] = x
            slope[d] = 1


def as_arrays(*tensors: Tensor) -> list[np.ndarray]:
    """Numpy views of ``tensors`` (contiguous copies only where they are not already)."""
    return [t.detach().contiguous().numpy() for t in tensors]


@njit(**JIT_OPTIONS)
def scan_forward(u, delta, Bt, Ct, z, out, Dv, At, bias, use_d, use_z, use_softplus):  # noqa: N803
    """``out[b, t] = (sum_n Ct[b, t, n] h_t[n] + Dv u) * silu(z)``, vectorised across channels.

    u, delta, z, out: (b, L, D); Bt, Ct: (b, L, N); At: (N, D), A transposed; Dv, bias: (D,).
    The step sizes are ``softplus(delta + bias)`` (``use_softplus``) or ``delta + bias``. ``use_d``
    and ``use_z`` switch the skip and the gate (their arrays are then unused placeholders).
    """
    batch, length, dim = u.shape
    n_state = At.shape[0]
    h = np.empty((n_state, dim), dtype=u.dtype)  # (N, D)
    drive = np.empty(dim, dtype=u.dtype)  # (D,): delta_t u_t
    dt = np.empty(dim, dtype=u.dtype)  # (D,): step sizes
    slope = np.empty(dim, dtype=u.dtype)  # (D,): unused here
    for b in range(batch):
        h[:] = 0
        for t in range(length):
            _step_sizes(delta[b, t], bias, use_softplus, dt, slope)
            ut, yt = u[b, t], out[b, t]  # (D,) each
            for d in range(dim):
                drive[d] = dt[d] * ut[d]
                yt[d] = 0
            for n in range(n_state):
                b_n, c_n = Bt[b, t, n], Ct[b, t, n]
                h_n, a_n = h[n], At[n]  # (D,) each
                for d in range(dim):
                    value = fast_exp(dt[d] * a_n[d]) * h_n[d] + drive[d] * b_n
                    h_n[d] = value
                    yt[d] += value * c_n
            if use_d:
                for d in range(dim):
                    yt[d] += Dv[d] * ut[d]
            if use_z:
                zt = z[b, t]  # (D,)
                for d in range(dim):
                    yt[d] *= zt[d] * fast_sigmoid(zt[d])


@njit(**JIT_OPTIONS)
def scan_backward(u, delta, Bt, Ct, z, dout, du, ddelta, dAt, dBt, dCt, dDv, dz, dbias,  # noqa: N803
                  Dv, At, bias, use_d, use_z, use_softplus):  # noqa: N803
    """Gradients of :func:`scan_forward`, time-major and channel-vectorised like it.

    dAt: (b, N, D), dDv and dbias: (b, D) per-batch partial sums, zeroed by the caller; du,
    ddelta (with respect to the raw delta), dz: (b, L, D) and dBt, dCt: (b, L, N) are written.
    Per batch row the forward is recomputed once, keeping the states, the decays and the output
    before the gate (so the backward pass evaluates no ``exp`` of its own).
    """
    batch, length, dim = u.shape
    n_state = At.shape[0]
    hist = np.zeros((length + 1, n_state, dim), dtype=u.dtype)  # (L+1, N, D): hist[t+1] = h_t
    decs = np.empty((length, n_state, dim), dtype=u.dtype)  # (L, N, D): exp(delta_t A_n)
    ys = np.empty((length, dim), dtype=u.dtype)  # (L, D): y_t before the gate, for its gradient
    steps = np.empty((length, dim), dtype=u.dtype)  # (L, D): step sizes
    slopes = np.empty((length, dim), dtype=u.dtype)  # (L, D): their slopes
    g = np.empty((n_state, dim), dtype=u.dtype)  # (N, D): dL/dh_t
    drive = np.empty(dim, dtype=u.dtype)  # (D,)
    gy = np.empty(dim, dtype=u.dtype)  # (D,): dL/dy_t of the scan's own output
    s_sum = np.empty(dim, dtype=u.dtype)  # (D,): sum_n g B
    s_ddelta = np.empty(dim, dtype=u.dtype)  # (D,): sum_n A dL/d(delta A)
    for b in range(batch):
        for t in range(length):
            dt, ut = steps[t], u[b, t]  # (D,) each
            _step_sizes(delta[b, t], bias, use_softplus, dt, slopes[t])
            y_t = ys[t]
            for d in range(dim):
                drive[d] = dt[d] * ut[d]
                y_t[d] = Dv[d] * ut[d] if use_d else 0
            for n in range(n_state):
                b_n, c_n = Bt[b, t, n], Ct[b, t, n]
                a_n, h_prev, h_new, e_n = At[n], hist[t, n], hist[t + 1, n], decs[t, n]  # (D,)
                for d in range(dim):
                    e = fast_exp(dt[d] * a_n[d])
                    e_n[d] = e
                    hv = e * h_prev[d] + drive[d] * b_n
                    h_new[d] = hv
                    y_t[d] += c_n * hv
        g[:] = 0
        da_b = dAt[b]  # (N, D)
        for t in range(length - 1, -1, -1):
            dt, ut, go = steps[t], u[b, t], dout[b, t]  # (D,) each
            if use_z:
                zt, dzt = z[b, t], dz[b, t]  # (D,) each
                y_t = ys[t]  # (D,)
                for d in range(dim):
                    gy[d] = go[d] * zt[d] * fast_sigmoid(zt[d])
                    dzt[d] = go[d] * y_t[d] * silu_grad(zt[d])
            else:
                for d in range(dim):
                    gy[d] = go[d]
            if use_d:
                dd_b = dDv[b]  # (D,)
                for d in range(dim):
                    dd_b[d] += gy[d] * ut[d]
            for d in range(dim):
                drive[d] = dt[d] * ut[d]
                s_sum[d] = 0
                s_ddelta[d] = 0
            for n in range(n_state):
                c_n, b_n = Ct[b, t, n], Bt[b, t, n]
                g_n, h_new, h_prev = g[n], hist[t + 1, n], hist[t, n]  # (D,) each
                a_n, da_n = At[n], da_b[n]  # (D,) each
                dec = decs[t, n]  # (D,)
                acc_c = gy[0] * 0  # dC[b, t, n] = sum_d dy h_t
                acc_b = gy[0] * 0  # dB[b, t, n] = sum_d g delta u
                for d in range(dim):
                    grad = g_n[d] + gy[d] * c_n
                    acc_c += gy[d] * h_new[d]
                    acc_b += grad * drive[d]
                    s_sum[d] += grad * b_n
                    grad_log = grad * h_prev[d] * dec[d]
                    s_ddelta[d] += grad_log * a_n[d]
                    da_n[d] += grad_log * dt[d]
                    g_n[d] = grad * dec[d]
                dCt[b, t, n] = acc_c
                dBt[b, t, n] = acc_b
            du_t, ddelta_t, slope, dbias_b = du[b, t], ddelta[b, t], slopes[t], dbias[b]  # (D,)
            for d in range(dim):
                du_t[d] = s_sum[d] * dt[d] + (gy[d] * Dv[d] if use_d else 0)
                ddelta_t[d] = (s_ddelta[d] + s_sum[d] * ut[d]) * slope[d]
                dbias_b[d] += ddelta_t[d]


@njit(**JIT_OPTIONS)
def _conv_pre_activation(x, wt, bias, b, t, pre):  # noqa: ANN001, ANN202
    """``pre[d] = bias[d] + sum_k wt[k, d] x[b, t - (K - 1) + k, d]``; x, (b, L, D); wt, (K, D)."""
    k_size, dim = wt.shape
    for d in range(dim):
        pre[d] = bias[d]
    for k in range(k_size):
        src = t - (k_size - 1) + k
        if src >= 0:
            x_s, w_k = x[b, src], wt[k]  # (D,) each
            for d in range(dim):
                pre[d] += w_k[d] * x_s[d]


@njit(**JIT_OPTIONS)
def conv_silu_forward(x, out, wt, bias):  # noqa: ANN001, ANN202
    """``out = silu(causal depthwise conv(x))``; x, out: (b, L, D); wt: (K, D); bias: (D,)."""
    batch, length, dim = x.shape
    pre = np.empty(dim, dtype=x.dtype)  # (D,)
    for b in range(batch):
        for t in range(length):
            _conv_pre_activation(x, wt, bias, b, t, pre)
            o = out[b, t]  # (D,)
            for d in range(dim):
                o[d] = pre[d] * fast_sigmoid(pre[d])


@njit(**JIT_OPTIONS)
def conv_silu_backward(x, dout, dx, dwt, dbias, wt, bias):  # noqa: ANN001, ANN202
    """Gradients of :func:`conv_silu_forward`; dx: (b, L, D), dwt: (b, K, D), dbias: (b, D), all zeroed."""
    batch, length, dim = x.shape
    k_size = wt.shape[0]
    pre = np.empty(dim, dtype=x.dtype)  # (D,): pre-activation, then its gradient
    for b in range(batch):
        for t in range(length):
            _conv_pre_activation(x, wt, bias, b, t, pre)
            go, db = dout[b, t], dbias[b]  # (D,) each
            for d in range(dim):
                pre[d] = go[d] * silu_grad(pre[d])
                db[d] += pre[d]
            for k in range(k_size):
                src = t - (k_size - 1) + k
                if src >= 0:
                    x_s, dx_s, w_k, dw_k = x[b, src], dx[b, src], wt[k], dwt[b, k]  # (D,) each
                    for d in range(dim):
                        dw_k[d] += pre[d] * x_s[d]
                        dx_s[d] += w_k[d] * pre[d]
