"""Fast selective scans against the sequential reference: outputs and gradients of every input."""

from __future__ import annotations

import pytest
import torch

from dms2f_had.models import selective_scan_cuda, selective_scan_fast, selective_scan_ref
from dms2f_had.models import scan as scan_module
from dms2f_had.models.scan_torch import chunked_scan

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


LENGTHS = [1, 7, 37, 256]
OPTIONS = [(True, True, True, True), (False, False, False, False), (True, False, True, False),
           (False, True, False, True)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "D{}-z{}-bias{}-softplus{}".format(*map(int, o)))
def test_fast_scan_matches_reference(dtype, length, options):
    check_parity(selective_scan_fast, dtype, (2, 5, length, 6), options)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("length", [1, 37, 70])
def test_chunked_torch_scan_matches_reference(dtype, length, monkeypatch):
    monkeypatch.setattr(scan_module, "_numba_core", lambda: None)
    check_parity(selective_scan_fast, dtype, (3, 4, length, 5), OPTIONS[0])


def test_fast_scan_at_network_sizes_float32():
    """d_state 64 and a long sequence: the sizes where cancellation would show."""
    check_parity(selective_scan_fast, torch.float32, (2, 8, 256, 64), OPTIONS[0], tol=5e-5)


def test_numba_and_chunked_cores_agree_on_large_state():
    inputs = make_inputs(2, 4, 50, 64, torch.float32)
    args = [inputs[k].detach() for k in ("u", "delta", "A", "B", "C")]
    args[1] = torch.nn.functional.softplus(args[1])
    core = scan_module._numba_core()
    assert core is not None, "numba is a pinned requirement; it must import in the test environment"
    torch.testing.assert_close(core(*args), chunked_scan(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA GPU (mamba-ssm's kernel runs only there)")
@pytest.mark.parametrize("length", [7, 256])
def test_cuda_kernel_matches_reference(length):
    pytest.importorskip("mamba_ssm", reason="mamba-ssm not installed: pip install mamba-ssm causal-conv1d")
    check_parity(selective_scan_cuda, torch.float32, (2, 16, length, 16), OPTIONS[0], device="cuda", tol=1e-3)


def test_fast_scan_keeps_input_dtype_and_leaves_inputs_alone():
    inputs = make_inputs(1, 3, 9, 4, torch.float32)
    before = {k: v.detach().clone() for k, v in inputs.items()}
    y = selective_scan_fast(*(inputs[k] for k in ("u", "delta", "A", "B", "C")))
    assert y.dtype == torch.float32 and y.shape == (1, 3, 9)
    for k, v in inputs.items():
        assert torch.equal(v.detach(), before[k]), k
