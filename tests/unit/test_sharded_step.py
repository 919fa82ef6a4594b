"""Fitting in shards of the batch: the threaded path against its one-after-the-other reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dms2f_had.dms2f_plugin.engine.detectors import cpu_threads, sharded_step, training  # noqa: E402
from dms2f_had.dms2f_plugin.engine.detectors.training import FitSchedule  # noqa: E402
from dms2f_had.models import Dms2fConfig, Dms2fHad  # noqa: E402
from dms2f_had.models.dms2f import SeededDropout  # noqa: E402

BANDS = 12


def _blocks(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).random((n, BANDS, 16, 16), dtype=np.float32)


def _fit(threads: int, shards: int, steps: int = 4) -> Dms2fHad:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        network = Dms2fHad(Dms2fConfig.preset("fast", BANDS))
        schedule = FitSchedule(steps=steps, batch_size=8, lr=1e-3, shards=shards)
        return training.train_network(network, _blocks(), schedule, seed=3, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(previous)


def test_threaded_shards_fit_exactly_the_weights_of_the_sequential_reference():
    sequential, threaded = _fit(1, 2), _fit(2, 2)
    for (name, a), (_, b) in zip(sequential.state_dict().items(), threaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.get_num_threads() >= 1


def test_shards_are_ghost_batches_not_the_plain_step():
    """Two shards normalise each half by its own statistics: the weights differ from one shard's."""
    one, two = _fit(1, 1), _fit(1, 2)
    differs = [not torch.equal(a, b) for a, b in zip(one.state_dict().values(), two.state_dict().values())]
    assert any(differs)


def test_sharded_gradients_equal_the_plain_gradients_without_batch_statistics():
    """With batch norm on running statistics and no dropout, shards only regroup the sum."""
    blocks = torch.from_numpy(_blocks(8))
    grads = []
    for shards in (1, 2):
        torch.manual_seed(0)
        network = Dms2fHad(dataclasses.replace(Dms2fConfig.preset("fast", BANDS), dropout=0.0)).train()
        network.stem[1].eval()
        network.spatial.conv[1].eval()
        optimiser = torch.optim.SGD(network.parameters(), lr=0.0)
        if shards == 1:
            training.fit_step(network, optimiser, blocks, blocks)
        else:
            step = sharded_step.ShardedStep(network, shards, seed=0, device=torch.device("cpu"), parallel=2)
            step(optimiser, blocks, blocks)
        grads.append(torch.cat([p.grad.flatten() for p in network.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_replicas_share_parameters_and_average_their_running_statistics():
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS)).train()
    step = sharded_step.ShardedStep(network, 2, seed=0, device=torch.device("cpu"))
    replica = step.replicas[1]
    for a, b in zip(network.parameters(), replica.parameters()):
        assert a is b
    assert network.stem[1].running_mean is not replica.stem[1].running_mean
    blocks = torch.from_numpy(_blocks(8))
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    before = network.stem[1].running_mean.clone()
    step(optimiser, blocks, blocks)
    assert not torch.equal(before, network.stem[1].running_mean)
    assert torch.equal(network.stem[1].running_mean, replica.stem[1].running_mean)
    assert network.spectral.dropout.generator is not replica.spectral.dropout.generator


def test_intra_op_threads_are_restored():
    previous = torch.get_num_threads()
    with cpu_threads.intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == previous


def test_seeded_dropout_draws_from_its_generator_only():
    x = torch.ones(4, 64)
    drop = SeededDropout(0.5).train()
    masks = []
    for _ in range(2):
        drop.generator = torch.Generator().manual_seed(7)
        torch.manual_seed(99)  # the global generator must not matter
        masks.append(drop(x))
        torch.rand(10)
    assert torch.equal(masks[0], masks[1])
    assert set(masks[0].unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(drop.eval()(x), x)
    drop.generator = None
    torch.manual_seed(1)
    a = drop.train()(x)
    torch.manual_seed(1)
    assert torch.equal(a, torch.nn.functional.dropout(x, 0.5, training=True))


def test_shards_below_one_are_refused():
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS))
    with pytest.raises(ValueError, match="shards"):
        sharded_step.ShardedStep(network, 0, seed=0, device=torch.device("cpu"))
