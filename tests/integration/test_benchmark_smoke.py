"""Each benchmark script runs on tiny inputs and prints its final line (numbers not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import synthetic_scene, write_geotiff

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args],
                          capture_output=True, text=True, check=False, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def tiny_mat(tmp_path_factory) -> Path:
    """A small benchmark scene (.mat: cube ``data`` rows x cols x bands, ground truth ``map``)."""
    from scipy.io import savemat

    cube, gt = synthetic_scene(bands=14, height=32, width=32, seed=3)
    folder = tmp_path_factory.mktemp("mat")
    savemat(folder / "tiny.mat", {"data": np.moveaxis(cube, 0, 2), "map": gt})
    return folder / "tiny.mat"


def test_scan_speed_prints_both_speedups():
    lines = _run("scan_speed.py", "--repeats", "1", "--batch", "2", "--length", "16",
                 "--d-inner", "8", "--d-state", "4", "--bands", "12")
    assert lines[-2].startswith("scan_speedup_vs_reference=")
    assert lines[-1].startswith("scan_fwd_bwd_speedup_vs_sequential_ref=")


def test_fit_speed_prints_the_shards_speedup():
    lines = _run("fit_speed.py", "--steps", "2", "--repeats", "1", "--threads", "2")
    assert "cpu_model" in lines[0] and "torch threads 2" in lines[0]
    assert lines[1].startswith("shards=1: wall ms/step") and lines[2].startswith("shards=2: wall")
    assert lines[-1].startswith("fit_step_speedup_shards_vs_whole=")


def test_scale_prints_its_ratios():
    lines = _run("scale.py", "--method", "rx", "--sizes", "40,80")
    assert lines[-1].startswith("rss_ratio_80_vs_40=") and "time_ratio=" in lines[-1]
    assert any("score_px_per_s=" in line for line in lines)


def test_score_variants_prints_the_best(tiny_mat):
    lines = _run("score_variants.py", "--scenes", str(tiny_mat.parent), "--seeds", "1", "--steps", "2")
    assert lines[-1].startswith("best=") and "mean_auc=" in lines[-1]


def test_gpu_check_dry_runs_on_the_cpu(tiny_mat):
    lines = _run("gpu_check.py", "--scene", str(tiny_mat), "--device", "cpu", "--steps", "2",
                 "--skip-tests")
    assert lines[-1].startswith("gpu_check fast_auc=") and "paper_s=" in lines[-1]


def test_select_defaults_prints_its_choice(tiny_mat, tmp_path):
    scenes = tmp_path / "scenes"  # leave-one-scene-out needs two scenes
    scenes.mkdir()
    for name in ("a.mat", "b.mat"):
        (scenes / name).write_bytes(tiny_mat.read_bytes())
    lines = _run("select_defaults.py", "--scenes", str(scenes), "--schedules", "3,2x2b2s16",
                 "--implant-hosts", "", "--workers", "1", "--work", str(tmp_path / "work"),
                 "--json", str(tmp_path / "select.json"))
    assert lines[-1].startswith("selected local_window=") and "steps=" in lines[-1]
    assert (tmp_path / "select.json").is_file()


def test_select_defaults_reads_the_reference_schedule_instead_of_fitting_it(tiny_mat, tmp_path):
    """``--reference``: the first schedule's numbers come from the file, only the others are fitted."""
    import json

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in ("a.mat", "b.mat"):
        (scenes / name).write_bytes(tiny_mat.read_bytes())
    common = ["--scenes", str(scenes), "--implant-hosts", "", "--workers", "1"]
    _run("select_defaults.py", *common, "--schedules", "3", "--work", str(tmp_path / "first"),
         "--json", str(tmp_path / "first.json"))
    first = json.loads((tmp_path / "first.json").read_text())
    first["development"]["3"]["off"]["a"] = 0.123  # a marker no fit gives: proves it was read
    (tmp_path / "first.json").write_text(json.dumps(first))
    lines = _run("select_defaults.py", *common, "--schedules", "3,2x2b2s16", "--work",
                 str(tmp_path / "second"), "--reference", str(tmp_path / "first.json"),
                 "--json", str(tmp_path / "second.json"))
    second = json.loads((tmp_path / "second.json").read_text())
    assert second["development"]["3"]["off"]["a"] == 0.123
    assert second["development"]["3"] == first["development"]["3"] and "2x2b2s16" in second["development"]
    assert not list((tmp_path / "second").glob("*-s3-seed*.tif"))  # the reference was not fitted
    assert list((tmp_path / "second").glob("*-s2x2b2s16-seed0.tif"))
    assert any(line.startswith("Reference 3 read from the results file") for line in lines)

    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "select_defaults.py"), *common,
                           "--schedules", "3,2", "--seeds", "2", "--work", str(tmp_path / "third"),
                           "--reference", str(tmp_path / "first.json")],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 2 and "does not hold 3 as this run would fit it" in proc.stderr


