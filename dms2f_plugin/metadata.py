"""Read the plugin's ``metadata.txt``, the single source of truth for its name and version.

QGIS-free (standard library only), so the CLI, the packaging script and the tests all see the
same values QGIS shows in its Plugin Manager.
"""

from __future__ import annotations

import configparser
from functools import cache
from pathlib import Path

#: ``metadata.txt`` at the plugin root (one folder above this package).
METADATA_PATH = Path(__file__).resolve().parent.parent / "metadata.txt"


def plugin_metadata(path: Path = METADATA_PATH) -> dict[str, str]:
    """Return the ``[general]`` section of ``metadata.txt`` as a plain dict.

    Args:
        path: the metadata file; defaults to the plugin's own.

    Returns:
        Field name -> value, multi-line values (``about``) joined with newlines.

    Raises:
        FileNotFoundError: when the file does not exist.
        KeyError: when it has no ``[general]`` section.
    """
    return dict(_read(Path(path)))


@cache
def _read(path: Path) -> tuple[tuple[str, str], ...]:
    """Parse ``path`` once; an immutable result so callers cannot change the cached copy."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    if not parser.has_section("general"):
        raise KeyError(f"{path} has no [general] section; QGIS needs one")
    return tuple(parser.items("general"))


def plugin_version() -> str:
    """Return the plugin version from ``metadata.txt`` (e.g. ``"0.1.0"``)."""
    return plugin_metadata()["version"]


def plugin_name() -> str:
    """Return the human-readable plugin name from ``metadata.txt``."""
    return plugin_metadata()["name"]
