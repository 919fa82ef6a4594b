"""Engine messages in the words of the QGIS dialog instead of the command line's.

The engine's errors name command-line flags (``--bands``), internal names (``local_window``) and
``dms2f-had`` subcommands, because its first front end is the CLI. Shown in QGIS, those become the
labels of the running algorithm's parameters and the names of the Processing algorithms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Whole phrases that read badly when only the flag is replaced.
_PHRASES = (
    ("or use --device cpu / auto", "or choose CPU or Auto as {DEVICE}"),
    ("or use --device cpu", "or choose CPU as {DEVICE}"),
    ("pass --value X", "set {VALUE}"),
)

#: Command-line subcommands -> the Processing algorithms that do the same.
_COMMANDS = (
    ("'dms2f-had detect'", "'Detect anomalies (DMS2F-HAD)' or 'RX anomaly detector'"),
    ("'dms2f-had fit'", "'Detect anomalies (DMS2F-HAD)' with 'Save fitted model'"),
    ("dms2f-had import-mat", "'Import benchmark scene (.mat)'"),
)

#: Labels of parameters a message may name that the running algorithm does not have.
FALLBACK_LABELS = {
    "BANDS": "Bands",
    "DEVICE": "Device",
    "TILE_SIZE": "Tile size (pixels)",
    "LOCAL_WINDOW": "Local background window (pixels, odd; empty = automatic, 0 = off)",
    "THREADS": "CPU threads (0 = all cores)",
    "STEPS": "Fitting steps (0: the preset's)",
    "SAVE_MODEL": "Save fitted model",
    "VALUE": "Threshold value",
    "INNER_WINDOW": "Inner (guard) window, pixels (local RX)",
    "OUTER_WINDOW": "Outer (background) window, pixels (local RX)",
}

_FLAG = re.compile(r"--([a-z][a-z-]*)")
_INTERNAL = re.compile(r"\b(local_window|tile_size|threads|steps)\b(?= (?:must|is|\d))")


def qgis_words(message: str, labels: Mapping[str, str]) -> str:
    """``message`` with flags, internal names and subcommands in QGIS's words.

    Args:
        message: an engine error message.
        labels: parameter name (``TILE_SIZE``) -> its label in the running algorithm's dialog.

    Returns:
        The message with ``--tile-size`` and ``tile_size`` as ``'Tile size (pixels)'`` and
        ``'dms2f-had detect'`` as the algorithms' names.
    """
    known = {**FALLBACK_LABELS, **labels}

    def label(name: str) -> str:
        key = name.upper().replace("-", "_")
        return f"'{known[key]}'" if key in known else name

    for phrase, replacement in _PHRASES:
        message = message.replace(phrase, replacement.format(
            DEVICE=label("device"), VALUE=label("value")))
    for command, algorithms in _COMMANDS:
        message = message.replace(command, algorithms)
    message = _FLAG.sub(lambda match: label(match.group(1)), message)
    return _INTERNAL.sub(lambda match: label(match.group(1)), message)
