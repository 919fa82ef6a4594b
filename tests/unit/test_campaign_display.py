"""What a campaign shows while it runs, and how a task's failure becomes a scene's outcome."""

from __future__ import annotations

import io

import distributed
import pytest

from dms2f_had.dms2f_plugin.engine.app.batch import CampaignStatus, _outcome
from dms2f_had.dms2f_plugin.engine.app.batch_cli import CampaignDisplay
from dms2f_had.dms2f_plugin.engine.app.campaign import DetectOptions, SceneJob, SceneOutputs
from dms2f_had.dms2f_plugin.engine.app.scene_task import SceneOutcome


class Tty(io.StringIO):
    def isatty(self):
        return True


def status(**kwargs):
    base = {"total": 3, "done": 0, "failed": 0, "skipped": 1, "running": 2, "queued": 0,
            "cluster": "local Dask cluster: 2 worker(s)", "dashboard": "http://127.0.0.1:1/status"}
    return CampaignStatus(**{**base, **kwargs})


def test_display_names_the_cluster_each_scene_and_keeps_a_status_line():
    stream = Tty()
    display = CampaignDisplay(stream, live=True)
    display(status())
    display(status(done=1, running=1, finished=SceneOutcome("a", "/a.tif", "done", 2.5, 900.0)))
    display(status(done=1, failed=1, running=0,
                   finished=SceneOutcome("b", "/b.tif", "failed", 0.1, error="Cannot open")))
    display.finish()
    text = stream.getvalue()
    assert "campaign: 3 scene(s) on local Dask cluster: 2 worker(s); dashboard http://127.0.0.1:1" \
        in text
    assert "1 scene(s) complete from an earlier run: skipped" in text
    assert "[2/3] done   a (2.5 s, peak 900 MB)\n" in text
    assert "[3/3] failed b: Cannot open\n" in text
    assert text.rstrip("\n").endswith("done 1 | failed 1 | skipped 1 | running 0 | queued 0")


def test_display_without_a_terminal_prints_plain_lines():
    stream = io.StringIO()
    display = CampaignDisplay(stream, live=False)
    display(status(cluster=None, dashboard=None, skipped=0))
    display(status(done=1, finished=SceneOutcome("a", "/a.tif", "done", 1.0)))
    assert stream.getvalue() == ("campaign: 3 scene(s) in this process, one after the other\n"
                                 "[2/3] done   a (1.0 s)\n")


class Finished:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture
def job(tmp_path):
    outputs = SceneOutputs(score=tmp_path / "s_score.tif", manifest=tmp_path / "s_manifest.json")
    return SceneJob("s", "/in/s.tif", outputs, DetectOptions(method="rx"))


def test_a_task_whose_workers_keep_dying_is_a_failed_scene(job):
    outcome = _outcome(Finished(error=distributed.KilledWorker("k", "tcp://w", 3)), job)
    assert outcome.status == "failed" and "died repeatedly" in outcome.error
    assert "--memory-limit" in outcome.error


def test_an_unexpected_exception_is_a_failed_scene_with_one_line(job):
    outcome = _outcome(Finished(error=ZeroDivisionError("division\nby zero")), job)
    assert outcome.error == "internal error: ZeroDivisionError: division by zero"


def test_a_task_returning_something_else_is_a_bug(job):
    with pytest.raises(TypeError):
        _outcome(Finished(value=42), job)
