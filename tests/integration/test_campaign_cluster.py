"""Campaigns on a real Dask cluster of 2 worker processes: same outputs as serial runs, failures
reported while the others finish, resume, a killed worker's task run again, cancel."""

from __future__ import annotations

import os
import re

import cloudpickle
import cluster_support
import pytest
from cluster_support import MARKER_DIR, assert_same_raster, killing_task, user_cluster, write_scenes

from dms2f_had.dms2f_plugin.engine.app import batch as batch_module
from dms2f_had.dms2f_plugin.engine.app.batch import batch
from dms2f_had.dms2f_plugin.engine.app.campaign import DetectOptions
from dms2f_had.dms2f_plugin.engine.app.cli import main
from dms2f_had.dms2f_plugin.engine.app.cluster import ClusterRequest
from dms2f_had.dms2f_plugin.engine.errors import CancelledError

cloudpickle.register_pickle_by_value(cluster_support)
RX = DetectOptions(method="rx", threshold="percentile")


@pytest.fixture(scope="module")
def scheduler():
    assert (os.cpu_count() or 1) >= 2, "the cluster tests need 2 cores"
    with user_cluster(2) as address:
        yield address


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), 4)


def statuses(result):
    return {o.name: o.status for o in result.outcomes}


def test_local_cluster_campaign_equals_the_serial_one(scenes, tmp_path):
    serial = batch([str(p) for p in scenes], tmp_path / "serial", options=RX)
    seen = []
    cluster = batch([str(p) for p in scenes], tmp_path / "cluster", options=RX,
                    cluster=ClusterRequest(workers=2), listener=seen.append)
    assert statuses(serial) == statuses(cluster) == {f"scene{i}": "done" for i in range(4)}
    assert "2 worker(s) x 1 thread" in cluster.cluster
    assert all(o.worker.startswith("tcp://") for o in cluster.outcomes)
    for i in range(4):
        for kind in ("score", "mask"):
            assert_same_raster(tmp_path / "serial" / f"scene{i}_{kind}.tif",
                               tmp_path / "cluster" / f"scene{i}_{kind}.tif")
    assert [o.detections for o in serial.outcomes] == [o.detections for o in cluster.outcomes]
    finished = [s.finished.name for s in seen if s.finished is not None]
    assert sorted(finished) == [f"scene{i}" for i in range(4)]
    assert seen[-1].done == 4 and seen[-1].queued == 0 and seen[0].cluster == cluster.cluster
    assert not list((tmp_path / "cluster").glob(".*"))


def test_dms2f_campaign_on_a_scheduler_equals_the_serial_one(scheduler, tmp_path):
    scenes = write_scenes(tmp_path / "in", 2, bands=24, height=34, width=30)
    options = DetectOptions(method="dms2f", steps=2, save_model=True)
    serial = batch([str(p) for p in scenes], tmp_path / "serial", options=options, threads=1)
    cluster = batch([str(p) for p in scenes], tmp_path / "cluster", options=options, threads=1,
                    cluster=ClusterRequest(scheduler=scheduler))
    assert statuses(serial) == statuses(cluster) == {"scene0": "done", "scene1": "done"}
    for i in range(2):
        assert_same_raster(tmp_path / "serial" / f"scene{i}_score.tif",
                           tmp_path / "cluster" / f"scene{i}_score.tif")
        assert (tmp_path / "cluster" / f"scene{i}_model.safetensors").stat().st_size > 0


def test_a_failing_scene_is_reported_while_the_others_finish(scheduler, scenes, tmp_path,
                                                             capsys):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 this is not a complete GeoTIFF")
    out = tmp_path / "out"
    code = main(["batch", str(scenes[0]), str(bad), str(scenes[1]), "-o", str(out), "--method",
                 "rx", "--scheduler", scheduler])
    captured = capsys.readouterr()
    assert code == 1
    failed = [line for line in captured.err.splitlines() if "failed" in line and "broken" in line]
    assert len(failed) == 1 and "Cannot open" in failed[0], captured.err
    assert captured.err.strip().splitlines()[-1] == (
        f"dms2f-had: error: 1 of 3 scene(s) failed; see {out / 'campaign_summary.csv'}")
    assert re.search(r"^scene0\s+done", captured.out, re.M)
    assert re.search(r"^broken\s+failed\s.*Cannot open", captured.out, re.M)
    assert (out / "scene0_score.tif").is_file() and (out / "scene1_score.tif").is_file()
    assert not (out / "broken_score.tif").exists() and not (out / "broken_manifest.json").exists()
    rows = (out / "campaign_summary.csv").read_text(encoding="utf-8").splitlines()
    assert [r.split(",")[:2] for r in rows[1:]] == [["scene0", "done"], ["broken", "failed"],
                                                   ["scene1", "done"]]


