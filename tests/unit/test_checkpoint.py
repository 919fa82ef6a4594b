"""Model files: safetensors round trip; unsafe, corrupt and mismatched files refused."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from dms2f_had.models import (
    BandMismatchError,
    CheckpointError,
    Dms2fConfig,
    Dms2fHad,
    load_model,
    save_model,
)

METADATA = {"plugin_version": "0.3.0", "norm_min": -12.5, "norm_max": 9000.0,
            "band_indices": [0, 1, 2, 5, 6, 7, 8], "wavelengths": [400.0 + 10 * i for i in range(7)]}


@pytest.fixture
def model():
    torch.manual_seed(1)
    cfg = dataclasses.replace(Dms2fConfig.preset("fast", 7), width=12, d_state=4)
    net = Dms2fHad(cfg)
    net.train()
    net(torch.rand(4, 7, 16, 16))  # move the BatchNorm running statistics off their init
    return net.eval()


@pytest.fixture
def saved(tmp_path, model):
    path = tmp_path / "model.safetensors"
    save_model(path, model, METADATA)
    return path


def test_round_trip_restores_weights_config_and_metadata(saved, model):
    loaded, metadata, extras = load_model(saved, expected_bands=7)
    assert metadata == METADATA and extras == {}
    assert loaded.config == model.config and not loaded.training
    expected = model.state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    x = torch.rand(2, 7, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_extra_tensors_come_back_apart_from_the_weights(tmp_path, model):
    path = tmp_path / "extra.safetensors"
    extras = {"calibration.mean": torch.arange(7, dtype=torch.float64),
              "calibration.whiten": torch.eye(7, 3, dtype=torch.float64)}
    save_model(path, model, METADATA, extra_tensors=extras)
    loaded = load_model(path)
    assert set(loaded.extra_tensors) == set(extras)
    for name, tensor in extras.items():
        assert torch.equal(loaded.extra_tensors[name], tensor), name
    assert set(loaded.network.state_dict()) == set(model.state_dict())  # weights load strictly


def test_a_header_length_that_starts_like_a_pickle_still_loads(tmp_path, model):
    """Regression: a header length whose low byte is 0x80 was refused as a pickle."""
    path = tmp_path / "x80.safetensors"
    for pad in range(256):
        save_model(path, model, {**METADATA, "pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    assert load_model(path).metadata["pad"] == "x" * pad


def test_header_describes_the_model(saved):
    (size,) = struct.unpack("<Q", saved.read_bytes()[:8])
    header = json.loads(saved.read_bytes()[8 : 8 + size])
    info = json.loads(header["__metadata__"]["dms2f_had"])
    assert info["format"] == "dms2f-had-model" and info["format_version"] == 2
    assert info["config"]["bands"] == 7 and info["metadata"]["plugin_version"] == "0.3.0"


def test_wrong_band_count_is_refused(saved):
    with pytest.raises(BandMismatchError, match="fitted on 7 bands, raster has 205; use a model fitted"):
        load_model(saved, expected_bands=205)


class _CreatesFile:
    """Unpickling this object would create the file named by ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickle_file_is_refused_without_being_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_CreatesFile(str(marker)), protocol=protocol))
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(path)
    assert not marker.exists()


def test_torch_save_archive_is_refused(tmp_path, model):
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="refused because loading it could run code"):
        load_model(path)


def test_truncated_file_is_refused(tmp_path, saved):
    data = saved.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"{path.name}.*re-fit and save the model again"):
            load_model(path)


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("not a model")
    with pytest.raises(CheckpointError, match="not a readable safetensors model file"):
        load_model(text)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a DMS2F-HAD model"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match="cannot read model file"):
        load_model(tmp_path / "missing.safetensors")


def test_newer_format_version_is_refused(tmp_path, model):
    from safetensors.torch import save_file

    header = {"format": "dms2f-had-model", "format_version": 99, "config": model.config.to_dict(),
              "metadata": {}}
    path = tmp_path / "future.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
              metadata={"dms2f_had": json.dumps(header)})
    with pytest.raises(CheckpointError, match="format version 99"):
        load_model(path)


def test_unserialisable_metadata_is_refused_and_leaves_no_file(tmp_path, model):
    path = tmp_path / "model.safetensors"
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_model(path, model, {"when": object()})
    assert os.listdir(tmp_path) == []


def test_version_1_files_are_refused_with_a_refit(tmp_path, model):
    path = tmp_path / "old.safetensors"
    header = {"format": "dms2f-had-model", "format_version": 1, "config": model.config.to_dict(),
              "metadata": {}}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"dms2f_had": json.dumps(header)})
    with pytest.raises(CheckpointError,
                       match="version 1, written by DMS2F-HAD 0.2.x or older.*fit the model again"):
        load_model(path)


def test_weights_that_disagree_with_the_config_are_refused_before_building(tmp_path, model):
    path = tmp_path / "big.safetensors"
    config = {**model.config.to_dict(), "d_state": 256}
    header = {"format": "dms2f-had-model", "format_version": 2, "config": config, "metadata": {}}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"dms2f_had": json.dumps(header)})
    with pytest.raises(CheckpointError, match="does not match its config .*A_log"):
        load_model(path)
