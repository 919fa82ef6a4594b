"""``dms2f:detect_many`` in real QGIS: a campaign on a local Dask cluster and on a scheduler
address, progress per raster, resume, failures, cancel."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from cluster_support import user_cluster, write_scenes
from qgis_support import read_raster

pytestmark = pytest.mark.usefixtures("dms2f_plugin")


class RecordingFeedback:
    """A ``QgsProcessingFeedback`` that records progress and messages; may cancel on a message."""

    def __new__(cls, cancel_on: str | None = None):
        from qgis.core import QgsProcessingFeedback

        class Recording(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.progress, self.infos, self.errors = [], [], []

            def setProgress(self, value):  # noqa: N802 - QGIS API
                self.progress.append(value)
                super().setProgress(value)

            def pushInfo(self, text):  # noqa: N802 - QGIS API
                self.infos.append(text)
                if cancel_on and cancel_on in text:
                    self.cancel()

            def reportError(self, text, fatal=False):  # noqa: N802 - QGIS API
                self.errors.append(text)

        return Recording()


def run(parameters, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return processing.run("dms2f:detect_many", parameters, feedback=feedback, context=context)


@pytest.fixture(scope="module")
def rasters(scene, tmp_path_factory):
    """Two copies of the georeferenced scene under different names."""
    folder = tmp_path_factory.mktemp("campaign")
    paths = []
    for name in ("line_a.tif", "line_b.tif"):
        shutil.copy(scene.cube, folder / name)
        paths.append(str(folder / name))
    return paths


def test_campaign_on_a_local_cluster_matches_the_single_raster_algorithm(rasters, tmp_path):
    import processing

    feedback = RecordingFeedback()
    out = tmp_path / "out"
    result = run({"INPUTS": rasters, "METHOD": 1, "THRESHOLD": 1, "WORKERS": 2,
                  "OUTPUT_FOLDER": str(out)}, feedback)
    assert (result["DONE"], result["FAILED"]) == (2, 0)
    assert sorted(Path(s).name for s in result["SCORES"]) == ["line_a_score.tif", "line_b_score.tif"]
    assert Path(result["SUMMARY"]).is_file() and (out / "line_a_mask.tif").is_file()
    assert (out / "line_a_score.qml").is_file(), "scores open with the heatmap style"
    single = processing.run("dms2f:rx_detector", {"INPUT": rasters[0],
                                                 "OUTPUT": str(tmp_path / "single.tif")})
    campaign, _, _ = read_raster(str(out / "line_a_score.tif"))
    alone, _, _ = read_raster(single["OUTPUT"])
    assert campaign.tobytes() == alone.tobytes()
    assert any("2 raster(s) on local Dask cluster: 2 worker(s)" in t for t in feedback.infos)
    assert sum("done in" in t for t in feedback.infos) == 2
    assert 50.0 in feedback.progress and feedback.progress[-1] == 100.0


def test_scheduler_address_resume_and_a_failing_raster(rasters, tmp_path):
    broken = tmp_path / "broken.tif"
    out = tmp_path / "out"
    with user_cluster(2) as address:
        first = run({"INPUTS": rasters, "METHOD": 1, "SCHEDULER": address,
                     "OUTPUT_FOLDER": str(out)})
        assert first["DONE"] == 2
        shutil.copy(rasters[0], broken)  # valid when QGIS checks it, truncated before it runs
        feedback = RecordingFeedback()
        again = run({"INPUTS": [*rasters, str(broken)], "METHOD": 1, "SCHEDULER": address,
                     "RESUME": True, "OUTPUT_FOLDER": str(out)},
                    _truncating(feedback, broken))
    assert (again["DONE"], again["FAILED"]) == (0, 1)
    assert any("2 raster(s) already complete: skipped" in t for t in feedback.infos)
    assert len(feedback.errors) == 1 and feedback.errors[0].startswith("broken failed: ")
    assert len(again["SCORES"]) == 2


def _truncating(feedback, path):
    """Truncate ``path`` when the campaign starts (after QGIS's parameter checks)."""
    original = feedback.pushInfo

    def push(text):
        if "raster(s) on" in text:
            Path(path).write_bytes(Path(path).read_bytes()[:300])
        original(text)

    feedback.pushInfo = push
    return feedback


def test_cancel_stops_the_campaign_without_partial_files(tmp_path):
    from qgis.core import QgsProcessingException

    rasters = write_scenes(tmp_path / "in", 3, bands=16, height=200, width=200)
    feedback = RecordingFeedback(cancel_on="raster(s) on")
    out = tmp_path / "out"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUTS": [str(r) for r in rasters], "METHOD": 2, "TILE_SIZE": 32, "WORKERS": 2,
             "OUTPUT_FOLDER": str(out)}, feedback)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert (out / "campaign_summary.csv").is_file()


def test_one_band_raster_is_refused_before_anything_runs(scene, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="1 band"):
        run({"INPUTS": [scene.one_band], "METHOD": 1, "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert not (tmp_path / "o").exists()


def test_worker_python_is_this_installations_interpreter(monkeypatch):
    from dms2f_had.dms2f_plugin import private_env
    from dms2f_had.dms2f_plugin.qgis.algorithms import detect_many

    monkeypatch.setattr(private_env, "LAST_ACTIVATION", None)
    assert detect_many.worker_python() is None  # pytest runs in this Python: keep it
    for foreign in ("/usr/bin/qgis", "/opt/other-python/bin/python3.11"):  # QGIS, or PATH's python3
        monkeypatch.setattr(detect_many.sys, "executable", foreign)
        python = detect_many.worker_python()
        assert python is not None and Path(python).name.startswith("python")
        assert Path(sys.base_prefix).resolve() in Path(python).resolve().parents
    env = Path(sys.prefix)
    monkeypatch.setattr(private_env, "LAST_ACTIVATION", private_env.Activation(
        "appended", env, None, "test"))
    assert detect_many.worker_python() == str(env / "bin" / "python")
