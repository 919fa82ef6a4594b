"""Without torch, QGIS still loads the provider, the DMS2F algorithms say what to install, and RX,
thresholding and evaluation keep working.

The plugin is copied (without the checkout's ``.venv``) into a temporary plugin folder and run by
``qgis_process`` with a temporary home, so no private environment holds torch: this is what an
analyst sees right after installing the zip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from qgis_support import ROOT, QgisProcess

pytestmark = pytest.mark.slow

NOT_COPIED = (".venv", ".git", "build", "tests", "benchmarks", "__pycache__", ".pytest_cache")


@pytest.fixture(scope="module")
def torchless(tmp_path_factory) -> QgisProcess:
    home = tmp_path_factory.mktemp("home")
    plugins = tmp_path_factory.mktemp("plugins")
    shutil.copytree(ROOT, plugins / "dms2f_had", ignore=shutil.ignore_patterns(*NOT_COPIED))
    runner = QgisProcess(tmp_path_factory.mktemp("profile"), plugins)
    runner.env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
    return runner


def test_dms2f_algorithms_name_the_missing_packages_and_the_fix(torchless, scene, tmp_path):
    out = tmp_path / "score.tif"
    done = torchless("run", "dms2f:detect_anomalies", "--", f"INPUT={scene.cube}", f"OUTPUT={out}")
    assert done.returncode != 0
    assert "not installed: torch" in done.stdout
    assert "deps.py install" in done.stdout and "Install Python dependencies" in done.stdout
    assert "Traceback" not in done.stdout and not out.exists()


def test_campaigns_name_dask_and_distributed_and_the_fix(torchless, scene, tmp_path):
    done = torchless("run", "dms2f:detect_many", "--", f"INPUTS={scene.cube}", "METHOD=1",
                     f"OUTPUT_FOLDER={tmp_path / 'out'}")
    assert done.returncode != 0
    assert "not installed: dask, distributed" in done.stdout
    assert "deps.py install" in done.stdout and "Traceback" not in done.stdout
    assert not (tmp_path / "out").exists()


def test_rx_threshold_and_evaluate_still_work(torchless, scene, tmp_path):
    score, mask, gpkg, report = (tmp_path / n for n in ("s.tif", "m.tif", "d.gpkg", "r.html"))
    torchless.run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    result = torchless.run("dms2f:threshold_anomalies", {"INPUT": score, "OUTPUT": mask,
                                                          "DETECTIONS": gpkg})
    assert result["results"]["COUNT"] > 0
    result = torchless.run("dms2f:evaluate_detection", {"INPUT": score, "GROUND_TRUTH": scene.truth,
                                                        "OUTPUT": report})
    assert result["results"]["AUC"] > 0.95
    assert Path(report).is_file()
