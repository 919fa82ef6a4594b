"""Errors raised on purpose by the network package; every message names the value and the fix.

The engine catches :class:`ModelError` (or re-raises it under its own root); this package never
imports the engine.
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of the deliberate errors of ``models``."""


class ConfigError(ModelError, ValueError):
    """Invalid network sizes or an unknown preset."""


class ModelFileError(ModelError, ValueError):
    """A model file that is not a readable, safe model file of this plugin."""


class BandMismatchError(ModelFileError):
    """A model fitted on a different number of bands than the raster has."""
