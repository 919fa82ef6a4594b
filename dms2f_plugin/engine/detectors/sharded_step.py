"""One optimiser step computed in equal shards of the batch, on parallel CPU threads.

Why: on a small CPU a fitting step is thousands of small operations; splitting each of them over
two cores costs a thread hand-off per operation and gains little, while two halves of the batch
run on two threads, each operation single-threaded, keep both cores busy.

Contract of :class:`ShardedStep`:

- the batch is cut into ``shards`` consecutive slices (``tensor_split``); each runs forward and
  backward through its own replica of the network. The replicas share every parameter and own
  their batch-norm buffers and their dropout generator (seeded from the fitting seed and the
  shard's index), so each shard is normalised by its own batch statistics ("ghost batches");
- the shards' gradients are summed in shard order, the loss of each weighted by its share of the
  batch (the sum is the batch's mean loss, as in the plain step); after the optimiser step the
  replicas' batch-norm running statistics are averaged in shard order and given to every replica;
- the arithmetic is the same whether the shards run one after the other (the reference path) or
  on parallel threads: the fitted weights do not depend on the number of threads.

The number of shards is part of the fitting schedule (:class:`.training.FitSchedule`), fixed in
advance and the same for every scene.
"""

from __future__ import annotations

import copy
from typing import Any

from .cpu_threads import run_in_parallel

#: Batch-norm buffers averaged over the replicas after each step.
_RUNNING_STATS = ("running_mean", "running_var")


def share_parameters(replica: Any, network: Any) -> None:
    """Make every parameter of ``replica`` the very Parameter object of ``network`` (same names)."""
    modules = dict(network.named_modules())
    for name, module in replica.named_modules():
        for pname in list(module._parameters):  # noqa: SLF001 - the documented registry
            if module._parameters[pname] is not None:  # noqa: SLF001
                setattr(module, pname, modules[name]._parameters[pname])  # noqa: SLF001


class ShardedStep:
    """Fit steps of ``network`` in ``shards`` ghost batches (see the module docstring).

    Args:
        network: the network, in training mode, already on ``device``; it is replica 0.
        shards: slices of each batch, >= 1.
        seed: seeds the replicas' dropout generators.
        device: torch device of the network.
        parallel: run this many shards at once on parallel threads (1: one after the other); the
            caller sets the intra-op threads (:func:`.cpu_threads.intra_op_threads`).
    """

    def __init__(self, network: Any, shards: int, *, seed: int, device: Any, parallel: int = 1) -> None:
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.network = network
        self.replicas = [network] + [copy.deepcopy(network) for _ in range(shards - 1)]
        for replica in self.replicas[1:]:
            share_parameters(replica, network)
        self.params = [p for p in network.parameters() if p.requires_grad]
        self.seed = seed
        self.parallel = max(1, min(parallel, shards))
        self.to(device)

    def to(self, device: Any) -> ShardedStep:
        """Move the replicas' buffers to ``device`` and reseed their dropout generators there."""
        import torch

        for index, replica in enumerate(self.replicas):
            replica.to(device)
            generator = torch.Generator(device=device).manual_seed(self.seed * 1009 + index + 1)
            for module in replica.modules():
                if hasattr(module, "generator"):
                    module.generator = generator
        return self

    def __call__(self, optimiser: Any, clean: Any, noisy: Any, *, parts: int = 1) -> float:
        """One optimiser step on a batch.

        Args:
            optimiser: the optimiser of the network's parameters.
            clean: the clean blocks, (b, C, 16, 16), b >= shards.
            noisy: the corrupted blocks fed to the network, same shape.
            parts: slices of each shard computed one after the other (after CUDA out-of-memory).

        Returns:
            The batch's loss (MSE + 0.1 L1).
        """
        shards = len(self.replicas)
        jobs = list(zip(self.replicas, clean.tensor_split(shards), noisy.tensor_split(shards)))
        batch = len(clean)
        results: list[tuple[list, float]] = []
        for first in range(0, shards, self.parallel):  # ``parallel`` shards at a time
            results += run_in_parallel([
                (lambda r=r, c=c, n=n: self._shard(r, c, n, parts, batch))
                for r, c, n in jobs[first : first + self.parallel]])
        optimiser.zero_grad(set_to_none=True)
        for index, param in enumerate(self.params):
            total = None
            for grads, _ in results:  # shard order: the same sum on any number of threads
                grad = grads[index]
                if grad is not None:
                    total = grad if total is None else total + grad
            param.grad = total
        optimiser.step()
        self._average_running_stats()
        return sum(loss for _, loss in results)

    def _shard(self, replica: Any, clean: Any, noisy: Any, parts: int, batch: int) -> tuple[list, float]:
        """Gradients of one shard's share of the batch loss, over ``parts`` slices of it."""
        import torch

        from ....models import reconstruction_loss

        grads: list = [None] * len(self.params)
        total = 0.0
        for part_clean, part_noisy in zip(clean.tensor_split(parts), noisy.tensor_split(parts)):
            if len(part_clean) == 0:
                continue
            loss = reconstruction_loss(replica(part_noisy), part_clean) * (len(part_clean) / batch)
            for index, grad in enumerate(torch.autograd.grad(loss, self.params, allow_unused=True)):
                if grad is not None:
                    grads[index] = grad if grads[index] is None else grads[index] + grad
            total += float(loss.detach())
        return grads, total

    def _average_running_stats(self) -> None:
        """Give every replica the shard-order mean of the replicas' batch-norm running statistics."""
        if len(self.replicas) == 1:
            return
        import torch

        with torch.no_grad():
            per_replica = [dict(r.named_buffers()) for r in self.replicas]
            for name, buffer in per_replica[0].items():
                if name.rsplit(".", 1)[-1] not in _RUNNING_STATS:
                    continue
                mean = buffer.clone()
                for other in per_replica[1:]:
                    mean += other[name]
                mean /= len(per_replica)
                for buffers in per_replica:
                    buffers[name].copy_(mean)
