"""The numba kernels' building blocks: the vectorisable exp, memory layouts, NaN, threads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

numba = pytest.importorskip("numba", reason="numba is a pinned requirement of the fast CPU scan")
from dms2f_had.models import numba_kernels, scan_numba  # noqa: E402


@numba.njit
def _exp_all(x, out):
    for i in range(x.shape[0]):
        out[i] = numba_kernels.fast_exp(x[i])


@pytest.mark.parametrize("dtype, ulps", [(np.float32, 2), (np.float64, 4)])
def test_fast_exp_is_within_a_few_ulp(dtype, ulps):
    specials = [0.0, -1e-30, 1e-30, 0.5 * math.log(2)]
    x = np.concatenate([np.linspace(-87, 88, 200_001), specials]).astype(dtype)
    out = np.empty_like(x)
    _exp_all(x, out)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(dtype)).astype(np.float64)
    assert np.max(np.abs(out - exact) / ulp) <= ulps


def test_fast_exp_clamps_instead_of_wrapping():
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=np.float32)
    out = np.empty_like(x)
    _exp_all(x, out)
    assert 0 < out[0] == out[1] <= 2e-38  # exp(-87)
    assert np.isfinite(out[2:]).all() and out[2] == out[3] >= 1e38  # exp(88)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    u, delta = torch.randn(2, 6, 9, generator=g), torch.rand(2, 6, 9, generator=g)
    a = -torch.rand(6, 4, generator=g)
    return [u, delta, a, torch.randn(2, 4, 9, generator=g), torch.randn(2, 4, 9, generator=g)]


def _time_major_view(x):
    """Same values, memory laid out (b, L, X) as a Mamba layer hands them over."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def test_time_major_and_contiguous_inputs_give_the_same_values_and_gradients():
    results = []
    for layout in (lambda x: x, _time_major_view):
        leaves = [t.clone().requires_grad_() for t in _inputs()]
        args = [layout(t) if t.dim() == 3 else t for t in leaves]
        y = scan_numba.numba_scan(*args)
        y.backward(torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape) / y.numel())
        results.append([y.detach()] + [t.grad for t in leaves])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_nan_input_gives_nan_output():
    u, delta, a, b, c = _inputs()
    delta[0, 1, 3] = float("nan")
    y = scan_numba.numba_scan(u, delta, a, b, c)
    assert torch.isnan(y[0, 1, 3:]).all() and torch.isfinite(y[1]).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_do_not_depend_on_the_thread_count(threads):
    previous = torch.get_num_threads()
    results = []
    try:
        for n in (1, threads):
            torch.set_num_threads(n)
            leaves = [t.clone().requires_grad_() for t in _inputs(seed=5)]
            y = scan_numba.numba_scan(*leaves)
            y.sum().backward()
            results.append([y.detach()] + [t.grad for t in leaves])
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@numba.njit
def _softplus_all(x, out):
    for i in range(x.shape[0]):
        out[i] = numba_kernels.softplus(x[i])


@pytest.mark.parametrize("dtype, ulps", [(np.float32, 3), (np.float64, 8)])
def test_softplus_is_within_a_few_ulp(dtype, ulps):
    x = np.concatenate([np.linspace(-80, 80, 200_001), [0.0, -1e-30, 1e-30]]).astype(dtype)
    out = np.empty_like(x)
    _softplus_all(x, out)
    exact = np.logaddexp(0.0, x.astype(np.float64))
    ulp = np.spacing(exact.astype(dtype)).astype(np.float64)
    assert np.max(np.abs(out - exact) / ulp) <= ulps
