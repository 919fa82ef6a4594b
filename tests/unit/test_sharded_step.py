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


def _plain_and_sharded(blocks, shards=2, trim=0.0):
    """(network, grads, step) after one plain step and one sharded step, no dropout."""
    out = []
    for sharded in (False, True):
        torch.manual_seed(0)
        network = Dms2fHad(dataclasses.replace(Dms2fConfig.preset("fast", BANDS), dropout=0.0)).train()
        optimiser = torch.optim.SGD(network.parameters(), lr=0.0)
        step = None
        if sharded:
            step = sharded_step.ShardedStep(network, shards, seed=0, device=torch.device("cpu"),
                                            trim=trim)
            with cpu_threads.parallel_slices("cpu", shards, always=True):
                step(optimiser, blocks, blocks)
        else:
            training.fit_step(network, optimiser, blocks, blocks, trim=trim)
        grads = torch.cat([p.grad.flatten() for p in network.parameters() if p.grad is not None])
        out.append((network, grads, step))
    return out


def test_sharded_gradients_equal_the_plain_gradients_with_whole_batch_statistics():
    """Batch norm in training mode: the shards' layers meet, so the step is the plain step."""
    (plain, plain_grads, _), (sharded, sharded_grads, _) = _plain_and_sharded(torch.from_numpy(_blocks(8)))
    torch.testing.assert_close(sharded_grads, plain_grads, rtol=1e-4, atol=1e-6)
    for name in ("stem.1.running_mean", "stem.1.running_var", "spatial.conv.1.running_var"):
        torch.testing.assert_close(sharded.state_dict()[name], plain.state_dict()[name])


def test_a_trimmed_loss_is_per_block_so_shards_still_equal_the_plain_step():
    blocks = torch.from_numpy(_blocks(8))
    (_, plain, _), (_, sharded, _) = _plain_and_sharded(blocks, trim=0.1)
    torch.testing.assert_close(sharded, plain, rtol=1e-4, atol=1e-6)
    (_, untrimmed, _), _ = _plain_and_sharded(blocks)
    assert not torch.allclose(plain, untrimmed)  # the trim changes the step


def test_three_uneven_shards_still_equal_the_plain_step():
    (_, plain_grads, _), (_, sharded_grads, step) = _plain_and_sharded(torch.from_numpy(_blocks(7)), 3)
    torch.testing.assert_close(sharded_grads, plain_grads, rtol=1e-4, atol=1e-6)
    running = [r.stem[1].running_mean for r in step.replicas]
    assert all(torch.equal(running[0], other) for other in running[1:])


def test_replicas_share_parameters_and_own_buffers_and_generators():
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS)).train()
    step = sharded_step.ShardedStep(network, 2, seed=0, device=torch.device("cpu"))
    replica = step.replicas[1]
    for a, b in zip(network.parameters(), replica.parameters()):
        assert a is b
    assert network.stem[1].running_mean is not replica.stem[1].running_mean
    assert network.spectral.dropout.generator is not replica.spectral.dropout.generator
    blocks = torch.from_numpy(_blocks(8))
    step(torch.optim.SGD(network.parameters(), lr=0.0), blocks, blocks)
    assert "forward" not in vars(network.stem[1])  # the synchronised forward is gone after a step


def test_a_failing_shard_raises_its_own_error_instead_of_hanging(monkeypatch):
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS)).train()
    step = sharded_step.ShardedStep(network, 2, seed=0, device=torch.device("cpu"))

    def broken(x):
        raise RuntimeError("shard 1 broke")

    monkeypatch.setattr(step.replicas[1].head, "forward", broken)
    blocks = torch.from_numpy(_blocks(8))
    optimiser = torch.optim.SGD(network.parameters(), lr=0.0)
    with pytest.raises(RuntimeError, match="shard 1 broke"):
        step(optimiser, blocks, blocks)
    monkeypatch.undo()
    step(optimiser, blocks, blocks)  # the next step is not blocked by broken barriers
    assert all(p.grad is not None for p in network.head.parameters())


def test_a_scene_of_one_block_fits_whole_and_the_step_refuses_to_cut_it():
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS))
    schedule = FitSchedule(steps=2, batch_size=8, shards=2)
    fitted = training.train_network(network, _blocks(1), schedule, seed=0, device=torch.device("cpu"))
    assert all(torch.isfinite(p).all() for p in fitted.parameters())
    step = sharded_step.ShardedStep(Dms2fHad(Dms2fConfig.preset("fast", BANDS)).train(), 2, seed=0,
                                    device=torch.device("cpu"))
    one = torch.from_numpy(_blocks(1))
    with pytest.raises(ValueError, match="cannot be cut into 2 shards"):
        step(torch.optim.SGD(network.parameters(), lr=0.0), one, one)


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


@pytest.mark.parametrize("running", [1, 2])
def test_at_most_running_shards_compute_at_once(running):
    """``--threads 1`` keeps the shards to one core: they take turns between the barriers."""
    import threading
    import time

    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", BANDS)).train()
    step = sharded_step.ShardedStep(network, 2, seed=0, device=torch.device("cpu"), running=running)
    lock, inside, most = threading.Lock(), [0], [0]

    def enter(module, args):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.2)  # a window wide enough for the other shard to enter if it may

    def leave(module, args, output):
        with lock:
            inside[0] -= 1

    for replica in step.replicas:
        replica.head.register_forward_pre_hook(enter)
        replica.head.register_forward_hook(leave)
    blocks = torch.from_numpy(_blocks(8))
    with cpu_threads.parallel_slices("cpu", 2, always=True):
        step(torch.optim.SGD(network.parameters(), lr=0.0), blocks, blocks)
    assert most[0] == running


def test_a_sharded_adam_step_moves_the_weights_as_the_plain_step():
    """The summed gradients keep each parameter's layout (the fused CPU Adam needs it)."""
    blocks = torch.from_numpy(_blocks(8))
    after = []
    for sharded in (False, True):
        torch.manual_seed(0)
        network = Dms2fHad(dataclasses.replace(Dms2fConfig.preset("fast", BANDS), dropout=0.0)).train()
        # eps 1: the first step is about lr * grad, so gradients that are rounding noise (a bias
        # before batch norm) stay noise instead of becoming +-lr; a scrambled layout still shows.
        optimiser = torch.optim.Adam(network.parameters(), lr=1e-2, eps=1.0, fused=True)
        if sharded:
            step = sharded_step.ShardedStep(network, 2, seed=0, device=torch.device("cpu"))
            with cpu_threads.parallel_slices("cpu", 2, always=True):
                step(optimiser, blocks, blocks)
            for param in network.parameters():
                assert param.grad.stride() == param.stride()
        else:
            training.fit_step(network, optimiser, blocks, blocks)
        after.append({name: p.detach().clone() for name, p in network.named_parameters()})
    for name, value in after[0].items():
        torch.testing.assert_close(after[1][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_a_gpu_runs_the_batch_whole_and_keeps_the_threads():
    """Shards and slices are for the CPU; on CUDA one slice, torch's threads untouched."""
    threads = torch.get_num_threads()
    with cpu_threads.parallel_slices("cuda", 2, always=True) as slices:
        assert slices == 1 and torch.get_num_threads() == threads
    with cpu_threads.parallel_slices("cpu", 2, always=True) as slices:
        assert slices == 2 and torch.get_num_threads() == max(1, threads // 2)
    assert torch.get_num_threads() == threads
