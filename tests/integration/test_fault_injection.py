"""Fault injection through the real command line: a full disk, a file-size limit, signals, another user.

Every case asserts the exit status, the ONE ``dms2f-had: error:`` line and what it names, that no
temporary file (or backup, or SQLite journal) is left, and that the files already at the output
paths are intact byte for byte. A run that writes several outputs (score + model, mask +
polygons, cube + ground truth) publishes all of them or none.

The full disk is a real tmpfs where this machine lets the tests mount one (root); the file-size
limit (``RLIMIT_FSIZE``: writes past it fail with EFBIG) needs no privilege and drives the same
code, so the guarantees are tested everywhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from engine_fixtures import synthetic_scene, write_geotiff
from fault_support import (
    can_mount,
    can_switch_user,
    cli,
    error_lines,
    fill,
    leftovers,
    popen_cli,
    small_tmpfs,
)

pytestmark = pytest.mark.slow
OLD = {"score.tif": b"OLD SCORE " * 50, "model.safetensors": b"OLD MODEL " * 30,
       "mask.tif": b"OLD MASK " * 20, "det.gpkg": b"OLD POLYGONS " * 20,
       "cube.tif": b"OLD CUBE " * 40, "gt.tif": b"OLD GT " * 10}
MODES = [False, True]
MODE_IDS = ["exceptions-off", "exceptions-on"]


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A 600 x 600 x 8 float32 raster (11 MB): its score does not fit in the small disks."""
    rng = np.random.default_rng(0)
    cube = (rng.random((8, 600, 600), dtype=np.float32) * 1000.0).astype(np.float32)
    return write_geotiff(tmp_path_factory.mktemp("big") / "big.tif", cube)


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    """A 400 x 400 x 12 float32 raster: enough bands for DMS2F, a score larger than 256 KiB."""
    rng = np.random.default_rng(2)
    cube = (rng.random((12, 400, 400), dtype=np.float32) * 1000.0).astype(np.float32)
    return write_geotiff(tmp_path_factory.mktemp("wide") / "wide.tif", cube)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 64 x 64 x 12 scene: a small score, a DMS2F model of several hundred kB."""
    cube, _ = synthetic_scene(bands=12, height=64, width=64)
    return write_geotiff(tmp_path_factory.mktemp("small") / "small.tif", cube)


@pytest.fixture(scope="module")
def scene_mat(tmp_path_factory) -> Path:
    """A 120 x 120 x 40 benchmark-style .mat scene with a ground truth."""
    rng = np.random.default_rng(1)
    cube = rng.random((120, 120, 40)).astype(np.float32)  # (rows, cols, bands)
    truth = np.zeros((120, 120), np.uint8)
    truth[50:53, 60:63] = 1
    path = tmp_path_factory.mktemp("mat") / "scene.mat"
    scipy.io.savemat(path, {"data": cube, "map": truth})
    return path


@pytest.fixture
def full_disk(tmp_path):
    """A mounted tmpfs factory (skips, with the reason, where this machine cannot mount one)."""
    reason = can_mount()
    if reason:
        pytest.skip(f"no real full disk here ({reason}); the RLIMIT_FSIZE cases cover the code")
    mounts = []

    def make(size_kib: int) -> Path:
        context = small_tmpfs(tmp_path / f"disk{len(mounts)}", size_kib)
        try:
            folder = context.__enter__()
        except OSError as exc:
            pytest.skip(f"no real full disk here ({exc}); the RLIMIT_FSIZE cases cover the code")
        mounts.append(context)
        return folder

    yield make
    for context in reversed(mounts):
        context.__exit__(None, None, None)


def _old(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(OLD[name])


def _assert_clean_failure(done: subprocess.CompletedProcess, folder: Path, words: str,
                          *kept: str, code: int = 1) -> str:
    lines = error_lines(done.stderr)
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("dms2f-had: error: "), done.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "ERROR 1" not in done.stderr, done.stderr
    assert leftovers(folder) == [], leftovers(folder)
    for name in kept:
        assert (folder / name).read_bytes() == OLD[name], name
    return lines[0]


# -- a full disk (real tmpfs) -------------------------------------------------------------------

@pytest.mark.parametrize("exceptions", MODES, ids=MODE_IDS)
def test_full_disk_while_writing_a_score(full_disk, big, exceptions):
    disk = full_disk(1024)
    _old(disk, "score.tif")
    done = cli(["detect", str(big), str(disk / "score.tif"), "--method", "rx"],
               exceptions=exceptions)
    line = _assert_clean_failure(done, disk, "No space left on device while writing", "score.tif")
    assert "the previous file was kept" in line and ".tmp" not in line


@pytest.mark.parametrize("options", [["--local-window", "31"], []], ids=["square", "default"])
def test_full_disk_in_the_intermediate_passes_keeps_the_old_file(full_disk, wide, options):
    """DMS2F with its background correction writes the tiles' scores to a temporary raster
    beside the output first, and the default's fusion with RX two maps: a full disk in any
    pass is the same one clear line naming the user's file, and nothing is left."""
    disk = full_disk(256)  # less than one 400 x 400 float32 score
    _old(disk, "score.tif")
    done = cli(["detect", str(wide), str(disk / "score.tif"), "--steps", "2", *options])
    line = _assert_clean_failure(done, disk, "No space left on device while writing", "score.tif")
    assert sorted(p.name for p in disk.iterdir()) == ["score.tif"], line  # no temporary folder
    maps, count = (("the score and its temporary map", 2) if options
                   else ("the score and its 3 temporary maps", 4))
    needed = count * 400 * 400 * 4 / 2**20  # float32 maps of the raster's size
    assert f"{maps} need up to {needed:.1f} MiB" in done.stderr  # said before the fit
    if options:  # the first pass fails: the line says which scores
        assert f"'{disk / 'score.tif'}' (its scores before the background correction)" in line
    assert "the previous file was kept" in line
    assert ".dms2f-scores" not in line and ".dms2f-fusion" not in line
    assert "Not published either" not in line  # the temporary maps are not the user's outputs


