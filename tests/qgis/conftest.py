"""Fixtures of the real-QGIS tier: the plugin loaded as QGIS loads it, a small seeded scene, and a
``qgis_process`` runner with a throw-away profile (the user's QGIS profile is never touched).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis_support import QgisProcess, Scene, write_scene


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """The synthetic scene, written once per session (tests never modify it)."""
    return write_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="session")
def dms2f_plugin(qgis_app):
    """The plugin loaded exactly as ``qgis_process`` loads it: ``classFactory(None)`` then
    ``initProcessing()``; the ``dms2f`` provider stays registered for the session."""
    import dms2f_had

    plugin = dms2f_had.classFactory(None)
    plugin.initProcessing()
    yield plugin


@pytest.fixture
def short_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten the "fast" preset's fitting schedule to a few steps for in-process runs.

    The QGIS tier checks the adapters (parameters, progress, files, styles) around a real network
    fit; detection quality of the real schedule is the benchmarks' job, and 120 steps on a shared
    2-core machine take minutes.
    """
    import dataclasses

    from dms2f_had.dms2f_plugin.engine.detectors import fitting as fit

    monkeypatch.setitem(fit.SCHEDULES, "fast", dataclasses.replace(fit.SCHEDULES["fast"], steps=2))


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory: pytest.TempPathFactory) -> QgisProcess:
    """A ``qgis_process`` with DMS2F-HAD enabled from this checkout, in a temporary profile."""
    import dms2f_had

    plugin_path = Path(dms2f_had.__file__).parent.parent  # the folder holding ``dms2f_had/``
    return QgisProcess(tmp_path_factory.mktemp("qgis-profile"), plugin_path)
