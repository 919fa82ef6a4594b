"""The fitting loop with the real network: reproducibility, last step returned, cosine rate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dms2f_had.dms2f_plugin.engine.detectors.training import FitSchedule, train_network
from dms2f_had.models import Dms2fConfig, Dms2fHad

STEPS = 6


class _Recorder:
    """A progress sink that keeps a copy of the network's state after every step."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network, self.states = network, []

    def set_progress(self, percent: float) -> None:
        self.states.append({k: v.detach().clone() for k, v in self.network.state_dict().items()})

    def is_canceled(self) -> bool:
        return False


def _fit(schedule: FitSchedule, seed: int = 0):
    torch.manual_seed(seed)
    cfg = dataclasses.replace(Dms2fConfig.preset("fast", 14), width=16, d_state=4)
    network = Dms2fHad(cfg)
    blocks = np.random.default_rng(1).random((20, 14, 16, 16), dtype=np.float32)  # (n, C, 16, 16)
    recorder = _Recorder(network)
    fitted = train_network(network, blocks, schedule, seed=seed, device=torch.device("cpu"),
                           progress=recorder)
    return fitted, recorder.states


def test_same_seed_same_weights_and_the_last_step_is_returned():
    schedule = FitSchedule(steps=STEPS, batch_size=4, lr=1e-3, lr_final=0.1)
    first, states = _fit(schedule)
    second, _ = _fit(schedule)
    assert not first.training
    for key, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[key], rtol=0, atol=0)
        torch.testing.assert_close(value, states[-1][key], rtol=0, atol=0)


def test_cosine_schedule_starts_at_lr_and_changes_later_steps_only():
    constant, const_states = _fit(FitSchedule(steps=STEPS, batch_size=4, lr=1e-3))
    cosine, cos_states = _fit(FitSchedule(steps=STEPS, batch_size=4, lr=1e-3, lr_final=0.1))
    weight = "head.weight"
    torch.testing.assert_close(cos_states[0][weight], const_states[0][weight], rtol=0, atol=0)
    assert not torch.equal(cosine.state_dict()[weight], constant.state_dict()[weight])


@pytest.mark.parametrize("shards", [1, 2])
def test_weight_averaging_returns_the_mean_of_the_last_steps_weights(shards: int):
    plain = FitSchedule(steps=STEPS, batch_size=4, lr=1e-3, lr_final=0.1, shards=shards)
    averaged = dataclasses.replace(plain, average=0.5)
    assert averaged.averaged_steps == STEPS // 2
    fitted, states = _fit(averaged)
    _, plain_states = _fit(plain)
    tail = states[STEPS - averaged.averaged_steps:]
    for key, value in fitted.state_dict().items():
        # The averaging only reads the trajectory: every step's state is the plain fit's.
        torch.testing.assert_close(states[-1][key], plain_states[-1][key], rtol=0, atol=0)
        if value.is_floating_point():  # weights and batch-norm statistics (not the step counter)
            mean = torch.stack([state[key] for state in tail]).mean(dim=0)
            torch.testing.assert_close(value, mean, rtol=1e-5, atol=1e-6)
    moved = [key for key, value in fitted.state_dict().items()
             if value.is_floating_point() and not torch.equal(value, states[-1][key])]
    assert "head.weight" in moved


def test_weight_averaging_share_is_bounded():
    assert FitSchedule(steps=300, average=0.0).averaged_steps == 0
    assert FitSchedule(steps=300, average=1 / 3).averaged_steps == 100
    assert FitSchedule(steps=3, average=0.01).averaged_steps == 1
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"average must be in \[0, 1\]"):
            FitSchedule(steps=10, average=bad)
