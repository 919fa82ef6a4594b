"""The reliability guarantees inside QGIS: processing.run and qgis_process on a full disk, hostile
model files, and the engine's bounds refusing values before the run starts.

The full disk is a real tmpfs (skipped, with the reason, where this machine cannot mount one).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from fault_support import can_mount, fill, leftovers, small_tmpfs
from hostile_models import mutated, write_valid_model

pytestmark = pytest.mark.usefixtures("dms2f_plugin")
OLD = b"OLD SCORE, kept byte for byte " * 10


def run(algorithm: str, parameters: dict) -> dict:
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return processing.run(algorithm, parameters, feedback=QgsProcessingFeedback(), context=context)


def failure(algorithm: str, parameters: dict) -> str:
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as info:
        run(algorithm, parameters)
    return str(info.value)


def check(algorithm: str, parameters: dict) -> tuple[bool, str]:
    """The algorithm's own ``checkParameterValues`` (what the dialog runs before starting)."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProject

    alg = QgsApplication.processingRegistry().createAlgorithmById(algorithm)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return alg.checkParameterValues(parameters, context)


@pytest.fixture
def disk(tmp_path):
    reason = can_mount()
    if reason:
        pytest.skip(f"no real full disk here ({reason})")
    try:
        with small_tmpfs(tmp_path / "disk", 64) as folder:
            yield folder
    except OSError as exc:
        pytest.skip(f"no real full disk here ({exc})")


def test_full_disk_fails_the_algorithm_and_keeps_the_old_file(scene, disk):
    out = disk / "score.tif"
    out.write_bytes(OLD)
    fill(disk, leave_kib=8)
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(out)})
    assert "No space left on device while writing" in message and "previous file was kept" in message
    assert "This is a bug" not in message and "\n" not in message
    assert out.read_bytes() == OLD and leftovers(disk) == []
    assert not out.with_suffix(".qml").exists()


def test_a_style_that_does_not_fit_is_written_whole_or_not_at_all(scene, disk, tmp_path):
    from dms2f_had.dms2f_plugin.engine.errors import OutputError
    from dms2f_had.dms2f_plugin.qgis.styling import OutputKind, write_sidecar

    score = tmp_path / "score.tif"
    run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(score)})
    shutil.copyfile(score, disk / "score.tif")
    (disk / "score.qml").write_bytes(b"<old style/>")
    fill(disk, leave_kib=0)
    with pytest.raises(OutputError, match="No space left on device while writing .*score.qml"):
        write_sidecar(str(disk / "score.tif"), OutputKind.SCORE)
    assert (disk / "score.qml").read_bytes() == b"<old style/>" and leftovers(disk) == []


def test_a_hostile_model_is_one_clear_message(scene, tmp_path):
    valid = write_valid_model(tmp_path / "valid.safetensors")
    hostile = mutated(valid, tmp_path / "nan.safetensors",
                      lambda header: header["metadata"]["calibration"].update(length_spread=0.0))
    out = tmp_path / "score.tif"
    out.write_bytes(OLD)
    message = failure("dms2f:detect_with_model", {"INPUT": scene.cube, "MODEL": str(hostile),
                                                   "OUTPUT": str(out)})
    assert "'calibration.length_spread' must be a finite number > 0" in message
    assert "This is a bug" not in message and "Traceback" not in message
    assert out.read_bytes() == OLD and leftovers(tmp_path) == []


def test_a_folder_as_model_is_refused_before_the_run(scene, tmp_path):
    """QGIS's own file parameter refuses a folder first; the engine says so where it is reached."""
    ok, message = check("dms2f:detect_with_model", {"INPUT": scene.cube, "MODEL": str(tmp_path),
                                                    "OUTPUT": str(tmp_path / "s.tif")})
    assert not ok and message == "Incorrect parameter value for MODEL"
    from dms2f_had.dms2f_plugin.engine.app.preflight import check_apply
    from dms2f_had.dms2f_plugin.engine.errors import ModelFileError

    with pytest.raises(ModelFileError, match="is a folder, not a model file"):
        check_apply(tmp_path, scene.cube)


