"""Batch normalisation over the whole batch while its shards run on parallel threads.

Each shard's replica of a ``BatchNorm2d`` layer exchanges per-channel sums with the others at a
barrier (the way ``torch.nn.SyncBatchNorm`` does across processes), so every shard is normalised
by the statistics of the whole batch, its backward uses the whole batch's sums, and the running
statistics get the same update in every replica. Sums over shards are taken in shard order by
every thread, so the result does not depend on which thread arrives first.

Every shard must run its forward and backward: the layers wait for each other (a shard that fails
breaks the barriers, and the others fail at once instead of waiting).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

#: Seconds a shard waits for the others at a barrier before giving up (a safety net: they arrive
#: within milliseconds of each other).
BARRIER_TIMEOUT_S = 600.0


class ShardGroup:
    """The meeting point of one layer's replicas: a barrier and one slot per shard.

    ``gate`` bounds how many shards compute at once (the caller's CPU threads): a shard holds it
    while it computes and hands it over while it waits at the barrier.
    """

    def __init__(self, shards: int, gate: threading.Semaphore) -> None:
        self.barrier = threading.Barrier(shards, timeout=BARRIER_TIMEOUT_S)
        self.slots: list[Any] = [None] * shards
        self.gate = gate

    def all_sum(self, index: int, value: Any) -> Any:
        """Sum of every shard's ``value`` (tensors of one shape), added in shard order."""
        self.slots[index] = value
        self.gate.release()
        try:
            self.barrier.wait()
            total = self.slots[0]
            for other in self.slots[1:]:
                total = total + other
            self.barrier.wait()  # every shard has read the slots before any writes them again
        finally:
            self.gate.acquire()
        return total


def _batch_norm_function() -> Any:
    import torch

    class SyncedBatchNorm(torch.autograd.Function):
        """Training-mode batch norm of one shard with whole-batch statistics (x: (b, C, H, W))."""

        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, bias: Any, module: Any, group: ShardGroup,
                    index: int) -> Any:
            dims = (0, 2, 3)
            channels = x.shape[1]
            local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() // channels)])  # (C+1,)
            total = group.all_sum(index, local)  # (C+1,)
            count = total[-1]
            mean = total[:channels] / count  # (C,)
            centred = x - mean[None, :, None, None]  # (b, C, H, W)
            var = group.all_sum(index, (centred * centred).sum(dims)) / count  # (C,), biased
            invstd = torch.rsqrt(var + module.eps)  # (C,)
            xhat = centred * invstd[None, :, None, None]  # (b, C, H, W)
            if module.track_running_stats:
                momentum = module.momentum
                module.num_batches_tracked.add_(1)
                if momentum is None:  # cumulative average, as BatchNorm2d
                    momentum = 1.0 / float(module.num_batches_tracked)
                unbiased = var * (count / max(float(count) - 1.0, 1.0))  # (C,)
                module.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
                module.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
            ctx.save_for_backward(xhat, weight, invstd, count)
            ctx.group, ctx.index = group, index
            return xhat * weight[None, :, None, None] + bias[None, :, None, None]  # (b, C, H, W)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, ...]:
            xhat, weight, invstd, count = ctx.saved_tensors
            dims = (0, 2, 3)
            channels = weight.shape[0]
            local = torch.cat([grad.sum(dims), (grad * xhat).sum(dims)])  # (2C,)
            total = ctx.group.all_sum(ctx.index, local)  # (2C,)
            sum_g, sum_gx = total[:channels] / count, total[channels:] / count  # (C,) each
            grad_x = (weight * invstd)[None, :, None, None] * (
                grad - sum_g[None, :, None, None] - xhat * sum_gx[None, :, None, None])  # (b, C, H, W)
            # The parameters' gradients are this shard's share; the shards' shares are summed later.
            return grad_x, local[channels:], local[:channels], None, None, None

    return SyncedBatchNorm


class SyncedBatchNorms:
    """While installed, the ``BatchNorm2d`` layers of the replicas normalise over every shard.

    Args:
        replicas: one network per shard, same architecture (replica ``i`` runs shard ``i``).
        gate: held by a shard while it computes (see :class:`ShardGroup`).
    """

    def __init__(self, replicas: Sequence[Any], gate: threading.Semaphore) -> None:
        import torch

        self._function = _batch_norm_function()
        self._patched: list[Any] = []
        self.groups: list[ShardGroup] = []
        per_replica = [[m for m in r.modules() if isinstance(m, torch.nn.BatchNorm2d)] for r in replicas]
        for layer in zip(*per_replica):
            group = ShardGroup(len(replicas), gate)
            self.groups.append(group)
            for index, module in enumerate(layer):
                module.forward = self._forward_for(module, group, index)  # instance attribute
                self._patched.append(module)

    def _forward_for(self, module: Any, group: ShardGroup, index: int) -> Any:
        plain = type(module).forward
        function = self._function

        def forward(x: Any) -> Any:
            if not module.training:
                return plain(module, x)
            return function.apply(x, module.weight, module.bias, module, group, index)

        return forward

    def abort(self) -> None:
        """Break every barrier: shards waiting for a failed one raise instead of waiting."""
        for group in self.groups:
            group.barrier.abort()

    def reset(self) -> None:
        """Make the barriers usable again after :meth:`abort`."""
        for group in self.groups:
            group.barrier.reset()

    def remove(self) -> None:
        """Give the layers back their own ``forward``."""
        for module in self._patched:
            module.__dict__.pop("forward", None)
        self._patched.clear()
