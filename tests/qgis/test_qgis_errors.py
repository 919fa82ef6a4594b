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
    (1, -1.0, "k must be positive"),
    (3, None, "needs a score value"),
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