def test_disk_already_full(full_disk, big):
    disk = full_disk(1024)
    _old(disk, "score.tif")
    fill(disk, leave_kib=4)
    done = cli(["detect", str(big), str(disk / "score.tif"), "--method", "rx"])
    _assert_clean_failure(done, disk, "No space left on device while writing", "score.tif")


def test_full_disk_keeps_both_mask_and_polygons(full_disk, big, tmp_path):
    score = tmp_path / "score.tif"
    assert cli(["detect", str(big), str(score), "--method", "rx"]).returncode == 0
    disk = full_disk(3072)
    _old(disk, "mask.tif", "det.gpkg")
    done = cli(["threshold", str(score), str(disk / "mask.tif"), "--method", "percentile",
                "--value", "60", "--vector", str(disk / "det.gpkg")])
    _assert_clean_failure(done, disk, "No space left on device while writing", "mask.tif",
                          "det.gpkg")


def test_full_disk_keeps_both_cube_and_ground_truth(full_disk, scene_mat):
    disk = full_disk(1024)
    _old(disk, "cube.tif", "gt.tif")
    done = cli(["import-mat", str(scene_mat), str(disk / "cube.tif"), str(disk / "gt.tif")])
    _assert_clean_failure(done, disk, "No space left on device while writing", "cube.tif",
                          "gt.tif")


def test_full_disk_while_saving_the_model_publishes_neither(full_disk, small):
    disk = full_disk(256)  # room for the score (tens of kB), not for the model (hundreds of kB)
    _old(disk, "score.tif", "model.safetensors")
    done = cli(["detect", str(small), str(disk / "score.tif"), "--steps", "2", "--device", "cpu",
                "--save-model", str(disk / "model.safetensors")])
    _assert_clean_failure(done, disk, "No space left on device while writing", "score.tif",
                          "model.safetensors")
    line = error_lines(done.stderr)[0]
    assert "model.safetensors" in line
    assert line.endswith(f"Not published either (a run's outputs go together): "
                         f"'{disk / 'score.tif'}' (the previous file was kept).")


# -- a file-size limit (RLIMIT_FSIZE; no privilege needed) ---------------------------------------

@pytest.mark.parametrize("exceptions", MODES, ids=MODE_IDS)
def test_file_size_limit_while_writing_a_score(big, tmp_path, exceptions):
    _old(tmp_path, "score.tif")
    done = cli(["detect", str(big), str(tmp_path / "score.tif"), "--method", "rx"],
               exceptions=exceptions, file_limit=200_000)
    _assert_clean_failure(done, tmp_path, "File too large while writing", "score.tif")


def test_file_size_limit_on_the_model_publishes_neither_score_nor_model(small, tmp_path):
    _old(tmp_path, "score.tif", "model.safetensors")
    done = cli(["detect", str(small), str(tmp_path / "score.tif"), "--steps", "2",
                "--device", "cpu", "--save-model", str(tmp_path / "model.safetensors")],
               file_limit=150_000)
    line = _assert_clean_failure(done, tmp_path, "File too large while writing", "score.tif",
                                 "model.safetensors")
    assert "model.safetensors" in line


def test_file_size_limit_on_polygons_and_import(big, scene_mat, tmp_path):
    score = tmp_path / "in" / "score.tif"
    score.parent.mkdir()
    assert cli(["detect", str(big), str(score), "--method", "rx"]).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    _old(out, "mask.tif", "det.gpkg", "cube.tif", "gt.tif")
    done = cli(["threshold", str(score), str(out / "mask.tif"), "--method", "percentile",
                "--value", "60", "--vector", str(out / "det.gpkg")], file_limit=400_000)
    _assert_clean_failure(done, out, "File too large while writing", "mask.tif", "det.gpkg")
    done = cli(["import-mat", str(scene_mat), str(out / "cube.tif"), str(out / "gt.tif")],
               file_limit=200_000)
    _assert_clean_failure(done, out, "File too large while writing", "cube.tif", "gt.tif")