def test_select_defaults_ci_gate_scores_the_ci_tests_copy(had_dir, tmp_path):
    """``--ci-gate`` fits the CI implant test's copy (3 steps here) and scores every candidate."""
    import json

    lines = _run("select_defaults.py", "--scenes", str(had_dir), "--only", "pavia-car,hydice-urban",
                 "--schedules", "3", "--implant-hosts", "", "--workers", "1", "--ci-gate",
                 "--work", str(tmp_path / "work"), "--json", str(tmp_path / "select.json"))
    gate = json.loads((tmp_path / "select.json").read_text())["ci_gate"]["3"]
    assert set(gate["rx"]) == {"1", "25", "144"} and "lines61|rx3" in gate
    passing = [c for c in gate if c != "rx" and all(gate[c][k] > gate["rx"][k] for k in gate["rx"])]
    assert any(line.startswith("s3: the CI implant test passes") for line in lines)
    admissible = json.loads((tmp_path / "select.json").read_text())["chosen"]["3"]["admissible"]
    assert admissible == (passing or [c for c in gate if c != "rx"])
    assert lines[-1].startswith("selected local_window=")


def test_seed_sources_seeds_one_source_at_a_time(had_dir, tmp_path):
    """Each source's fit differs from the base fit only through that source (2 steps here)."""
    lines = _run("seed_sources.py", "--scenes", str(had_dir), "--work", str(tmp_path), "--hosts",
                 "pavia-car", "--size", "25", "--seeds", "1", "--steps", "2", "--workers", "1")
    from osgeo import gdal

    assert "4 fit(s)" in lines
    maps = {name: gdal.Open(str(tmp_path / f"pavia-car-g25-{name}.tif")).ReadAsArray()
            for name in ("base", "sample1", "init1", "train1")}
    assert not np.array_equal(maps["init1"], maps["base"], equal_nan=True)
    assert not np.array_equal(maps["train1"], maps["base"], equal_nan=True)
    # pavia-car is small enough that every block is sampled: the sampling seed cannot matter
    assert np.array_equal(maps["sample1"], maps["base"], equal_nan=True)
    assert lines[-1].startswith("seed_sources sample=0.0000 init=")


def test_seed_sources_hands_each_seed_to_its_own_source(tmp_path, monkeypatch):
    """``fit`` gives the sampling and the training their own seeds and the fit the init seed."""
    from osgeo import gdal

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import seed_sources

    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    seen: list[tuple[str, int]] = []
    sample_scene, train_network = fitting.sample_scene, fitting.train_network

    def sample(*args, **kwargs):
        seen.append(("sample", kwargs["seed"]))
        return sample_scene(*args, **kwargs)

    def train(*args, **kwargs):
        seen.append(("train", kwargs["seed"]))
        return train_network(*args, **kwargs)

    # restored afterwards: fit() replaces both names and keeps the originals it wraps
    monkeypatch.setattr(fitting, "sample_scene", sample_scene)
    monkeypatch.setattr(fitting, "train_network", train_network)
    monkeypatch.setitem(fitting.__dict__, "_seed_sources_originals", (sample, train))
    cube, _ = synthetic_scene(bands=14, height=32, width=32, seed=3)
    image = write_geotiff(tmp_path / "scene.tif", cube)
    out = tmp_path / "score.tif"
    seed_sources.fit(str(image), str(out), {"sample": 5, "init": 3, "train": 7}, 2)
    assert seen == [("sample", 5), ("train", 7)]
    assert gdal.Open(str(out)).GetMetadataItem("seed") == "3"


