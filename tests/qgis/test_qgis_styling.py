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
    assert colors[0].alpha() == 0 and 0 < colors[1].alpha() < 255, "see-through: heatmap stays visible"
    assert not on_the_score_ramp(colors[1])

    detections = next(lyr for lyr in project.mapLayers().values() if "det.gpkg" in lyr.source())
    symbol = detections.renderer().symbol()
    assert symbol.color().alpha() == 0

    names = {layer.name() for layer in project.mapLayers().values()}
    assert names == {"Global RX score: scene", "Global RX mask: scene", "Global RX detections: scene"}


def on_the_score_ramp(color, tolerance: int = 60) -> bool:
    """True when ``color`` is close to a colour of the heatmap's magma ramp."""
    from qgis.core import QgsStyle

    ramp = QgsStyle.defaultStyle().colorRamp("Magma")
    for step in range(101):
        c = ramp.color(step / 100)
        if max(abs(c.red() - color.red()), abs(c.green() - color.green()),
               abs(c.blue() - color.blue())) < tolerance:
            return True
    return False


def test_the_ramp_check_can_fail():
    from qgis.PyQt.QtGui import QColor

    assert on_the_score_ramp(QColor(252, 253, 191)) and on_the_score_ramp(QColor(183, 55, 121))


def test_detections_read_on_the_heatmap_with_a_halo_and_rounded_attributes(scene, tmp_path):
    import processing
    from qgis.core import QgsApplication, QgsVectorLayer

    score, gpkg = str(tmp_path / "score.tif"), str(tmp_path / "det.gpkg")
    processing.run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    processing.run("dms2f:threshold_anomalies", {"INPUT": score, "OUTPUT": str(tmp_path / "m.tif"),
                                                 "DETECTIONS": gpkg})
    layer = QgsVectorLayer(gpkg, "d", "ogr")
    halo, core = [layer.renderer().symbol().symbolLayer(i) for i in range(2)]
    assert halo.strokeWidth() > core.strokeWidth()
    assert not on_the_score_ramp(core.strokeColor())
    assert halo.strokeColor().lightness() < 60, "a dark halo keeps the outline visible on bright scores"

    feature = next(layer.getFeatures())
    for name, decimals in (("max_score", 2), ("area_map", 1)):
        index = layer.fields().indexOf(name)
        setup = layer.editorWidgetSetup(index)
        formatter = QgsApplication.fieldFormatterRegistry().fieldFormatter(setup.type())
        shown = formatter.representValue(layer, index, setup.config(), None, feature[name])
        assert shown == f"{feature[name]:.{decimals}f}".replace(".", formatter_decimal_point()), shown


def formatter_decimal_point() -> str:
    from qgis.PyQt.QtCore import QLocale

    return QLocale().decimalPoint()


def test_score_legend_is_rounded(scene, tmp_path):
    import processing
    from qgis.core import QgsNumericFormatContext, QgsRasterLayer

    score = str(tmp_path / "score.tif")
    processing.run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    layer = QgsRasterLayer(score, "s", "gdal")  # keeps the renderer alive
    shader = layer.renderer().shader().rasterShaderFunction()
    labels = [item.label for item in shader.colorRampItemList()]
    assert labels and all(len(label.split(".")[-1]) <= 3 for label in labels), labels
    shown = shader.legendSettings().numericFormat().formatDouble(1.23456789, QgsNumericFormatContext())
    assert len(shown) < len("1.23456789")


def test_sidecars_style_files_opened_later(scene, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    score, mask, gpkg = (str(tmp_path / n) for n in ("score.tif", "mask.tif", "det.gpkg"))
    processing.run("dms2f:rx_detector", {"INPUT": scene.cube, "OUTPUT": score})
    processing.run("dms2f:threshold_anomalies", {"INPUT": score, "OUTPUT": mask, "DETECTIONS": gpkg})
    assert QgsRasterLayer(score, "s", "gdal").renderer().type() == "singlebandpseudocolor"
    assert QgsRasterLayer(mask, "m", "gdal").renderer().type() == "paletted"
    assert QgsVectorLayer(gpkg, "d", "ogr").renderer().symbol().color().alpha() == 0
