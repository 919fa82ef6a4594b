"""The algorithms from the command line: ``qgis_process`` with only the plugin folder and a
throw-away profile (see ``scripts/qgis_headless.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr
from qgis_support import GEOTRANSFORM, read_raster, same_crs

pytestmark = pytest.mark.slow

ALGORITHMS = ["dms2f:detect_anomalies", "dms2f:detect_with_model", "dms2f:rx_detector",
              "dms2f:detect_many", "dms2f:threshold_anomalies", "dms2f:evaluate_detection",
              "dms2f:import_benchmark", "dms2f:detect_and_threshold"]


def test_every_algorithm_is_listed_and_documented(qgis_process):
    listing = qgis_process("list")
    assert listing.returncode == 0, listing.stdout
    for alg_id in ALGORITHMS:
        assert alg_id in listing.stdout
    help_text = qgis_process("help", "dms2f:threshold_anomalies")
    assert help_text.returncode == 0, help_text.stdout
    for name in ("INPUT", "METHOD", "VALUE", "MIN_SIZE", "OUTPUT", "DETECTIONS"):
        assert name in help_text.stdout


def test_rx_threshold_and_evaluate_from_the_command_line(qgis_process, scene, tmp_path):
    score, mask, gpkg, report = (tmp_path / n for n in ("score.tif", "mask.tif", "det.gpkg", "r.html"))
    rx = qgis_process.run("dms2f:rx_detector", {"INPUT": scene.envi, "OUTPUT": score})
    assert Path(rx["results"]["OUTPUT"]) == score and score.with_suffix(".qml").is_file()
    values, geotransform, wkt = read_raster(str(score))
    assert geotransform == pytest.approx(GEOTRANSFORM) and same_crs(wkt)

    th = qgis_process.run("dms2f:threshold_anomalies", {"INPUT": score, "METHOD": 1, "VALUE": 3,
                                                        "OUTPUT": mask, "DETECTIONS": gpkg})
    flagged = read_raster(str(mask))[0] == 1
    assert np.array_equal(flagged, values > th["results"]["THRESHOLD"])
    detections = ogr.Open(str(gpkg))  # keep the dataset while its layer is used
    assert detections.GetLayer(0).GetFeatureCount() == th["results"]["COUNT"] > 0

    ev = qgis_process.run("dms2f:evaluate_detection", {"INPUT": score, "GROUND_TRUTH": scene.truth,
                                                       "OUTPUT": report})
    assert ev["results"]["AUC"] > 0.95 and report.is_file()


def test_errors_reach_the_command_line_as_messages(qgis_process, scene, tmp_path):
    done = qgis_process("run", "dms2f:rx_detector", "--", f"INPUT={scene.one_band}",
                        f"OUTPUT={tmp_path / 's.tif'}")
    assert done.returncode != 0
    assert "1 band(s)" in done.stdout and "at least 2" in done.stdout
    assert "Traceback" not in done.stdout


def test_campaign_starts_local_workers_from_qgis_process(qgis_process, scene, tmp_path):
    """Inside QGIS ``sys.executable`` is no plain Python: the workers must still start."""
    import json
    import shutil

    rasters = [tmp_path / "a.tif", tmp_path / "b.tif"]
    for raster in rasters:
        shutil.copy(scene.cube, raster)
    done = qgis_process("--json", "run", "dms2f:detect_many", "--",
                        *(f"INPUTS={r}" for r in rasters), "METHOD=1", "WORKERS=2",
                        f"OUTPUT_FOLDER={tmp_path / 'out'}")
    assert done.returncode == 0, done.stdout
    results = json.loads(done.stdout[done.stdout.index("{"):])["results"]
    assert (results["DONE"], results["FAILED"]) == (2, 0)
    for name in ("a", "b"):
        score, geotransform, wkt = read_raster(str(tmp_path / "out" / f"{name}_score.tif"))
        assert np.isfinite(score).all() and geotransform == pytest.approx(GEOTRANSFORM)
