"""Fast selective scans against the sequential reference: outputs and gradients of every input."""

from __future__ import annotations

import pytest
import torch
from scan_support import OPTIONS, check_parity, make_inputs

from dms2f_had.models import scan as scan_module
from dms2f_had.models import selective_scan_fast
from dms2f_had.models.scan_torch import chunked_scan

LENGTHS = [1, 7, 37, 256]

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


def test_fast_scan_keeps_input_dtype_and_leaves_inputs_alone():
    inputs = make_inputs(1, 3, 9, 4, torch.float32)
    before = {k: v.detach().clone() for k, v in inputs.items()}
    y = selective_scan_fast(*(inputs[k] for k in ("u", "delta", "A", "B", "C")))
    assert y.dtype == torch.float32 and y.shape == (1, 3, 9)
    for k, v in inputs.items():
        assert torch.equal(v.detach(), before[k]), k