# -- SIGTERM and SIGINT in the middle of a write ------------------------------------------------

def _wait_for_temporary(folder: Path, proc: subprocess.Popen, stem: str) -> None:
    """Poll until the run has a temporary output file open (it is then writing tiles)."""
    while not any(p.name.startswith(f".{stem}.") for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)


@pytest.mark.parametrize("signum, code, words", [
    (signal.SIGTERM, 143, "terminated by SIGTERM; unfinished outputs were removed"),
    (signal.SIGINT, 130, "interrupted; no output was written"),
], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_write_leaves_no_temporary_file(big, tmp_path, signum, code, words):
    _old(tmp_path, "score.tif")
    # 16-pixel tiles keep the run writing for seconds after its temporary file appears: on a
    # loaded machine (Debian 13, full suite) a 64-pixel run once exited 0 after the signal, most
    # likely because the signal came as it finished (not reproduced in isolation, 5 of 5 runs).
    proc = popen_cli(["detect", str(big), str(tmp_path / "score.tif"), "--method", "lrx",
                      "--tile-size", "16"])
    _wait_for_temporary(tmp_path, proc, "score")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=300)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    _assert_clean_failure(done, tmp_path, words, "score.tif", code=code)


@pytest.fixture
def slow_scene(tmp_path) -> Path:
    """A 400 x 400 x 8 .mat scene: local RX takes seconds on it."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "scenes"
    folder.mkdir()
    scipy.io.savemat(folder / "slow.mat", {"data": rng.random((400, 400, 8)).astype(np.float32),
                                           "map": np.eye(400, dtype=np.uint8)})
    return folder / "slow.mat"


def _wait_for_worker_output(scratch: Path, proc: subprocess.Popen) -> None:
    """Poll until a bench worker is writing its score under ``scratch`` (its TMPDIR)."""
    while not any(p.name.startswith(".score.") for d in scratch.iterdir() if d.is_dir()
                  for p in d.iterdir()):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)


@pytest.mark.parametrize("target", ["worker", "bench"])
def test_sigterm_stops_the_bench_and_its_worker_leaving_no_files(slow_scene, tmp_path, target):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    if target == "worker":
        command = [sys.executable, "-m", "dms2f_had.dms2f_plugin.engine.app.bench", "--worker",
                   str(slow_scene), "lrx", "fast", "0", "0", "0", "0"]
        last = "dms2f-had bench worker: terminated by SIGTERM; its files were removed."
    else:
        command = [sys.executable, "-m", "dms2f_had.dms2f_plugin.engine.app.cli", "bench",
                   "--scenes", str(slow_scene.parent), "--methods", "lrx"]
        last = "dms2f-had: error: terminated by SIGTERM; unfinished outputs were removed, " \
               "existing files were kept."
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    _wait_for_worker_output(scratch, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == last
    assert "Traceback" not in stderr
    assert list(scratch.iterdir()) == []


# -- an unprivileged user: sticky folder, read-only file, unwritable folder ----------------------

@pytest.fixture
def shared_folder(small):
    """A folder under the system's temporary folder that every user can reach, with a
    world-readable copy of the input (pytest's own folders stay private to root)."""
    reason = can_switch_user("nobody")
    if reason:
        pytest.skip(f"cannot run as an unprivileged user here ({reason})")
    base = Path(tempfile.mkdtemp(prefix="dms2f-shared-"))
    base.chmod(0o755)
    image = base / "in.tif"
    image.write_bytes(small.read_bytes())
    image.chmod(0o644)
    yield base, image
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("case", ["sticky folder", "read-only file", "unwritable folder"])
def test_a_destination_nobody_may_replace_is_refused_before_any_work(shared_folder, case):
    base, image = shared_folder
    folder = base / case.replace(" ", "-")
    folder.mkdir()
    target = folder / "score.tif"
    target.write_bytes(OLD["score.tif"])
    if case == "sticky folder":  # like /tmp: anyone may create, only the owner may replace
        folder.chmod(0o1777)
        target.chmod(0o666)  # writable by all: only the sticky bit stops the final rename
        words = "belongs to another user, and its folder has the sticky bit"
    elif case == "read-only file":
        folder.chmod(0o777)
        target.chmod(0o444)
        words = "already exists and is read-only"
    else:
        folder.chmod(0o755)
        words = "Cannot write into the folder"
    done = cli(["detect", str(image), str(target), "--method", "rx"], user="nobody", cwd=base)
    line = _assert_clean_failure(done, folder, words, "score.tif")
    assert "Nothing was computed" in line or case == "unwritable folder"
    assert "wrote" not in done.stdout
