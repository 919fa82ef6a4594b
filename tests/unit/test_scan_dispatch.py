"""The dispatcher picks an implementation per device, falls back cleanly and logs why, once."""

from __future__ import annotations

import logging

import pytest
import torch

from dms2f_had.models import scan as scan_module
from dms2f_had.models import scan_backend_name, selective_scan, selective_scan_ref

LOGGER = "dms2f_had.models.scan"


@pytest.fixture
def fresh_log(monkeypatch):
    """Forget which choices were already logged."""
    monkeypatch.setattr(scan_module, "_logged", set())


def small_inputs():
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 3, 11, generator=g)
    delta = torch.rand(2, 3, 11, generator=g)
    a = -torch.rand(3, 4, generator=g)
    b, c = torch.randn(2, 4, 11, generator=g), torch.randn(2, 4, 11, generator=g)
    return u, delta, a, b, c


def test_cpu_uses_numba_and_logs_it_once(fresh_log, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    selective_scan(*small_inputs())
    selective_scan(*small_inputs())
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == ["selective scan: numba CPU kernel"]
    assert scan_backend_name("cpu") == "numba CPU kernel"


def test_without_numba_falls_back_to_chunked_scan_and_says_so(fresh_log, caplog, monkeypatch):
    monkeypatch.setattr(scan_module, "_numba_core", lambda: None)
    caplog.set_level(logging.INFO, logger=LOGGER)
    inputs = small_inputs()
    torch.testing.assert_close(selective_scan(*inputs), selective_scan_ref(*inputs))
    selective_scan(*inputs)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 1 and "numba not importable" in messages[0] and "requirements.txt" in messages[0]
    assert scan_backend_name("cpu") == "chunked PyTorch scan"


def test_cuda_without_mamba_ssm_names_the_fix(fresh_log, caplog, monkeypatch):
    monkeypatch.setattr(scan_module, "_cuda_kernel", lambda: None)
    caplog.set_level(logging.INFO, logger=LOGGER)
    impl = scan_module._pick(torch.device("cuda"))
    assert impl is scan_module.selective_scan_fast
    (message,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "mamba-ssm not installed" in message and "pip install mamba-ssm causal-conv1d" in message
    assert scan_backend_name("cuda") == "chunked PyTorch scan"


def test_cuda_with_mamba_ssm_uses_its_kernel(fresh_log, monkeypatch):
    calls = []

    def fake_kernel(*args):
        calls.append(args)
        return args[0]

    monkeypatch.setattr(scan_module, "_cuda_kernel", lambda: fake_kernel)
    assert scan_module._pick(torch.device("cuda")) is scan_module.selective_scan_cuda
    assert scan_backend_name("cuda:0") == "mamba-ssm CUDA kernel"
    u = torch.zeros(1, 2, 3)
    assert scan_module.selective_scan_cuda(u, u, u[0], u, u) is u and len(calls) == 1


def test_cuda_wrapper_without_mamba_ssm_raises_with_the_fix(monkeypatch):
    monkeypatch.setattr(scan_module, "_cuda_kernel", lambda: None)
    with pytest.raises(ImportError, match="pip install mamba-ssm causal-conv1d"):
        scan_module.selective_scan_cuda(*small_inputs())
