"""Outputs open styled: a post-processor when Processing loads them, a ``.qml`` sidecar otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from qgis_support import read_raster

pytestmark = pytest.mark.usefixtures("dms2f_plugin")


@pytest.fixture
def project():
    from qgis.core import QgsProject

    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()


def loaded(project, name_part: str):
    [layer] = [lyr for lyr in project.mapLayers().values() if lyr.source().endswith(name_part)]
    return layer


def test_loaded_score_mask_and_detections_are_styled(project, scene, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    score = str(tmp_path / "score.tif")
    processing.runAndLoadResults("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score},
                                 feedback=QgsProcessingFeedback())
    processing.runAndLoadResults("dms2f:threshold_anomalies", {
        "INPUT": score, "OUTPUT": str(tmp_path / "mask.tif"), "DETECTIONS": str(tmp_path / "det.gpkg")},
        feedback=QgsProcessingFeedback())

    renderer = loaded(project, "score.tif").renderer()
    assert renderer.type() == "singlebandpseudocolor"
    values, _, _ = read_raster(score)
    low, high = np.nanpercentile(values, [2, 98])
    assert renderer.classificationMin() == pytest.approx(low, rel=0.05, abs=0.05)
    assert renderer.classificationMax() == pytest.approx(high, rel=0.05)
    assert len(renderer.shader().rasterShaderFunction().colorRampItemList()) >= 2

    mask = loaded(project, "mask.tif").renderer()
    assert mask.type() == "paletted"
    colors = {c.value: c.color for c in mask.classes()}
    assert colors[0].alpha() == 0 and colors[1].red() > 200 and colors[1].alpha() == 255

    detections = next(lyr for lyr in project.mapLayers().values() if "det.gpkg" in lyr.source())
    symbol = detections.renderer().symbol()
    assert symbol.color().alpha() == 0


def test_sidecars_style_files_opened_later(scene, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    score, mask, gpkg = (str(tmp_path / n) for n in ("score.tif", "mask.tif", "det.gpkg"))
    processing.run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    processing.run("dms2f:threshold_anomalies", {"INPUT": score, "OUTPUT": mask, "DETECTIONS": gpkg})
    assert QgsRasterLayer(score, "s", "gdal").renderer().type() == "singlebandpseudocolor"
    assert QgsRasterLayer(mask, "m", "gdal").renderer().type() == "paletted"
    assert QgsVectorLayer(gpkg, "d", "ogr").renderer().symbol().color().alpha() == 0