@pytest.mark.parametrize("algorithm, extra, words", [
    ("dms2f:detect_anomalies", {"LOCAL_WINDOW": 99},
     "local background window 99 is larger than the raster's smaller side (64 pixels)"),
    ("dms2f:detect_anomalies", {"LOCAL_WINDOW": 8},
     "must be empty (automatic), 0 (off) or an odd number of at least 3, not 8"),
    ("dms2f:detect_anomalies", {"BANDS": "1-100000000"}, "Bands '1-100000000'"),
    ("dms2f:rx_detector", {"METHOD": 1, "INNER_WINDOW": 5, "OUTER_WINDOW": 99},
     "outer window 99 is larger than the raster's smaller side (64 pixels)"),
    ("dms2f:rx_detector", {"METHOD": 1, "INNER_WINDOW": 4, "OUTER_WINDOW": 21},
     "must be an odd number of pixels"),
], ids=["window-wider-than-raster", "even-window", "huge-band-list", "lrx-wider-than-raster",
        "lrx-even-inner"])
def test_engine_bounds_are_checked_before_the_run(scene, tmp_path, algorithm, extra, words):
    parameters = {"INPUT": scene.cube, "OUTPUT": str(tmp_path / "s.tif"), **extra}
    ok, message = check(algorithm, parameters)
    assert not ok and words in message, message
    assert words in failure(algorithm, parameters)
    assert not (tmp_path / "s.tif").exists()


@pytest.mark.parametrize("parameter, value", [("THREADS", 100000), ("SEED", 2**31),
                                              ("TILE_SIZE", 8), ("LOCAL_WINDOW", 500),
                                              ("STEPS", 10**6)])
def test_the_dialog_itself_bounds_the_numbers(scene, tmp_path, parameter, value):
    message = failure("dms2f:detect_anomalies", {"INPUT": scene.cube, parameter: value,
                                                 "OUTPUT": str(tmp_path / "s.tif")})
    assert parameter in message
    assert not (tmp_path / "s.tif").exists()


@pytest.mark.parametrize("method, value, words", [
    (3, math.nan, "must be a finite number, got nan"),
    (3, math.inf, "Incorrect parameter value for VALUE"),  # QGIS's own check comes first
    (0, 150.0, "between 0 and 100"),
    (1, -1.0, "is k and must be positive"),
])
def test_threshold_values_are_finite_and_bounded(scene, tmp_path, method, value, words):
    ok, message = check("dms2f:threshold_anomalies", {
        "INPUT": scene.truth, "METHOD": method, "VALUE": value, "OUTPUT": str(tmp_path / "m.tif"),
        "DETECTIONS": str(tmp_path / "d.gpkg")})
    assert not ok and words in message, message


def test_qgis_process_on_a_full_disk_and_with_a_hostile_model(qgis_process, scene, disk,
                                                              tmp_path):
    out = disk / "score.tif"
    out.write_bytes(OLD)
    fill(disk, leave_kib=8)
    done = qgis_process("run", "dms2f:rx_detector", "--", f"INPUT={scene.cube}", f"OUTPUT={out}")
    assert done.returncode != 0
    assert "No space left on device while writing" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout and "This is a bug" not in done.stdout
    assert out.read_bytes() == OLD and leftovers(disk) == []
    valid = write_valid_model(tmp_path / "valid.safetensors")
    hostile = mutated(valid, tmp_path / "bands.safetensors",
                      lambda header: header["config"].update(bands=True))
    target = tmp_path / "s.tif"
    done = qgis_process("run", "dms2f:detect_with_model", "--", f"INPUT={scene.cube}",
                        f"MODEL={hostile}", f"OUTPUT={target}")
    assert done.returncode != 0 and "bands must be a whole number" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout and "This is a bug" not in done.stdout
    assert not Path(target).exists()
