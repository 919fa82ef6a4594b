"""Self-supervised fitting of a DMS2F-HAD network on the blocks of one scene.

The schedule (number of optimiser steps, batch size, learning rate, corruption) is fixed in
advance per preset and is the same for every scene: nothing here can see ground truth, and the
stopping rule is simply "stop after ``steps`` optimiser steps": an analyst has no labels to
pick an epoch with.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import NullProgress, Progress, check_cancel
from .cpu_threads import parallel_slices
from .oom import FallbackPlan, is_cuda_oom
from .sharded_step import ShardedStep

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitSchedule:
    """How long and how a network is fitted to a scene; fixed in advance per preset.

    Attributes:
        steps: optimiser steps (the stopping rule: no early stopping, no label-based selection).
        batch_size: blocks per step.
        lr: Adam learning rate at the first step.
        lr_final: learning rate at the last step as a fraction of ``lr``; the rate follows a
            cosine from ``lr`` down to ``lr * lr_final`` (1.0: constant).
        weight_decay: Adam weight decay.
        max_blocks: most distinct blocks sampled from a scene (bounds memory on large scenes).
        hole_probability: probability per batch that every block gets one zeroed 3x3 hole.
        shards: equal slices of each batch run on parallel threads on the CPU, batch norm still
            over the whole batch (:mod:`.sharded_step`); the weights do not depend on the number
            of threads. 1: the plain step. A GPU runs the batch whole.
        trim: share of each block's pixels the loss leaves out, those reconstructed worst
            (``models.reconstruction_loss``; 0: none, the presets' value). A robust fit, a
            candidate of ``benchmarks/select_defaults.py``.
        scoring_stride: pixels between the origins of the blocks the preset's models score a
            scene with (:mod:`.blocks`): 8, each interior pixel averages four overlapping
            reconstructions (the reference code's grid); 16, blocks side by side, each pixel
            reconstructed once (a quarter of the scoring work). Not used by the fit itself,
            which samples blocks on the stride-8 grid.
        average: share of the last steps whose weights and batch-norm statistics are averaged
            with equal weight into the returned network (stochastic weight averaging,
            ``torch.optim.swa_utils.AveragedModel``), in ``[0, 1]``; 0: the last step's weights.
            A candidate of ``benchmarks/select_defaults.py``.
    """

    steps: int
    batch_size: int = 32
    lr: float = 5e-4
    lr_final: float = 1.0
    weight_decay: float = 1e-4
    max_blocks: int = 1024
    hole_probability: float = 0.5
    shards: int = 1
    scoring_stride: int = 8
    trim: float = 0.0
    average: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.average <= 1.0:
            raise ValueError(f"average must be in [0, 1], got {self.average}")

    @property
    def averaged_steps(self) -> int:
        """The number of last steps whose weights are averaged (0: none, the last step's)."""
        return min(self.steps, max(1, round(self.average * self.steps))) if self.average else 0


def train_network(
    network,
    blocks: np.ndarray,
    schedule: FitSchedule,
    *,
    seed: int,
    device,
    progress: Progress | None = None,
):
    """Fit ``network`` to reconstruct ``blocks`` (the scene's own, unlabelled blocks).

    Batches walk through seeded permutations of the blocks (epochs); with probability
    ``schedule.hole_probability`` a batch is corrupted with one 3x3 hole per block and the loss
    compares the reconstruction with the clean block (MSE + 0.1 L1, over each block's pixels but
    the schedule's ``trim`` share reconstructed worst). The learning rate follows
    the schedule's fixed cosine (or stays constant). The network of the last step is returned,
    or with ``schedule.average`` the equal average of the weights (and batch-norm statistics)
    after each of the last ``schedule.averaged_steps`` steps: a fixed rule, no checkpoint is
    picked, by loss or otherwise.

    Args:
        network: a ``models.Dms2fHad`` (moved to ``device`` here).
        blocks: normalised training blocks, shape (n, bands, block, block), float32.
        schedule: the fixed fitting schedule.
        seed: seeds the block order, the corruption and the weights' dropout.
        device: torch device to fit on.
        progress: progress sink; cancel is honoured between steps.

    Returns:
        The fitted network, in eval mode.

    Raises:
        InputError: when there are no blocks to fit on.
        CancelledError: when the user cancels.
    """
    import torch
    from torch.optim.swa_utils import AveragedModel

    from ....models import corrupt_blocks

    progress = progress or NullProgress()
    if len(blocks) == 0:
        raise InputError("No valid 16x16 blocks to fit on; the raster has no valid pixels.")
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = network.to(device).train()
    plan = FallbackPlan(schedule.batch_size, device, "fitting")  # CUDA out of memory: split, then CPU
    # The fused Adam (one kernel for all parameters) on the CPU and CUDA; the same update rule.
    optimiser = torch.optim.Adam(network.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay,
                                 fused=torch.device(device).type in ("cpu", "cuda"))
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(1, schedule.steps), eta_min=schedule.lr * schedule.lr_final)
    # Channels-last once, as the network computes: batches are then views the network and the
    # loss use without layout copies.
    nhwc = np.ascontiguousarray(blocks.transpose(0, 2, 3, 1), dtype=np.float32)  # (n, 16, 16, C)
    data = torch.from_numpy(nhwc)  # (n, 16, 16, C)
    order = np.empty(0, dtype=np.int64)
    started = time.perf_counter()
    loss_value = float("nan")
    threads = torch.get_num_threads()
    # A copy that receives the weights of the last steps (before the shards' replicas exist).
    averaged = AveragedModel(network, use_buffers=True) if schedule.averaged_steps else None
    first_averaged = schedule.steps - schedule.averaged_steps
    with parallel_slices(device, schedule.shards, always=True) as parallel:
        # Shards on the CPU only (a GPU runs the batch whole), and never after moving there from
        # a GPU that ran out of memory; at most ``threads`` of them compute at once.
        sharded = ShardedStep(network, parallel, seed=seed, device=device, running=threads,
                              trim=schedule.trim) \
            if parallel > 1 else None
        for step in range(schedule.steps):
            check_cancel(progress)
            if len(order) < schedule.batch_size:
                order = np.concatenate([order, rng.permutation(len(data))])
            take, order = order[: schedule.batch_size], order[schedule.batch_size :]
            clean = data[torch.from_numpy(take)].permute(0, 3, 1, 2)  # (b, C, 16, 16) channels-last
            noisy = corrupt_blocks(clean, generator, p=schedule.hole_probability)  # (b, C, 16, 16)
            while True:
                try:
                    clean_d, noisy_d = clean.to(plan.device), noisy.to(plan.device)  # (b, C, 16, 16)
                    if sharded is None or len(clean) < schedule.shards:  # tiny scenes run whole
                        loss_value = fit_step(network, optimiser, clean_d, noisy_d,
                                              parts=-(-len(clean) // plan.batch_size),
                                              trim=schedule.trim)
                    else:
                        loss_value = sharded(optimiser, clean_d, noisy_d)
                    break
                except (RuntimeError, MemoryError) as exc:
                    if not is_cuda_oom(exc):
                        raise
                    if plan.after_oom() == "cpu":
                        network.to(plan.device)
                        _move_optimiser_state(optimiser, plan.device)
            annealing.step()
            if averaged is not None and step >= first_averaged:
                averaged.update_parameters(network)
            progress.set_progress(100.0 * (step + 1) / schedule.steps)
    if averaged is not None:
        network.load_state_dict(averaged.module.state_dict())
    LOG.info(
        "Fitted %d steps (%d blocks each) in %.1f s (final loss %.5f)%s",
        schedule.steps, schedule.batch_size, time.perf_counter() - started, loss_value,
        f"; weights averaged over the last {schedule.averaged_steps} steps" if averaged is not None else "",
    )
    return network.eval()


def fit_step(network: Any, optimiser: Any, clean: Any, noisy: Any, *, parts: int = 1,
             trim: float = 0.0) -> float:
    """One optimiser step on a batch, its gradient accumulated over ``parts`` slices of it.

    With ``parts`` 1 this is the plain step; more parts use less memory for the same data (the
    batch-norm statistics then come from each slice).

    Args:
        network: the network in training mode.
        optimiser: its optimiser.
        clean: the clean blocks, (b, C, 16, 16).
        noisy: the corrupted blocks fed to the network, same shape.
        parts: slices of the batch, 1 to b.
        trim: the share of each block's pixels the loss leaves out (0: none).

    Returns:
        The batch's loss (MSE + 0.1 L1).
    """
    from ....models import reconstruction_loss

    optimiser.zero_grad(set_to_none=True)
    total = 0.0
    for part_clean, part_noisy in zip(clean.tensor_split(parts), noisy.tensor_split(parts)):
        loss = reconstruction_loss(network(part_noisy), part_clean, trim) \
            * (len(part_clean) / len(clean))
        loss.backward()
        total += float(loss.detach())
    optimiser.step()
    return total


def _move_optimiser_state(optimiser: Any, device: Any) -> None:
    """Move the optimiser's per-parameter state (Adam's moments and step) to ``device``."""
    for state in optimiser.state.values():
        for key, value in state.items():
            if hasattr(value, "to"):
                state[key] = value.to(device)
