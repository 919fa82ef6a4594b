"""What happens when CUDA runs out of memory: smaller batches first, then the CPU, said in the log.

Fitting, calibration and scoring all run their GPU work through :func:`run_with_fallback`: on a
CUDA out-of-memory error the work is retried with half the batch, down to one block; if even that
fails, the network moves to the CPU and the work continues there with the first batch size, with
one warning in the log. On the CPU itself an out-of-memory error is not retried.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from ..errors import InputError

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


def is_cuda_oom(exc: BaseException) -> bool:
    """True for torch's CUDA out-of-memory error (also as a plain RuntimeError of older torch)."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc)


class FallbackPlan:
    """The sequence of retries after out-of-memory errors, for one piece of work.

    Attributes:
        batch_size: the batch to try next.
        device: the torch device to run on next.
    """

    def __init__(self, batch_size: int, device: Any, what: str) -> None:
        """Start with ``batch_size`` blocks on ``device``; ``what`` names the work in messages."""
        import torch

        self.first_batch = self.batch_size = max(1, int(batch_size))
        self.device = torch.device(device)
        self.what = what

    def after_oom(self) -> str:
        """Advance after an out-of-memory error; return ``"smaller"`` or ``"cpu"``.

        Raises:
            InputError: out of memory on the CPU, or at one block on the CPU.
        """
        import torch

        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            if self.batch_size > 1:
                self.batch_size //= 2
                LOGGER.warning("CUDA out of memory while %s; retrying with %d block(s) at a time",
                               self.what, self.batch_size)
                return "smaller"
            self.device, self.batch_size = torch.device("cpu"), self.first_batch
            LOGGER.warning("CUDA out of memory while %s even with one block at a time; continuing "
                           "on the CPU (slower). Close other GPU programs to keep the GPU.", self.what)
            return "cpu"
        raise InputError(f"Out of memory on the CPU while {self.what}; close other programs, or "
                         "use a smaller tile size or fewer bands.")


def run_with_fallback(fn: Callable[[int, Any], T], batch_size: int, device: Any, *,
                      what: str, on_cpu: Callable[[], None] | None = None) -> tuple[T, int, Any]:
    """Call ``fn(batch_size, device)``, falling back after CUDA out-of-memory errors.

    Args:
        fn: the work, parameterised by its batch size and device.
        batch_size: the first batch size to try.
        device: the first device.
        what: the work, for messages ("scoring", "calibrating the score").
        on_cpu: called once before the work moves to the CPU (to move the network there).

    Returns:
        What ``fn`` returned, and the batch size and device it finally ran with (keep them for
        the next piece of the same work).

    Raises:
        InputError: out of memory on the CPU.
    """
    plan = FallbackPlan(batch_size, device, what)
    while True:
        try:
            return fn(plan.batch_size, plan.device), plan.batch_size, plan.device
        except (RuntimeError, MemoryError) as exc:
            if not is_cuda_oom(exc):
                raise
            if plan.after_oom() == "cpu" and on_cpu is not None:
                on_cpu()
