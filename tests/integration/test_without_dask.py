"""Without dask and distributed the engine still imports and runs single scenes and serial
campaigns; asking for a cluster is one clear line naming the install command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cluster_support import write_scenes

#: Runs the CLI in a fresh interpreter where importing dask or distributed fails.
HIDE_DASK = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Hide())
from dms2f_had.dms2f_plugin.engine.app.cli import main
code = main(sys.argv[1:])
assert "dask" not in sys.modules and "distributed" not in sys.modules, "dask was imported"
raise SystemExit(code)
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("nodask"), 1)[0]


def run(*args: str) -> subprocess.CompletedProcess:
    # GDAL >= 3.9 warns once per process about its exception mode: not ours to count.
    return subprocess.run([sys.executable, "-W", "ignore::FutureWarning", "-c", HIDE_DASK, *args],
                          capture_output=True,
                          text=True, timeout=600, check=False)


def test_single_scene_and_serial_campaign_run_without_dask(scene, tmp_path):
    done = run("detect", str(scene), str(tmp_path / "s.tif"), "--method", "rx")
    assert done.returncode == 0, done.stderr
    serial = run("batch", str(scene), "-o", str(tmp_path / "c"), "--method", "rx", "--serial")
    assert serial.returncode == 0, serial.stderr
    assert (tmp_path / "c" / "scene0_score.tif").is_file()


@pytest.mark.parametrize("extra", [["batch", "-o", "OUT"], ["detect", "OUT/x.tif", "--workers",
                                                             "2"]])
def test_cluster_without_dask_is_one_line_with_the_install_command(scene, tmp_path, extra):
    args = [a.replace("OUT", str(tmp_path)) for a in extra]
    proc = run(args[0], str(scene), *args[1:], "--method", "rx")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("dms2f-had: error: Running on a Dask cluster needs the Python "
                               "packages dask and distributed")
    assert "requirements.txt" in lines[0] and "deps.py install" in lines[0]
    assert not list(tmp_path.glob("*.tif"))
