"""Write the static layer styles (resources/styles/*.qml) from a headless QGIS.

Usage: .venv/bin/python scripts/make_styles.py   (``make styles``)

- ``detections.qml``: detection polygons outlined in cyan, a colour the magma heatmap never uses,
  over a wider dark halo, so they read on dark and on bright parts of the score; the attribute
  table and the Identify panel show rounded numbers (the file keeps full precision).
- ``anomaly_mask.qml``: the mask's anomalies in the same cyan, half transparent (the heatmap and
  the detection outlines stay visible through it), background and nodata transparent.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from osgeo import gdal, ogr, osr

STYLES = Path(__file__).resolve().parent.parent / "resources" / "styles"
CYAN = "0,229,255,255"
HALO = "20,20,20,200"
#: Decimals shown per attribute (the file keeps every digit).
PRECISION = {"area_map": 1, "max_score": 2, "mean_score": 2, "centroid_x": 1, "centroid_y": 1}


def _polygons(folder: Path) -> str:
    path = folder / "detections.gpkg"
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32611)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("detections", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("area_px", ogr.OFTInteger64))
    for name in PRECISION:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
    ds = None
    return str(path)


def _mask(folder: Path) -> str:
    path = folder / "mask.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 4, 4, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((0.0, 1.0, 0.0, 4.0, 0.0, -1.0))
    ds.GetRasterBand(1).SetNoDataValue(255)
    ds.GetRasterBand(1).Fill(1)
    ds = None
    return str(path)


def detections_style(layer) -> None:
    from qgis.core import QgsEditorWidgetSetup, QgsFillSymbol, QgsSingleSymbolRenderer

    symbol = QgsFillSymbol.createSimple({"color": "0,0,0,0", "style": "no", "outline_color": HALO,
                                         "outline_width": "1.4", "outline_width_unit": "MM",
                                         "joinstyle": "round"})
    core = QgsFillSymbol.createSimple({"color": "0,0,0,0", "style": "no", "outline_color": CYAN,
                                       "outline_width": "0.6", "outline_width_unit": "MM",
                                       "joinstyle": "round"})
    symbol.appendSymbolLayer(core.symbolLayer(0).clone())
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    for name, decimals in PRECISION.items():
        index = layer.fields().indexOf(name)
        layer.setEditorWidgetSetup(index, QgsEditorWidgetSetup("Range", {
            "Precision": decimals, "Style": "SpinBox", "AllowNull": True,
            "Min": -1.7976931348623157e308, "Max": 1.7976931348623157e308, "Step": 1}))


def mask_style(layer) -> None:
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    classes = [QgsPalettedRasterRenderer.Class(0, QColor(0, 0, 0, 0), "background"),
               QgsPalettedRasterRenderer.Class(1, QColor(0, 229, 255, 120), "anomaly")]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


def main() -> int:
    from qgis.core import QgsApplication, QgsMapLayer, QgsRasterLayer, QgsVectorLayer

    app = QgsApplication([], False)  # noqa: F841 - must stay alive while QGIS runs
    app.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))  # processing
    from dms2f_had.dms2f_plugin.qgis.model_builder import canonical_xml

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        detections = QgsVectorLayer(_polygons(folder), "detections", "ogr")
        detections_style(detections)
        mask = QgsRasterLayer(_mask(folder), "mask", "gdal")
        mask_style(mask)
        styles = ((detections, "detections.qml", QgsMapLayer.Symbology | QgsMapLayer.Fields
                   | QgsMapLayer.Forms),
                  (mask, "anomaly_mask.qml", QgsMapLayer.Symbology))
        for layer, name, categories in styles:
            message, ok = layer.saveNamedStyle(str(STYLES / name), categories)
            if not ok:
                print(message, file=sys.stderr)
                return 1
            path = STYLES / name  # attributes sorted: Qt writes them in a random order
            path.write_text(canonical_xml(path.read_text(encoding="utf-8")), encoding="utf-8")
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
