"""Shared fixtures for both test tiers.

Tests import the plugin as QGIS does, under its install name ``dms2f_had`` (the Makefile links the
checkout into ``.venv/plugins/dms2f_had`` and puts that folder on the venv's path), so nothing
depends on the name of the folder the repository was cloned into.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def had_data_dir() -> Path:
    """Folder of the real benchmark scenes (``../shared/data/had`` beside the checkout).

    ``DMS2F_HAD_DATA`` overrides it. The scenes are used from there, never copied.
    """
    override = os.environ.get("DMS2F_HAD_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data" / "had"


@pytest.fixture(scope="session")
def had_dir() -> Path:
    """The benchmark scene folder; fails (not skips) when it is missing, since CI always has it."""
    path = had_data_dir()
    assert path.is_dir(), f"benchmark scenes not found at {path}; set DMS2F_HAD_DATA"
    return path


@pytest.fixture(scope="session")
def qgis_app():
    """A real, headless QgsApplication with Processing initialised, shared by the QGIS tier."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import sys

    from qgis.core import QgsApplication

    plugins = "/usr/share/qgis/python/plugins"
    if plugins not in sys.path:
        sys.path.append(plugins)
    app = QgsApplication([], False)
    app.initQgis()
    import processing  # noqa: F401 - needs the app first
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    # exitQgis() at interpreter end can crash some QGIS builds after torch loads; leave teardown
    # to process exit, which is what qgis_process does too.


TIERS = ("unit", "integration", "qgis", "gpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the name of the folder it lives in (tests/<tier>/...)."""
    for item in items:
        tier = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A GPU test without a usable CUDA device fails loudly instead of skipping."""
    if item.get_closest_marker("gpu") is None:
        return
    try:
        import torch
    except ImportError:
        pytest.fail("the gpu tier needs torch with CUDA; this environment has no torch")
    if not torch.cuda.is_available():
        pytest.fail(f"the gpu tier needs a CUDA GPU, and torch {torch.__version__} sees none "
                    f"(torch.version.cuda = {torch.version.cuda}); run it on a CUDA machine")
