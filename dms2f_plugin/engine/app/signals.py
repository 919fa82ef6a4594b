"""SIGTERM handled like Ctrl-C: the run stops, unfinished outputs are removed, one line is printed.

``timeout``, systemd and batch schedulers stop a program with SIGTERM, whose default action kills
the process on the spot, leaving temporary files behind. :func:`terminate_gracefully` turns it
into a :class:`Terminated` exception in the main thread, which unwinds through the writers exactly
like ``KeyboardInterrupt`` (removing every temporary file, leaving existing outputs untouched);
the front end then prints one line and exits with 128 + 15 = 143, as a shell reports a process
ended by SIGTERM. Only the command line and the benchmark install it; QGIS keeps its own handling.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: Exit status after SIGINT (Ctrl-C) and SIGTERM: 128 + the signal number, as shells report.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM
#: Exit status when the reader of standard output has gone (``| head -1``): 128 + SIGPIPE (13 on
#: POSIX), as a tool killed by SIGPIPE reports; Python ignores the signal and raises instead.
EXIT_SIGPIPE = 128 + 13


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """Raised in the main thread when the process receives SIGTERM.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that ``except Exception`` blocks let it
    through to the cleanup code and the front end.
    """


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated


@contextlib.contextmanager
def terminate_gracefully() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
