"""One entry point from the plugin's stdlib loggers into QGIS.

The engine and the network log through :mod:`logging` under the plugin's package logger. While a
Processing algorithm runs, :func:`feedback_logging` sends that thread's records to the algorithm's
feedback (the dialog's log panel, ``qgis_process`` output); every other record goes to the QGIS
message log under the tag ``DMS2F-HAD`` once :func:`install` has been called at plugin load.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
from collections.abc import Callable, Iterator

from qgis.core import Qgis, QgsMessageLog, QgsProcessingFeedback

#: Tag of the plugin's tab in the QGIS Log Messages panel.
MESSAGE_LOG_TAG = "DMS2F-HAD"

#: The plugin's root logger: its install name (``dms2f_had``), whatever the folder is called.
PACKAGE_LOGGER_NAME = __name__.split(".")[0]

_FORMAT = "%(message)s"

# Threads that currently run an algorithm with a feedback handler attached (thread id -> nesting
# depth); their records go to the feedback only, not to the message log as well.
_threads_with_feedback: dict[int, int] = {}
_lock = threading.Lock()


def package_logger() -> logging.Logger:
    """Return the logger every module of the plugin logs under."""
    return logging.getLogger(PACKAGE_LOGGER_NAME)


class MessageLogHandler(logging.Handler):
    """Forwards log records to :class:`QgsMessageLog` under :data:`MESSAGE_LOG_TAG`, HTML-escaped."""

    _LEVELS = (
        (logging.ERROR, Qgis.Critical),
        (logging.WARNING, Qgis.Warning),
        (logging.NOTSET, Qgis.Info),
    )

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to the message log unless a running algorithm's feedback takes it."""
        if record.thread in _threads_with_feedback:
            return
        try:
            level = next(qgis_level for py_level, qgis_level in self._LEVELS if record.levelno >= py_level)
            # The Log Messages panel shows messages as HTML: escape them, or pip's
            # "llvmlite<0.51,>=0.50.0dev0" loses the text between < and >.
            QgsMessageLog.logMessage(html.escape(self.format(record), quote=False), MESSAGE_LOG_TAG,
                                     level)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class FeedbackHandler(logging.Handler):
    """Forwards the records of one thread to a Processing feedback, optionally reworded."""

    def __init__(self, feedback: QgsProcessingFeedback, thread_id: int,
                 reword: Callable[[str], str] | None = None) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT))
        self._feedback = feedback
        self._thread_id = thread_id
        self._reword = reword

    def emit(self, record: logging.LogRecord) -> None:
        """Push ``record`` to the feedback as info, warning or (non-fatal) error."""
        if record.thread != self._thread_id:
            return
        try:
            message = self.format(record)
            if self._reword is not None:
                message = self._reword(message)
            if record.levelno >= logging.ERROR:
                self._feedback.reportError(message, False)
            elif record.levelno >= logging.WARNING:
                self._feedback.pushWarning(message)
            else:
                self._feedback.pushInfo(message)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


_message_log_handler: MessageLogHandler | None = None


def install() -> None:
    """Attach the message-log handler to the package logger (idempotent); called at plugin load."""
    global _message_log_handler
    if _message_log_handler is not None:
        return
    _message_log_handler = MessageLogHandler()
    logger = package_logger()
    logger.addHandler(_message_log_handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)


def uninstall() -> None:
    """Detach the message-log handler again; called at plugin unload."""
    global _message_log_handler
    if _message_log_handler is None:
        return
    package_logger().removeHandler(_message_log_handler)
    _message_log_handler = None


@contextlib.contextmanager
def feedback_logging(feedback: QgsProcessingFeedback,
                     reword: Callable[[str], str] | None = None) -> Iterator[None]:
    """Send the current thread's plugin log records to ``feedback`` for the ``with`` block.

    Args:
        feedback: the running algorithm's feedback.
        reword: applied to each message first (the algorithm's words for command-line flags).

    Yields:
        Nothing; on exit the handler is removed and the message log takes the thread's records again.
    """
    thread_id = threading.get_ident()
    handler = FeedbackHandler(feedback, thread_id, reword)
    logger = package_logger()
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    with _lock:
        _threads_with_feedback[thread_id] = _threads_with_feedback.get(thread_id, 0) + 1
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        with _lock:
            depth = _threads_with_feedback.pop(thread_id, 1) - 1
            if depth:
                _threads_with_feedback[thread_id] = depth
