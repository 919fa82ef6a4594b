"""The fitting loop with the real network: reproducibility, last step returned, cosine rate."""

from __future__ import annotations

import dataclasses

import numpy as np
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
