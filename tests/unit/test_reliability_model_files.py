"""Hostile and damaged model files are refused with one line naming the field; nothing is written.

Every file is generated here from a real model file (hostile_models.py); each case is applied to
a raster through the engine and the command line, and must fail before any score is written,
leaving an existing output byte for byte as it was.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from engine_fixtures import read_band, synthetic_scene, write_geotiff
from hostile_models import BANDS, HEADER_CASES, TENSOR_CASES, mutated, with_tensor, write_valid_model

from dms2f_had.dms2f_plugin.engine.app import cli, jobs
from dms2f_had.dms2f_plugin.engine.detectors.model_file import FittedModel
from dms2f_had.dms2f_plugin.engine.errors import ModelFileError

pytest.importorskip("torch")
OLD = b"previous score, kept byte for byte"


@pytest.fixture(scope="module")
def valid_model(tmp_path_factory):
    return write_valid_model(tmp_path_factory.mktemp("model") / "valid.safetensors")


@pytest.fixture
def raster(tmp_path):
    cube, _ = synthetic_scene(bands=BANDS, height=32, width=32)
    return write_geotiff(tmp_path / "scene.tif", cube)


@pytest.fixture
def old_output(tmp_path):
    out = tmp_path / "score.tif"
    out.write_bytes(OLD)
    return out


def _refused(model, raster, out, words):
    with pytest.raises(ModelFileError) as info:
        jobs.apply_model(model, raster, out, device="cpu", tile_size=16)
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in out.parent.iterdir() if ".tmp" in p.name) == []
    return message


def test_the_valid_model_loads_and_scores(valid_model, raster, tmp_path):
    fitted = FittedModel.load(valid_model)
    assert fitted.bands == BANDS and fitted.steps == 300 and fitted.raster_band_count == BANDS
    result = jobs.apply_model(valid_model, raster, tmp_path / "ok.tif", device="cpu")
    assert result.valid_pixels == 32 * 32
    assert np.isfinite(read_band(tmp_path / "ok.tif")).all()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_a_saved_model_gets_the_permissions_of_the_users_umask(valid_model, tmp_path, umask,
                                                                mode):
    """safetensors writes 0600; a model is published like a score, readable as umask allows."""
    import os
    import stat

    fitted = FittedModel.load(valid_model)
    saved = os.umask(umask)
    try:
        fitted.save(tmp_path / "shared.safetensors")
    finally:
        os.umask(saved)
    assert stat.S_IMODE(os.stat(tmp_path / "shared.safetensors").st_mode) == mode
    assert FittedModel.load(tmp_path / "shared.safetensors").bands == BANDS


@pytest.mark.parametrize("case, change, words", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_hostile_header_is_refused_naming_the_field(valid_model, raster, old_output, tmp_path,
                                                    case, change, words):
    model = mutated(valid_model, tmp_path / f"{case}.safetensors", change)
    message = _refused(model, raster, old_output, words)
    assert f"{case}.safetensors" in message


@pytest.mark.parametrize("case, name, value, words", TENSOR_CASES, ids=[c[0] for c in TENSOR_CASES])
def test_hostile_calibration_arrays_are_refused(valid_model, raster, old_output, tmp_path, case,
                                                name, value, words):
    model = with_tensor(valid_model, tmp_path / f"{case}.safetensors", name, value)
    _refused(model, raster, old_output, words)


def _truncated(valid, target):
    data = valid.read_bytes()
    target.write_bytes(data[:len(data) // 2])


def _huge_header(valid, target):
    target.write_bytes((2**62).to_bytes(8, "little") + b"{}")


def _pickle(valid, target):
    target.write_bytes(pickle.dumps({"state_dict": [1, 2, 3]}))


@pytest.mark.parametrize("case, make, words", [
    ("empty", lambda v, t: t.write_bytes(b""), "not a readable safetensors model file"),
    ("truncated", _truncated, "not a readable safetensors model file"),
    ("random-bytes", lambda v, t: t.write_bytes(np.random.default_rng(0).bytes(4096)),
     "not a readable safetensors model file"),
    ("huge-header-length", _huge_header, "not a readable safetensors model file"),
    ("pickle", _pickle, "refused because loading it could run code"),
    ("folder", lambda v, t: t.mkdir(), "is a folder, not a model file"),
])
def test_damaged_files_are_refused(valid_model, raster, old_output, tmp_path, case, make, words):
    model = tmp_path / f"{case}.safetensors"
    make(valid_model, model)
    _refused(model, raster, old_output, words)


def test_missing_model_says_it_does_not_exist(raster, old_output, tmp_path):
    _refused(tmp_path / "none.safetensors", raster, old_output, "does not exist")


def test_command_line_prints_one_line_and_exits_1(valid_model, raster, old_output, tmp_path,
                                                   capsys):
    model = mutated(valid_model, tmp_path / "nan.safetensors",
                    HEADER_CASES[0][1])  # width NaN
    code = cli.main(["apply", str(model), str(raster), str(old_output), "--device", "cpu"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error:" in line]
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("dms2f-had: error: ") and "width" in lines[0]
    assert "Traceback" not in err and old_output.read_bytes() == OLD


def test_a_model_for_another_band_layout_is_refused(valid_model, tmp_path, old_output):
    cube, _ = synthetic_scene(bands=BANDS + 2, height=32, width=32)
    other = write_geotiff(tmp_path / "wide.tif", cube)
    _refused(valid_model, other, old_output, f"fitted on a raster with {BANDS} bands")