def test_resume_skips_complete_scenes_and_reruns_the_rest(scheduler, scenes, tmp_path):
    out = tmp_path / "out"
    request = ClusterRequest(scheduler=scheduler)
    first = batch([str(p) for p in scenes], out, options=RX, cluster=request)
    assert set(statuses(first).values()) == {"done"}
    kept = (out / "scene0_score.tif").stat().st_mtime_ns
    (out / "scene1_mask.tif").unlink()  # an output lost: not complete any more
    (out / "scene2_manifest.json").unlink()  # as if the run died before the manifest
    again = batch([str(p) for p in scenes], out, options=RX, cluster=request, resume=True)
    assert statuses(again) == {"scene0": "skipped", "scene1": "done", "scene2": "done",
                               "scene3": "skipped"}
    assert (out / "scene0_score.tif").stat().st_mtime_ns == kept
    skipped = next(o for o in again.outcomes if o.name == "scene0")
    assert skipped.seconds == pytest.approx(first.outcomes[0].seconds)
    other = batch([str(p) for p in scenes], out, options=DetectOptions(method="rx"),
                  cluster=request, resume=True)
    assert set(statuses(other).values()) == {"done"}, "other options: nothing is complete"


def test_a_killed_workers_task_runs_again(scheduler, scenes, tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKER_DIR, str(markers))  # read in this process when the job is built
    victim = tmp_path / "victim.tif"
    victim.write_bytes(scenes[2].read_bytes())
    inputs = [str(scenes[0]), str(victim), str(scenes[1])]
    result = batch(inputs, tmp_path / "out", options=RX, cluster=ClusterRequest(scheduler=scheduler),
                   task=_with_markers(markers))
    assert statuses(result) == {"scene0": "done", "victim": "done", "scene1": "done"}
    attempts = (markers / "victim.attempts").read_text(encoding="utf-8").split()
    assert len(attempts) == 2 and attempts[0] != attempts[1], "killed once, run again elsewhere"
    batch([str(victim)], tmp_path / "serial", options=RX)
    assert_same_raster(tmp_path / "serial" / "victim_score.tif", tmp_path / "out" / "victim_score.tif")
    assert (tmp_path / "out" / "victim_manifest.json").is_file()


def _with_markers(folder):
    """``killing_task`` with the marker folder fixed (workers do not see this process's env)."""

    def task(job, cancel_event):
        os.environ[MARKER_DIR] = str(folder)
        return killing_task(job, cancel_event)

    return task


def test_cancel_stops_running_scenes_and_leaves_no_partial_file(scheduler, tmp_path):
    scenes = write_scenes(tmp_path / "in", 4, bands=16, height=160, width=160)
    options = DetectOptions(method="lrx", tile_size=32)

    class CancelWhenRunning:
        def __init__(self):
            self.cancel = False

        def listen(self, status):
            self.cancel = self.cancel or status.running > 0

        def set_progress(self, percent):
            pass

        def is_canceled(self):
            return self.cancel

    control = CancelWhenRunning()
    with pytest.raises(CancelledError, match="resume continues"):
        batch([str(p) for p in scenes], tmp_path / "out", options=options,
              cluster=ClusterRequest(scheduler=scheduler), progress=control,
              listener=control.listen)
    out = tmp_path / "out"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left"
    rows = (out / "campaign_summary.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert {r.split(",")[1] for r in rows} <= {"done", "cancelled"}
    assert any(r.split(",")[1] == "cancelled" for r in rows)
    for row in rows:
        name, status = row.split(",")[:2]
        assert (out / f"{name}_manifest.json").is_file() == (status == "done")


def test_batch_refuses_bad_numbers_before_any_work(scenes, tmp_path, capsys):
    for extra, words in ((["--workers", "0"], "--workers must be between 1"),
                         (["--retries", "11"], "--retries must be between 0 and 10"),
                         (["--serial", "--workers", "2"], "--serial runs in this process"),
                         (["--memory-limit", "1kB", "--workers", "1"], "between 256MiB")):
        code = main(["batch", str(scenes[0]), "-o", str(tmp_path / "o"), "--method", "rx", *extra])
        # The shared test cluster's scheduler may log a worker its nanny restarts after an earlier
        # test killed one (seen with Debian 13's distributed), as INFO lines or as logging's
        # report of a stream pytest closed; the command's own output is its "dms2f-had:" lines.
        stderr = capsys.readouterr().err
        err = [line for line in stderr.strip().splitlines()
               if line.startswith("dms2f-had:") and ": INFO: " not in line]
        assert code == 1 and len(err) == 1 and words in err[0], (extra, err)
        assert "Traceback" not in stderr, stderr
    assert not (tmp_path / "o" / "scene0_score.tif").exists()


def test_serial_campaign_needs_no_cluster(scenes, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_module, "open_cluster", None)  # never called on the serial path
    result = batch([str(scenes[0])], tmp_path / "o", options=RX)
    assert result.cluster is None and statuses(result) == {"scene0": "done"}
