"""A tiny QGIS-free progress and cancellation protocol.

The QGIS layer adapts ``QgsProcessingFeedback`` to it; the CLI adapts a terminal progress bar.
Engine loops call :meth:`Progress.set_progress` once per tile and :func:`check_cancel` before
each tile, so a cancel is honoured within one tile.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .errors import CancelledError


@runtime_checkable
class Progress(Protocol):
    """What the engine needs from whoever runs it."""

    def set_progress(self, percent: float) -> None:
        """Report overall progress in percent (0 to 100)."""

    def is_canceled(self) -> bool:
        """Return True once the user asked to stop."""


class NullProgress:
    """Progress sink that ignores everything and never cancels."""

    def set_progress(self, percent: float) -> None:  # noqa: D102 - protocol method
        pass

    def is_canceled(self) -> bool:  # noqa: D102 - protocol method
        return False


class SubProgress:
    """Maps 0..100 of a sub-task onto ``[start, end]`` of a parent :class:`Progress`."""

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        self._parent = parent
        self._start = start
        self._span = end - start

    def set_progress(self, percent: float) -> None:  # noqa: D102 - protocol method
        self._parent.set_progress(self._start + self._span * max(0.0, min(100.0, percent)) / 100.0)

    def is_canceled(self) -> bool:  # noqa: D102 - protocol method
        return self._parent.is_canceled()


def check_cancel(progress: Progress) -> None:
    """Raise :class:`CancelledError` if the user asked to stop.

    Args:
        progress: the run's progress sink.

    Raises:
        CancelledError: when ``progress.is_canceled()`` is true.
    """
    if progress.is_canceled():
        raise CancelledError("Cancelled by the user; no output was written.")
