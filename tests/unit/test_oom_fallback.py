"""CUDA out of memory: smaller batches, then the CPU (fitting, calibration, scoring).

There is no GPU here, so the allocator's failure is faked: the work raises torch's own
``OutOfMemoryError`` while it runs "on CUDA". The devices are only labels for the plan.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dms2f_had.dms2f_plugin.engine.detectors import oom, training  # noqa: E402
from dms2f_had.dms2f_plugin.engine.detectors.training import FitSchedule  # noqa: E402
from dms2f_had.dms2f_plugin.engine.errors import InputError  # noqa: E402


def _oom():
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_plan_halves_the_batch_then_moves_to_the_cpu(caplog):
    plan = oom.FallbackPlan(8, "cuda", "scoring")
    with caplog.at_level(logging.WARNING):
        steps = [plan.after_oom() for _ in range(4)]
    assert steps == ["smaller", "smaller", "smaller", "cpu"]
    assert plan.device.type == "cpu" and plan.batch_size == 8
    assert "continuing on the CPU" in caplog.text and "scoring" in caplog.text
    with pytest.raises(InputError, match="Out of memory on the CPU while scoring"):
        plan.after_oom()


def test_run_with_fallback_retries_smaller_then_on_the_cpu():
    tried, moved = [], []

    def work(batch, device):
        tried.append((batch, device.type))
        if device.type == "cuda":
            raise _oom()
        return batch * 10

    result, batch, device = oom.run_with_fallback(work, 4, "cuda", what="calibrating the score",
                                                  on_cpu=lambda: moved.append(True))
    assert result == 40 and batch == 4 and device.type == "cpu" and moved == [True]
    assert tried == [(4, "cuda"), (2, "cuda"), (1, "cuda"), (4, "cpu")]


def test_other_errors_are_not_swallowed():
    def work(batch, device):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        oom.run_with_fallback(work, 4, "cuda", what="scoring")


def test_pre_2_0_style_oom_messages_are_recognised():
    assert oom.is_cuda_oom(RuntimeError("CUDA out of memory. Tried to allocate 20 MiB"))
    assert not oom.is_cuda_oom(RuntimeError("expected scalar type Float"))


class _GpuLikePlan(oom.FallbackPlan):
    """The GPU policy (halve the batch) while the tensors stay on the CPU of this machine."""

    def after_oom(self):
        self.batch_size //= 2
        return "smaller"


def test_fitting_splits_its_steps_after_an_allocator_failure(monkeypatch):
    from dms2f_had.models import Dms2fConfig, Dms2fHad

    calls = []
    real_step = training.fit_step

    def failing_step(network, optimiser, clean, noisy, *, parts=1, trim=0.0):
        calls.append(parts)
        if parts < 4:  # pretend a batch of more than 2 blocks does not fit
            raise _oom()
        return real_step(network, optimiser, clean, noisy, parts=parts, trim=trim)

    monkeypatch.setattr(training, "fit_step", failing_step)
    monkeypatch.setattr(training, "FallbackPlan", _GpuLikePlan)
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", 12))
    blocks = np.random.default_rng(0).random((10, 12, 16, 16), dtype=np.float32)
    training.train_network(network, blocks, FitSchedule(steps=3, batch_size=8), seed=0,
                           device=torch.device("cpu"))
    assert calls == [1, 2, 4, 4, 4]


def test_split_steps_learn_the_same_batch():
    """One step in 1 or in 4 parts moves the weights the same way up to batch-norm statistics."""
    from dms2f_had.models import Dms2fConfig, Dms2fHad

    blocks = torch.rand(8, 12, 16, 16)
    grads = []
    for parts in (1, 4):
        torch.manual_seed(0)
        network = Dms2fHad(Dms2fConfig.preset("fast", 12)).train()
        network.stem[1].eval()  # batch norm on running statistics: slices then see the same maths
        network.spatial.conv[1].eval()
        optimiser = torch.optim.SGD(network.parameters(), lr=0.0)
        training.fit_step(network, optimiser, blocks, blocks, parts=parts)
        grads.append(torch.cat([p.grad.flatten() for p in network.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)
