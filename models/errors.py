"""Errors raised on purpose by the network package; every message names the value and the fix.

The engine catches :class:`ModelError` and re-raises it under its own root (the engine's
``ModelFileError`` wraps :class:`CheckpointError`); this package never imports the engine.
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of the deliberate errors of ``models``."""


class ConfigError(ModelError, ValueError):
    """Invalid network sizes or an unknown preset."""


class CheckpointError(ModelError, ValueError):
    """A model file that is not a readable, safe model file of this plugin."""


class BandMismatchError(CheckpointError):
    """A model fitted on a different number of bands than the raster has."""
