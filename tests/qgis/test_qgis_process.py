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
