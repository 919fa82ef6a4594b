"""A campaign's plan: inputs from files, patterns and lists; output names; what counts as complete."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_fixtures import write_geotiff

from dms2f_had.dms2f_plugin.engine.app.campaign import (
    DetectOptions,
    expand_inputs,
    plan_campaign,
    read_manifest,
    scene_name,
    write_manifest,
)
from dms2f_had.dms2f_plugin.engine.app.campaign_summary import format_table, write_summary
from dms2f_had.dms2f_plugin.engine.app.scene_task import SceneOutcome
from dms2f_had.dms2f_plugin.engine.errors import InputError


@pytest.fixture
def scenes(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.tif", "b.tif", "sub/c.tif"):
        (folder / name).write_bytes(b"not read here")
    return folder


def test_files_patterns_and_lists_in_order_without_repeats(scenes, tmp_path):
    listing = scenes / "more.txt"
    listing.write_text("# scenes\n\nsub/c.tif\n  a.tif  \n", encoding="utf-8")
    found = expand_inputs([str(scenes / "b.tif"), str(scenes / "*.tif")], [listing])
    assert found == [str(scenes / n) for n in ("b.tif", "a.tif", "sub/c.tif")]


@pytest.mark.parametrize("item, words", [("nope.tif", "does not exist"),
                                         ("*.nothing", "matches no file")])
def test_bad_inputs_are_named(scenes, monkeypatch, item, words):
    monkeypatch.chdir(scenes)
    with pytest.raises(InputError, match=words):
        expand_inputs([item])


def test_no_input_at_all_is_refused():
    with pytest.raises(InputError, match="No input scenes"):
        expand_inputs([])


def test_a_missing_list_file_is_named(tmp_path):
    with pytest.raises(InputError, match="list of inputs"):
        expand_inputs([], [tmp_path / "list.txt"])


@pytest.mark.parametrize("text, name", [
    ("/data/flight 07.tif", "flight_07"), ("/data/scene.hdr.img", "scene.hdr"),
    ('HDF5:"/data/prisma.he5"://HDFEOS/SWATHS/VNIR_Cube', "VNIR_Cube"), ("/x/.hidden.tif", "hidden"),
])
def test_scene_names_are_file_name_safe(text, name):
    assert scene_name(text) == name


def test_outputs_per_scene_follow_the_options(scenes, tmp_path):
    options = DetectOptions(method="dms2f", save_model=True, threshold="otsu")
    jobs = plan_campaign([str(scenes / "a.tif")], tmp_path / "out" / "new", options, threads=2)
    out = jobs[0].outputs
    assert (tmp_path / "out" / "new").is_dir()
    assert {k: p.name for k, p in out.files().items()} == {
        "score": "a_score.tif", "model": "a_model.safetensors", "mask": "a_mask.tif",
        "detections": "a_detections.gpkg"}
    assert out.manifest.name == "a_manifest.json" and jobs[0].threads == 2
    rx = plan_campaign([str(scenes / "a.tif")], tmp_path / "o2", DetectOptions(method="rx"))
    assert set(rx[0].outputs.files()) == {"score"}


def test_two_inputs_with_one_name_are_refused(scenes, tmp_path):
    (scenes / "sub" / "a.tif").write_bytes(b"x")
    with pytest.raises(InputError, match="would both write 'a_score.tif'"):
        plan_campaign([str(scenes / "a.tif"), str(scenes / "sub" / "a.tif")], tmp_path / "o",
                      DetectOptions(method="rx"))


@pytest.mark.parametrize("options, words", [
    (DetectOptions(method="pca"), "Unknown method"),
    (DetectOptions(method="rx", save_model=True), "only applies to method dms2f"),
    (DetectOptions(threshold="value"), "needs --threshold-value"),
    (DetectOptions(threshold="top"), "Unknown threshold"),
    (DetectOptions(min_size=0), "--min-size"),
])
def test_bad_options_are_refused_before_work(scenes, tmp_path, options, words):
    with pytest.raises(InputError, match=words):
        plan_campaign([str(scenes / "a.tif")], tmp_path / "o", options)


@pytest.fixture
def finished(scenes, tmp_path):
    """A planned rx scene whose score raster exists and whose manifest was written."""
    job = plan_campaign([str(scenes / "a.tif")], tmp_path / "out", DetectOptions(method="rx"))[0]
    write_geotiff(job.outputs.score, np.zeros((1, 6, 5), dtype=np.float32))
    write_manifest(job, {"width": 5, "height": 6, "seconds": 1.5})
    return job


def test_a_finished_scene_is_complete(finished):
    data = read_manifest(finished)
    assert data["seconds"] == 1.5 and data["outputs"] == {"score": "a_score.tif"}
    assert data["options"]["method"] == "rx"


def test_other_options_make_it_incomplete(finished, scenes, tmp_path):
    other = plan_campaign([finished.input], tmp_path / "out", DetectOptions(method="lrx"))[0]
    assert read_manifest(other) is None


def test_a_missing_or_broken_score_makes_it_incomplete(finished):
    finished.outputs.score.write_bytes(b"truncated")
    assert read_manifest(finished) is None
    finished.outputs.score.unlink()
    assert read_manifest(finished) is None


def test_a_broken_manifest_or_wrong_size_makes_it_incomplete(finished):
    text = finished.outputs.manifest.read_text(encoding="utf-8")
    data = json.loads(text)
    finished.outputs.manifest.write_text(json.dumps({**data, "width": 6}), encoding="utf-8")
    assert read_manifest(finished) is None
    finished.outputs.manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    assert read_manifest(finished) is None


def test_summary_table_csv_and_json(tmp_path):
    outcomes = [SceneOutcome("a", "/in/a.tif", "done", 12.345, 900.04, 50, 7),
                SceneOutcome("b", "/in/b.tif", "failed", 0.5, error="Cannot open '/in/b.tif'"),
                SceneOutcome("c", "/in/c.tif", "skipped", 3.0)]
    table = format_table(outcomes, thresholded=True)
    assert table.splitlines()[0].split() == ["scene", "status", "seconds", "peak_memory_mb",
                                             "anomaly_pixels", "detections"]
    assert "12.35" in table and "Cannot open '/in/b.tif'" in table
    assert table.splitlines()[-1] == "1 done, 1 failed, 1 skipped"
    csv_path, json_path = write_summary(outcomes, tmp_path, campaign={"cluster": "serial"})
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("scene,status,seconds,peak_memory_mb,anomaly_pixels,detections")
    assert lines[1].startswith("a,done,12.35,900.0,50,7,local,,/in/a.tif")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["campaign"]["counts"] == {"done": 1, "failed": 1, "skipped": 1, "cancelled": 0}
    assert [s["status"] for s in data["scenes"]] == ["done", "failed", "skipped"]
    assert not list(tmp_path.glob(".*tmp*"))
