"""Shared by the scan parity tests of every tier: inputs, and outputs plus gradients against the
sequential reference ``selective_scan_ref`` with per-dtype tolerances."""

from __future__ import annotations

import torch

from dms2f_had.models import selective_scan_ref

# (rtol, atol) per dtype, relative to the largest magnitude of each compared tensor.
TOLERANCES = {torch.float32: 2e-5, torch.float64: 1e-11}
NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


def make_inputs(batch, dim, length, n_state, dtype, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    tensors = {
        "u": rand(batch, dim, length),
        "delta": rand(batch, dim, length, scale=0.5).abs(),  # positive, so that no option overflows
        "A": -torch.rand(dim, n_state, generator=g, dtype=torch.float64).to(dtype) * 2,
        "B": rand(batch, n_state, length),
        "C": rand(batch, n_state, length),
        "D": rand(dim),
        "z": rand(batch, dim, length),
        "delta_bias": rand(dim, scale=0.5).abs(),
    }
    return {k: v.to(device).requires_grad_() for k, v in tensors.items()}


def outputs_and_grads(fn, inputs, use_d, use_z, use_bias, softplus):
    y = fn(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"],
           inputs["D"] if use_d else None, z=inputs["z"] if use_z else None,
           delta_bias=inputs["delta_bias"] if use_bias else None, delta_softplus=softplus)
    skipped = {name for name, used in (("D", use_d), ("z", use_z), ("delta_bias", use_bias)) if not used}
    used = [k for k in NAMES if k not in skipped]
    weight = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    grads = torch.autograd.grad(y, [inputs[k] for k in used], weight.to(y))
    return y, dict(zip(used, grads))


def assert_close(name, actual, expected, tol):
    scale = expected.abs().max().item() + 1e-30
    error = (actual.double() - expected.double()).abs().max().item()
    assert error <= tol * max(scale, 1.0), f"{name}: max error {error:.3g} vs scale {scale:.3g}"


def check_parity(fn, dtype, shape, options, device="cpu", tol=None):
    tol = tol or TOLERANCES[dtype]
    inputs = make_inputs(*shape, dtype=dtype, device=device)
    y_ref, g_ref = outputs_and_grads(selective_scan_ref, inputs, *options)
    y, g = outputs_and_grads(fn, inputs, *options)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    assert_close("output", y, y_ref, tol)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        assert_close(f"d{name}", g[name], g_ref[name], tol)


OPTIONS = [(True, True, True, True), (False, False, False, False), (True, False, True, False),
           (False, True, False, True)]