def test_fit_maps_ensemble_is_the_mean_of_its_members(tmp_path, monkeypatch):
    """``eMEMBERS``: the map of seed s is the mean of the fits with seeds 2 s and 2 s + 1."""
    from osgeo import gdal

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import fit_maps

    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    monkeypatch.setitem(fitting.SCHEDULES, "fast", fitting.SCHEDULES["fast"])  # fit_raw replaces it
    assert fit_maps.parse_schedule("150x2b8t25e2s16") == (150, 2, 8, 16, 0.25, 0.0, 2)
    assert fit_maps.parse_schedule("300x2b8t25s16")[-1] == 1
    with pytest.raises(ValueError, match="bad schedule"):
        fit_maps.parse_schedule("150e0")
    assert fit_maps.fit_key("150x2b8t25e2s16") == "150x2b8t25e2"
    assert fit_maps.member_seeds(0, 2) == [0, 1] and fit_maps.member_seeds(1, 2) == [2, 3]
    assert fit_maps.member_seeds(5, 1) == [5]
    cube, _ = synthetic_scene(bands=14, height=32, width=32, seed=3)
    image = str(write_geotiff(tmp_path / "scene.tif", cube))
    read = lambda name: gdal.Open(str(tmp_path / name)).ReadAsArray()  # noqa: E731
    fit_maps.fit_raw(image, [(str(tmp_path / "ensemble.tif"), 16)], "dms2f", "2x2b8t25e2s16", 1)
    for seed in (2, 3):
        fit_maps.fit_raw(image, [(str(tmp_path / f"member{seed}.tif"), 16)], "dms2f", "2x2b8t25s16", seed)
    members = [read("member2.tif"), read("member3.tif")]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(read("ensemble.tif"), np.mean(members, axis=0), rtol=1e-6, atol=1e-7)
    metadata = gdal.Open(str(tmp_path / "ensemble.tif")).GetMetadata()
    assert metadata["member_seeds"] == "2,3" and "seed" not in metadata
    # Several strides share each member's fit: the stride-16 map is the same ensemble.
    fit_maps.fit_raw(image, [(str(tmp_path / "e8.tif"), 8), (str(tmp_path / "e16.tif"), 16)],
                     "dms2f", "2x2b8t25e2", 1)
    np.testing.assert_allclose(read("e16.tif"), read("ensemble.tif"), rtol=1e-6, atol=1e-7)
    for name in ("e8.tif", "e16.tif"):
        metadata = gdal.Open(str(tmp_path / name)).GetMetadata()
        assert metadata["member_seeds"] == "2,3" and "model" not in metadata
    assert read("e8.tif").shape == read("e16.tif").shape
    assert not list(tmp_path.glob("*.partial.tif"))


def test_schedule_spread_prints_each_schedules_spread(had_dir, tmp_path):
    """Two schedules (one an ensemble), two seeds, one host: every map fitted, the spread printed."""
    lines = _run("schedule_spread.py", "--scenes", str(had_dir), "--work", str(tmp_path), "--hosts",
                 "pavia-car", "--size", "25", "--seeds", "2", "--schedules", "2x2b8t25s16,1x2b8t25e2s16",
                 "--workers", "1")
    assert "14 map(s) to fit" in lines  # 2 RX, 4 single fits, 8 members of the 4 ensemble maps
    assert sum("CI test's copy: " in line and "of 2 seeds pass" in line for line in lines) == 2
    assert len(list(tmp_path.glob("*-s1x2b8t25e2s16-seed*.tif"))) == 4
    from osgeo import gdal

    read = lambda name: gdal.Open(str(tmp_path / name)).ReadAsArray()  # noqa: E731
    members = [read(f"pavia-car-g25-s1x2b8t25s16-seed{m}.tif") for m in (2, 3)]  # seed 1's members
    np.testing.assert_allclose(read("pavia-car-g25-s1x2b8t25e2s16-seed1.tif"), np.mean(members, axis=0),
                               rtol=1e-6, atol=1e-7)
    assert lines[-1].startswith("schedule_spread 2x2b8t25s16=0.") and " 1x2b8t25e2s16=0." in lines[-1]
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "schedule_spread.py"), "--scenes",
                           str(had_dir), "--work", str(tmp_path), "--schedules", "2q"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "bad schedule '2q'" in proc.stderr
