"""The implant benchmark's plumbing on real scenes, with RX only (no fits): script, JSON, honesty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dms2f_had.dms2f_plugin.engine.app import bench
from dms2f_had.dms2f_plugin.engine.app.implant import runner

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


def test_workers_get_only_the_image_and_the_truth_is_written_after(had_dir, tmp_path, monkeypatch,
                                                                   capsys):
    seen: list[tuple[list[str], tuple]] = []
    real = bench.run_in_subprocess

    def spy(image, *args, **kwargs):
        seen.append((sorted(os.listdir(image.parent)), (image, *args)))
        return real(image, *args, **kwargs)

    monkeypatch.setattr(bench, "run_in_subprocess", spy)
    keep = tmp_path / "kept"
    code = runner.main(["--scenes", str(had_dir), "--only", "hydice-urban", "--groups", "1/9",
                        "--variants", "int16", "--methods", "rx,lrx", "--keep", str(keep)])
    assert code == 0
    assert len(seen) == 4  # 2 copies x 1 variant x 2 methods
    for listing, call in seen:
        image = call[0]
        assert listing == [image.name]  # no mask, label or truth file beside the image
        assert image.name == "hydice-urban-int16.tif"  # nor the target sizes in its name
        assert all(not isinstance(a, (bytes, bytearray)) for a in call)
    assert sorted(p.name for p in keep.iterdir()) == ["hydice-urban-g1-truth.tif",
                                                      "hydice-urban-g9-truth.tif"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == "implant_worst_margin_vs_rx=nan"
