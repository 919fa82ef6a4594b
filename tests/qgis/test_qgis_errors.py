"""Bad inputs and cancellation end with a clear ``QgsProcessingException`` and leave no file."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("dms2f_plugin")


def run(algorithm: str, parameters: dict, feedback=None) -> dict:
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return processing.run(algorithm, parameters, feedback=feedback or QgsProcessingFeedback(),
                          context=context)


def failure(algorithm: str, parameters: dict, feedback=None) -> str:
    """Run ``algorithm`` expecting a QgsProcessingException; return its message."""
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as info:
        run(algorithm, parameters, feedback)
    return str(info.value)


@pytest.mark.parametrize("alg_id", ["dms2f:rx_detector", "dms2f:detect_anomalies"])
def test_one_band_raster_is_refused_with_the_band_count(scene, tmp_path, alg_id):
    message = failure(alg_id, {"INPUT": scene.one_band, "OUTPUT": str(tmp_path / "s.tif")})
    assert "1 band" in message and "at least 2" in message
    assert not (tmp_path / "s.tif").exists()


def test_non_gdal_raster_layer_is_refused_naming_its_provider(tmp_path):
    from qgis.core import QgsRasterLayer

    xyz = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmax=19&zmin=0", "tiles", "wms")
    assert xyz.isValid() and xyz.providerType() == "wms"
    message = failure("dms2f:rx_detector", {"INPUT": xyz, "OUTPUT": str(tmp_path / "s.tif")})
    assert "'wms'" in message and "GeoTIFF" in message


def test_vector_layer_as_raster_input_is_refused(tmp_path):
    from qgis.core import QgsVectorLayer

    memory = QgsVectorLayer("Point?crs=EPSG:32611", "points", "memory")
    message = failure("dms2f:threshold_anomalies", {"INPUT": memory, "OUTPUT": str(tmp_path / "m.tif"),
                                                    "DETECTIONS": str(tmp_path / "d.gpkg")})
    assert "INPUT" in message or "raster" in message.lower()


def test_bad_band_selection_names_the_band(scene, tmp_path):
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "BANDS": "1-99",
                                            "OUTPUT": str(tmp_path / "s.tif")})
    assert "99" in message and "12" in message


def test_outer_window_must_exceed_inner(scene, tmp_path):
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "METHOD": 1, "INNER_WINDOW": 9,
                                            "OUTER_WINDOW": 9, "OUTPUT": str(tmp_path / "s.tif")})
    assert "outer window (9 px)" in message and "inner window (9 px)" in message


@pytest.mark.parametrize("method, value, expected", [
    (0, 150.0, "between 0 and 100"),
    (1, -1.0, "is k and must be positive"),
    (3, None, "method needs 'Threshold value (empty = default)'"),
])
def test_threshold_values_are_checked(scene, tmp_path, method, value, expected):
    params = {"INPUT": scene.truth, "METHOD": method, "OUTPUT": str(tmp_path / "m.tif"),
              "DETECTIONS": str(tmp_path / "d.gpkg")}
    if value is not None:
        params["VALUE"] = value
    assert expected in failure("dms2f:threshold_anomalies", params)


def test_wrong_model_file_is_refused(scene, tmp_path):
    model = tmp_path / "not_a_model.safetensors"
    model.write_text("this is not a DMS2F-HAD model", encoding="utf-8")
    message = failure("dms2f:detect_with_model", {"INPUT": scene.cube, "MODEL": str(model),
                                                  "OUTPUT": str(tmp_path / "s.tif")})
    assert "not_a_model.safetensors" in message
    assert not (tmp_path / "s.tif").exists()


def test_cancel_after_the_first_tile_leaves_no_file(scene, tmp_path):
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _progress: feedback.cancel())
    out = tmp_path / "score.tif"
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "TILE_SIZE": 32, "OUTPUT": str(out)},
                      feedback)
    assert "ancel" in message
    assert list(tmp_path.iterdir()) == []


def test_unexpected_errors_become_processing_exceptions_with_diagnostics(scene, tmp_path, monkeypatch):
    from dms2f_had.dms2f_plugin.engine.app import jobs

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(jobs, "detect", broken)
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(tmp_path / "s.tif")})
    assert "ZeroDivisionError: boom" in message
    assert "report it at https://" in message and "DMS2F-HAD diagnostics" in message


@pytest.mark.parametrize("window", [4, 1])
def test_local_window_is_checked_before_the_run_in_the_dialogs_words(scene, tmp_path, window):
    message = failure("dms2f:detect_anomalies", {"INPUT": scene.cube, "LOCAL_WINDOW": window,
                                                 "OUTPUT": str(tmp_path / "s.tif")})
    assert ("'Local background window (pixels, odd; empty = automatic, 0 = off)' must be empty "
            "(automatic), 0 (off) or an odd number") in message
    assert "local_window" not in message and not (tmp_path / "s.tif").exists()


def test_local_rx_windows_must_be_odd(scene, tmp_path):
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "METHOD": 1, "INNER_WINDOW": 4,
                                            "OUTER_WINDOW": 21, "OUTPUT": str(tmp_path / "s.tif")})
    assert "'Inner (guard) window, pixels (local RX)' must be an odd number" in message


def test_missing_model_file_is_refused_before_the_run(scene, tmp_path):
    message = failure("dms2f:detect_with_model", {"INPUT": scene.cube,
                                                  "MODEL": str(tmp_path / "absent.safetensors"),
                                                  "OUTPUT": str(tmp_path / "s.tif")})
    assert "'Model file'" in message and "does not exist" in message


def test_evaluate_refuses_the_score_as_its_own_ground_truth(scene, tmp_path):
    score = str(tmp_path / "score.tif")
    run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    message = failure("dms2f:evaluate_detection", {"INPUT": score, "GROUND_TRUTH": score,
                                                   "OUTPUT": str(tmp_path / "r.html")})
    assert "is the anomaly score itself" in message and not (tmp_path / "r.html").exists()


def test_evaluate_guesses_no_ground_truth(scene, tmp_path):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("dms2f:evaluate_detection")
    assert alg.parameterDefinition("GROUND_TRUTH").defaultValue() is None
    message = failure("dms2f:evaluate_detection", {"INPUT": scene.truth, "OUTPUT": str(tmp_path / "r.html")})
    assert "Choose the 'Ground truth (raster or polygons)'" in message


@pytest.mark.parametrize("engine_message, expected", [
    ("Out of memory; use a smaller --tile-size (e.g. 256) or fewer bands (--bands).",
     "use a smaller 'Tile size (pixels)' (e.g. 256) or fewer bands ('Bands (e.g. 1-10,15; empty = all "
     "good bands)')."),
    ("local_window must be 0 (off) or an odd number >= 3, got 4; e.g. 15.",
     "'Local background window (pixels, odd; empty = automatic, 0 = off)' must be 0 (off)"),
    ("The score raster has 3 bands; give the single-band score raster written by 'dms2f-had detect'.",
     "written by 'Detect anomalies (DMS2F-HAD)' or 'RX anomaly detector'."),
    ("CUDA is not available: check the NVIDIA driver, or use --device cpu / auto.",
     "or choose CPU or Auto as 'Device'."),
    ("Threshold method 'value' needs a score value; pass --value X.",
     "needs a score value; set 'Threshold value (empty = default)'."),
])
def test_engine_messages_are_shown_in_the_dialogs_words(engine_message, expected):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById("dms2f:detect_anomalies")
    if "value" in engine_message:
        alg = QgsApplication.processingRegistry().createAlgorithmById("dms2f:threshold_anomalies")
    shown = alg.in_qgis_words(engine_message)
    assert expected in shown, shown
    assert "--" not in shown and "dms2f-had" not in shown


def test_an_engine_error_reaches_the_user_in_the_dialogs_words(scene, tmp_path, monkeypatch):
    from dms2f_had.dms2f_plugin.engine.app import jobs
    from dms2f_had.dms2f_plugin.engine.errors import InputError

    def out_of_memory(*args, **kwargs):
        raise InputError("Out of memory; use a smaller --tile-size (e.g. 256) or fewer bands (--bands).")

    monkeypatch.setattr(jobs, "detect", out_of_memory)
    message = failure("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(tmp_path / "s.tif")})
    assert "'Tile size (pixels)'" in message and "--tile-size" not in message


def test_engine_log_lines_are_shown_in_the_dialogs_words(scene, tmp_path, monkeypatch):
    import logging

    from qgis.core import QgsProcessingFeedback

    from dms2f_had.dms2f_plugin.engine.app import jobs
    from dms2f_had.dms2f_plugin.engine.errors import InputError

    class Recording(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, warning):  # noqa: N802
            self.warnings.append(warning)

    def warns(*args, **kwargs):
        logging.getLogger("dms2f_had.dms2f_plugin.engine.io.statistics").warning(
            "2 constant band(s) kept (harmless), or leave them out with --bands.")
        raise InputError("stop here")

    monkeypatch.setattr(jobs, "detect", warns)
    feedback = Recording()
    failure("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": str(tmp_path / "s.tif")}, feedback)
    assert feedback.warnings == ["2 constant band(s) kept (harmless), or leave them out with 'Bands "
                                 "(e.g. 1-10,15; empty = all good bands)'."]
