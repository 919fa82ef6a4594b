"""The Mamba layer's causal convolution + SiLU: numba and conv2d paths against the Conv1d reference."""

from __future__ import annotations

import pytest
import torch

from dms2f_had.models import causal_conv
from dms2f_had.models.causal_conv import causal_conv_silu, causal_conv_silu_ref

TOLERANCES = {torch.float32: 2e-5, torch.float64: 1e-11}


def _inputs(batch, length, dim, k_size, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, dim, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(dim, 1, k_size, generator=g, dtype=torch.float64).to(dtype)
    b = torch.randn(dim, generator=g, dtype=torch.float64).to(dtype)
    return [t.requires_grad_() for t in (x, w, b)]


def _outputs_and_grads(fn, inputs):
    out = fn(*inputs)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    return out, torch.autograd.grad(out, inputs, weight.to(out))


@pytest.mark.parametrize("path", ["numba", "conv2d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("length", [1, 3, 7, 256])
def test_paths_match_the_reference_with_gradients(path, dtype, length, monkeypatch):
    if path == "numba":
        assert causal_conv._numba_kernel() is not None, "numba is a pinned requirement"
    else:
        monkeypatch.setattr(causal_conv, "_numba_kernel", lambda: None)
    inputs = _inputs(3, length, 10, 4, dtype)
    ref, ref_grads = _outputs_and_grads(causal_conv_silu_ref, inputs)
    out, grads = _outputs_and_grads(causal_conv_silu, inputs)
    tol = TOLERANCES[dtype]
    assert out.shape == ref.shape == (3, length, 10) and out.dtype == dtype
    for name, a, b in [("out", out, ref), *zip(("dx", "dw", "dbias"), grads, ref_grads)]:
        scale = max(b.abs().max().item(), 1.0)
        assert (a - b).abs().max().item() <= tol * scale, name


def test_token_major_views_are_accepted():
    """A Mamba layer hands over a strided half of its input projection."""
    x, w, b = _inputs(2, 9, 12, 4, torch.float32)
    wide = torch.cat([x, torch.randn_like(x)], dim=-1)  # (b, L, 2D)
    view = wide[..., :12]  # (b, L, D), not contiguous
    torch.testing.assert_close(causal_conv_silu(view, w, b), causal_conv_silu_ref(x, w, b))
