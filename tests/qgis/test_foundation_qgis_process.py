"""``qgis_process`` loads the plugin from the checkout and lists the ``dms2f`` algorithms.

The run is "plain": only ``QGIS_PLUGINPATH`` names the plugin folder (``.venv/plugins``, where
``make`` links the checkout as ``dms2f_had``); no PYTHONPATH, no venv on PATH, and a throw-away
profile so the user's own QGIS settings are never touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import qgis_headless  # noqa: E402

PLUGINS = ROOT / ".venv" / "plugins"
ALGORITHMS = ("dms2f:detect_anomalies", "dms2f:threshold_anomalies")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    assert (PLUGINS / "dms2f_had").resolve() == ROOT, "run 'make test' (it links the checkout)"
    env = qgis_headless.headless_env(PLUGINS, tmp_path_factory.mktemp("profile"))
    qgis_headless.enable_plugin(env)
    return env


def test_plugin_is_enabled_in_the_private_profile(env):
    proc = qgis_headless.run(["plugins"], env)
    assert proc.returncode == 0, proc.stdout
    assert any(line.strip() == "* dms2f_had" for line in proc.stdout.splitlines()), proc.stdout


def test_list_shows_dms2f_algorithms(env):
    proc = qgis_headless.run(["list"], env)
    assert proc.returncode == 0, proc.stdout
    for alg in ALGORITHMS:
        assert alg in proc.stdout, proc.stdout[-3000:]


def test_help_of_detect_anomalies(env):
    proc = qgis_headless.run(["help", "dms2f:detect_anomalies"], env)
    assert proc.returncode == 0, proc.stdout
    assert "INPUT" in proc.stdout and "OUTPUT" in proc.stdout


def test_enable_is_idempotent(env):
    qgis_headless.enable_plugin(env)


def test_qgis_python_finds_torch_in_checkout_venv(tmp_path):
    """QGIS's own interpreter (not the venv) loads the plugin and finds torch by itself."""
    code = ("import sys; sys.path.append(sys.argv[1]); import dms2f_had; "
            "from dms2f_had.dms2f_plugin import private_env; a = private_env.activate_private_env(); "
            "import torch, numpy; print(a.action, a.site_packages, numpy.__file__)")
    env = qgis_headless.headless_env(PLUGINS, tmp_path / "profile")
    proc = subprocess.run(["/usr/bin/python3", "-c", code, str(PLUGINS)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    action, site, numpy_file = proc.stdout.split()
    assert action == "appended"
    assert Path(site).resolve() == (ROOT / ".venv" / "lib" / f"python{sys.version_info.major}."
                                    f"{sys.version_info.minor}" / "site-packages").resolve()
    assert numpy_file.startswith("/usr/lib/python3/dist-packages/"), "QGIS's numpy must win"


def test_running_qgis_is_in_the_tested_range_of_the_metadata(qgis_app):
    """metadata.txt states the QGIS versions the suite ran on: a QGIS outside that range is one to
    test first, then to add to the range."""
    from qgis.core import Qgis

    from dms2f_had.dms2f_plugin.metadata import plugin_metadata

    def as_int(version: str) -> int:
        major, minor = (int(x) for x in version.split(".")[:2])
        return major * 10000 + minor * 100

    meta = plugin_metadata()
    running = Qgis.QGIS_VERSION_INT // 100 * 100  # the patch release does not count
    assert as_int(meta["qgisminimumversion"]) <= running <= as_int(meta["qgismaximumversion"]), (
        Qgis.QGIS_VERSION)
