"""One optimiser step computed in equal shards of the batch, on parallel CPU threads.

Why: on a small CPU a fitting step is thousands of small operations; splitting each of them over
two cores costs a thread hand-off per operation and gains little, while two shards of the batch
run on two threads, each operation single-threaded, keep both cores busy.

Contract of :class:`ShardedStep`: the same step as the plain one (:func:`.training.fit_step`) up
to floating-point rounding and the dropout's random numbers:

- the batch is cut into ``shards`` consecutive slices (``tensor_split``); each runs forward and
  backward through its own replica of the network, all shards at once on their own threads. The
  replicas share every parameter; each owns its batch-norm buffers and its dropout generator
  (seeded from the fitting seed and the shard's index);
- batch norm uses the statistics of the WHOLE batch: the replicas' layers exchange their sums at
  barriers (:mod:`.shard_batch_norm`), so running statistics get the same update in every replica;
- the shards' gradients are summed in shard order, the loss of each weighted by its share of the
  batch (the sum is the batch's mean loss);
- every shard has its own Python thread; at most ``running`` of them compute at once (the others
  wait for their turn, handed over at the batch-norm barriers), so ``--threads 1`` keeps to one
  core. Every sum over shards is taken in shard order, so the fitted weights do not depend on the
  number of threads or on timing.

The number of shards is part of the fitting schedule (:class:`.training.FitSchedule`), fixed in
advance and the same for every scene; it applies on the CPU (a GPU runs the batch whole).
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from .cpu_threads import run_in_parallel
from .shard_batch_norm import SyncedBatchNorms


def share_parameters(replica: Any, network: Any) -> None:
    """Make every parameter of ``replica`` the very Parameter object of ``network`` (same names)."""
    modules = dict(network.named_modules())
    for name, module in replica.named_modules():
        for pname in list(module._parameters):  # noqa: SLF001 - the documented registry
            if module._parameters[pname] is not None:  # noqa: SLF001
                setattr(module, pname, modules[name]._parameters[pname])  # noqa: SLF001


class ShardedStep:
    """Fit steps of ``network`` with each batch in ``shards`` shards (see the module docstring).

    Args:
        network: the network, in training mode, already on ``device``; it is replica 0.
        shards: slices of each batch, >= 1.
        seed: seeds the replicas' dropout generators.
        device: torch device of the network (the CPU).
        running: most shards computing at once (the CPU threads to use); None: all of them.
        trim: the share of each block's pixels the loss leaves out (``models.reconstruction_loss``;
            per block, so the step does not depend on the shards).

    The caller shares out the intra-op threads (:func:`.cpu_threads.parallel_slices`).
    """

    def __init__(self, network: Any, shards: int, *, seed: int, device: Any,
                 running: int | None = None, trim: float = 0.0) -> None:
        import torch

        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.network = network
        self.trim = trim
        self.replicas = [network] + [copy.deepcopy(network) for _ in range(shards - 1)]
        for replica in self.replicas[1:]:
            share_parameters(replica, network)
        self.params = [p for p in network.parameters() if p.requires_grad]
        self.running = max(1, min(shards, running or shards))
        for index, replica in enumerate(self.replicas):  # each shard's own dropout masks
            generator = torch.Generator(device=device).manual_seed(seed * 1009 + index + 1)
            for module in replica.modules():
                if hasattr(module, "generator"):
                    module.generator = generator

    def __call__(self, optimiser: Any, clean: Any, noisy: Any) -> float:
        """One optimiser step on a batch.

        Args:
            optimiser: the optimiser of the network's parameters.
            clean: the clean blocks, (b, C, 16, 16), b >= shards (the caller runs smaller
                batches whole).
            noisy: the corrupted blocks fed to the network, same shape.

        Returns:
            The batch's loss (MSE + 0.1 L1).
        """
        import torch

        shards = len(self.replicas)
        if len(clean) < shards:
            raise ValueError(f"a batch of {len(clean)} block(s) cannot be cut into {shards} shards")
        batch = len(clean)
        gate = threading.Semaphore(self.running)
        synced = SyncedBatchNorms(self.replicas, gate)
        jobs = list(zip(self.replicas, clean.tensor_split(shards), noisy.tensor_split(shards)))

        def shard(replica: Any, part_clean: Any, part_noisy: Any) -> Any:
            with gate:
                try:
                    return self._shard(replica, part_clean, part_noisy, batch)
                except BaseException as exc:  # the others must not wait for this shard at a barrier
                    synced.abort()
                    return exc

        try:
            results = run_in_parallel([functools.partial(shard, *job) for job in jobs])
        finally:
            synced.remove()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # the cause, not the broken barriers it left behind
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        optimiser.zero_grad(set_to_none=True)
        for index, param in enumerate(self.params):
            total = None
            for grads, _ in results:  # shard order: the same sum on any number of threads
                grad = grads[index]
                if grad is not None:
                    total = grad if total is None else total + grad
            # In the parameter's own layout, as backward() leaves it: autograd.grad may return a
            # gradient with other strides (channels-last convolution weights, transposed A_log),
            # and the fused CPU Adam of torch 2.13 then updates the wrong elements.
            param.grad = total if total is None or total.stride() == param.stride() \
                else torch.empty_like(param).copy_(total)
        optimiser.step()
        return sum(loss for _, loss in results)

    def _shard(self, replica: Any, clean: Any, noisy: Any, batch: int) -> tuple[list, float]:
        """Gradients of one shard's share of the batch loss."""
        import torch

        from ....models import reconstruction_loss

        loss = reconstruction_loss(replica(noisy), clean, self.trim) * (len(clean) / batch)
        grads = list(torch.autograd.grad(loss, self.params, allow_unused=True))
        return grads, float(loss.detach())
