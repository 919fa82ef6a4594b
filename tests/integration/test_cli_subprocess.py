"""The dms2f-had command line as a real subprocess: output on success, one error line on failure."""

from __future__ import annotations

import subprocess
import sys

import pytest
from engine_fixtures import synthetic_scene, write_geotiff


@pytest.fixture
def scene(tmp_path):
    cube, gt = synthetic_scene(bands=6, height=20, width=22)
    return write_geotiff(tmp_path / "scene.tif", cube), write_geotiff(tmp_path / "gt.tif", gt)


def test_subprocess_run(scene, tmp_path):
    image, gt = scene
    base = [sys.executable, "-m", "dms2f_had.dms2f_plugin.engine.app.cli"]
    ok = subprocess.run(base + ["detect", str(image), str(tmp_path / "s.tif"), "--method", "lrx",
                                "--inner-window", "3", "--outer-window", "9"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "wrote" in ok.stdout and (tmp_path / "s.tif").exists()
    bad = subprocess.run(base + ["detect", str(image), str(image), "--method", "rx"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("dms2f-had: error: ") and "is the input file" in bad.stderr


def test_a_reader_that_leaves_early_ends_the_run_quietly(scene, tmp_path):
    """`dms2f-had ... | head -1`: the pipe is closed before the `wrote` line; no internal error."""
    image, _ = scene
    out = tmp_path / "rx.tif"
    run = subprocess.Popen([sys.executable, "-m", "dms2f_had.dms2f_plugin.engine.app.cli", "detect",
                            str(image), str(out), "--method", "rx"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.stdout.close()  # the reader has gone before the first line
    stderr = run.stderr.read()
    assert run.wait(timeout=120) == 141 and "error" not in stderr  # (the no-CRS warning stays)
    assert out.exists()  # the map was complete before the line that could not be printed
