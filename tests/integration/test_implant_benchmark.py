"""The implant benchmark's plumbing on real scenes, with RX only (no fits): script, JSON, honesty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dms2f_had.dms2f_plugin.engine.app import bench
from dms2f_had.dms2f_plugin.engine.app.implant import command, runner

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_script_runs_on_one_small_copy_and_ends_with_its_line(had_dir, tmp_path):
    out = tmp_path / "implant.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "implant.py"), "--scenes", str(had_dir),
         "--only", "pavia-car", "--groups", "1,4", "--variants", "original,bands30",
         "--methods", "rx", "--json", str(out)],
        capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "implant_worst_margin_vs_rx=nan"  # no dms2f run: no margin
    assert "| variant | size px | rx AUC (std) |" in lines
    assert any(line.startswith("worst scene, 4 px: rx ") for line in lines)
    result = json.loads(out.read_text())
    runs = result["results"]
    assert [(r["variant"], r["method"]) for r in runs] == [("original", "rx"), ("bands30", "rx")]
    assert runs[1]["bands"] == 30 and set(runs[0]["auc"]) == {"1", "4"}
    assert all(0.0 <= auc <= 1.0 for r in runs for auc in r["auc"].values())
    targets = result["implants"][0]["targets"]
    assert len(targets) == 12 and {t["donor"] for t in targets}.isdisjoint({"pavia-car"})
    assert result["partial"] is False and result["summary"]
    ranks = runs[0]["targets"]
    assert [t["size"] for t in ranks] == [t["size"] for t in targets]
    assert all(0.0 <= t["rank"] <= 1.0 for t in ranks)
    assert "| size px | targets | rx | found by none |" in lines
    # --report rebuilds the same report from the results file alone.
    report = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "implant.py"), "--report", str(out)],
        capture_output=True, text=True, check=False, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    assert report.stdout.strip().splitlines()[-1] == lines[-1]
    assert [x for x in report.stdout.splitlines() if x.startswith("| original |")] == \
        [x for x in lines if x.startswith("| original |")]


def test_what_is_measured_is_saved_after_every_copy(had_dir, tmp_path):
    config = runner.ImplantConfig(
        scenes=had_dir, hosts=("hydice-urban",), groups=((1,), (9,)), variants=("original",),
        methods=("rx",), seeds=1, implant_seed=0, preset="fast", steps=None, threads=None,
        keep_all_bands=False)
    saved: list[tuple[int, int]] = []
    records, _ = runner.run_benchmark(config, tmp_path, lambda line: None,
                                      save=lambda r, i: saved.append((len(r), len(i))))
    assert saved == [(1, 1), (2, 2)] and len(records) == 2


def test_workers_get_only_the_image_and_the_truth_is_written_after(had_dir, tmp_path, monkeypatch,
                                                                   capsys):
    seen: list[tuple[list[str], tuple]] = []
    real = bench.run_in_subprocess

    def spy(image, *args, **kwargs):
        seen.append((sorted(os.listdir(image.parent)), (image, *args)))
        return real(image, *args, **kwargs)

    monkeypatch.setattr(bench, "run_in_subprocess", spy)
    keep = tmp_path / "kept"
    code = command.main(["--scenes", str(had_dir), "--only", "hydice-urban", "--groups", "1/9",
                        "--variants", "int16", "--methods", "rx,lrx", "--keep", str(keep)])
    assert code == 0
    assert len(seen) == 4  # 2 copies x 1 variant x 2 methods
    for listing, call in seen:
        image = call[0]
        assert listing == [image.name]  # no mask, label or truth file beside the image
        assert image.name == "hydice-urban-int16.tif"  # nor the target sizes in its name
        assert all(not isinstance(a, (bytes, bytearray)) for a in call)
    assert sorted(p.name for p in keep.iterdir()) == [
        "hydice-urban-g1-int16-lrx-seed0-score.tif", "hydice-urban-g1-int16-rx-seed0-score.tif",
        "hydice-urban-g1-truth.tif",
        "hydice-urban-g9-int16-lrx-seed0-score.tif", "hydice-urban-g9-int16-rx-seed0-score.tif",
        "hydice-urban-g9-truth.tif"]
    from osgeo import gdal

    kept = gdal.Open(str(keep / "hydice-urban-g9-int16-rx-seed0-score.tif"))
    assert (kept.RasterYSize, kept.RasterXSize) == (80, 100)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "implant_worst_margin_vs_rx=nan"
