"""``dms2f-had bench`` end to end: subprocess per run, JSON schema, summary line, determinism.

A short fit (``--steps``) on a small synthetic .mat scene keeps it quick; quality on the real
scenes is the job of ``test_dms2f_engine.py`` and of the full benchmark in the README.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from engine_fixtures import synthetic_scene

from dms2f_had.dms2f_plugin.engine.app import bench

SUMMARY = re.compile(r"^mean_auc dms2f=(\d\.\d{4}) rx=(\d\.\d{4}) scenes=1 wins=[01]$")
TIMING = re.compile(r"^seconds_per_run dms2f wall=\d+\.\d cpu=\d+\.\d process_wall=\d+\.\d "
                    r"process_cpu=\d+\.\d runs=2$")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    cube, gt = synthetic_scene(bands=14, height=24, width=32, seed=5)
    scipy.io.savemat(folder / "tiny.mat", {"data": np.moveaxis(cube, 0, -1), "map": gt})
    return folder


def _bench(scenes: Path, out: Path, capsys) -> tuple[dict, list[str]]:
    code = bench.main(["--scenes", str(scenes), "--seeds", "2", "--methods", "dms2f,rx",
                       "--steps", "3", "--threads", "1", "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text()), capsys.readouterr().out.strip().splitlines()


@pytest.mark.slow
def test_bench_writes_the_table_json_and_summary_and_is_deterministic(scenes, tmp_path, capsys):
    first, lines = _bench(scenes, tmp_path / "a.json", capsys)
    second, _ = _bench(scenes, tmp_path / "b.json", capsys)

    assert SUMMARY.match(lines[-1]), lines[-1]
    assert TIMING.match(lines[-2]), lines[-2]
    assert any(line.startswith("| tiny | 14 | 768 | dms2f |") for line in lines)
    assert any(line.startswith("Measured ") and first["machine"]["cpu_model"] in line
               for line in lines)
    assert {"cpus", "platform", "torch", "cpu_model", "load_average"} <= set(first["machine"])
    runs = first["results"]
    assert [(r["method"], r["seed"]) for r in runs] == [("dms2f", 0), ("dms2f", 1), ("rx", 0)]
    for r in runs:
        assert {"scene", "method", "preset", "seed", "auc", "fit_s", "detect_s", "wall_s",
                "cpu_s", "process_wall_s", "process_cpu_s", "peak_rss_mb", "steps"} <= set(r)
        assert 0.0 <= r["auc"] <= 1.0 and r["peak_rss_mb"] > 50
        # CPU seconds are the worker's own: positive, and the whole process spent more than the job.
        assert 0.0 < r["cpu_s"] <= r["process_cpu_s"]
        assert r["wall_s"] == pytest.approx(r["fit_s"] + r["detect_s"], abs=0.01)
        assert r["process_wall_s"] >= r["wall_s"]
    assert runs[0]["steps"] == 3 and runs[2]["steps"] is None
    # The same seed gives the same AUC in a fresh process (that seeds change the map is
    # test_dms2f_engine's: here the RX fusion ranks the tiny scene's target first either way).
    assert [r["auc"] for r in runs] == [r["auc"] for r in second["results"]]


def test_bench_refuses_bad_arguments(scenes, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--scenes", str(scenes), "--steps", "0"])
    assert exc.value.code == 2
    assert "number of fitting steps must be a whole number from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--scenes", str(tmp_path)])
    assert "no .mat scenes" in capsys.readouterr().err
