"""Anomaly mask -> detection polygons in a GeoPackage, one feature per 8-connected object.

Fields: ``id`` (object number, row-major scan order), ``area_px`` (pixels), ``area_map`` (area in
map units squared: square metres for a projected CRS, pixel units for a raster without CRS),
``max_score``, ``mean_score``, ``centroid_x``, ``centroid_y`` (mean of the object's pixel centres,
in map coordinates).

Polygons follow the score raster's geotransform (rotation included). A raster without a
geotransform gets QGIS's convention for non-georeferenced rasters, ``(0, 1, 0, 0, 0, -1)``, so the
polygons overlay the raster in QGIS, and the layer the GeoPackage's undefined Cartesian SRS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from osgeo import gdal, gdal_array, ogr, osr

from ..errors import OutputError
from ..io.gdalutil import last_gdal_error, quiet_gdal
from ..io.tiles import iter_windows
from ..io.writer import atomic_output
from ..progress import NullProgress, Progress, check_cancel

if TYPE_CHECKING:
    from ..io.raster import RasterSource

LOGGER = logging.getLogger(__name__)
UNGEOREFERENCED = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
LAYER_NAME = "detections"
FIELDS = (("id", ogr.OFTInteger), ("area_px", ogr.OFTInteger64), ("area_map", ogr.OFTReal),
          ("max_score", ogr.OFTReal), ("mean_score", ogr.OFTReal), ("centroid_x", ogr.OFTReal),
          ("centroid_y", ogr.OFTReal))


def _object_statistics(labels: np.ndarray, count: int, source: RasterSource,
                       progress: Progress) -> dict[str, np.ndarray]:
    """Per-label pixel count, score sum/max and pixel-centre sums, read window by window."""
    stats = {"n": np.zeros(count + 1), "sum": np.zeros(count + 1),
             "max": np.full(count + 1, -np.inf), "row": np.zeros(count + 1),
             "col": np.zeros(count + 1)}
    windows = list(iter_windows(source.width, source.height, 1024))
    for i, window in enumerate(windows):
        check_cancel(progress)
        lab = labels[window.slices_in(source.full_window)]  # (h, w)
        if not lab.any():
            continue
        cube, _ = source.read_window(window)  # (1, h, w)
        rows, cols = np.nonzero(lab)
        ids, scores = lab[rows, cols], cube[0, rows, cols].astype(np.float64)
        stats["n"] += np.bincount(ids, minlength=count + 1)
        stats["sum"] += np.bincount(ids, weights=scores, minlength=count + 1)
        stats["row"] += np.bincount(ids, weights=rows + window.row_off + 0.5, minlength=count + 1)
        stats["col"] += np.bincount(ids, weights=cols + window.col_off + 0.5, minlength=count + 1)
        np.maximum.at(stats["max"], ids, scores)
        progress.set_progress(50.0 * (i + 1) / len(windows))
    return stats


def _polygonize(labels: np.ndarray, geotransform: tuple[float, ...],
                srs: osr.SpatialReference) -> dict[int, ogr.Geometry]:
    """Polygons of each label (8-connected), merged per label."""
    label_ds = gdal_array.OpenArray(labels)  # MEM dataset over the labels, no copy
    label_ds.SetGeoTransform(geotransform)
    mask = (labels > 0).astype(np.uint8)  # (H, W), kept alive while GDAL reads it
    mask_ds = gdal_array.OpenArray(mask)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("dms2f_polygons")
    layer = memory.CreateLayer("raw", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    with quiet_gdal():
        err = gdal.Polygonize(label_ds.GetRasterBand(1), mask_ds.GetRasterBand(1), layer, 0,
                              ["8CONNECTED=8"])
        reason = last_gdal_error()
    if err != gdal.CE_None:
        raise OutputError(f"Polygonizing the anomaly mask failed ({reason}).")
    merged: dict[int, ogr.Geometry] = {}
    for feature in layer:
        key = feature.GetField("id")
        geom = feature.GetGeometryRef().Clone()
        merged[key] = geom if key not in merged else merged[key].Union(geom)
    return merged


def write_detections(mask: np.ndarray, source: RasterSource, vector_path: Path,
                     progress: Progress | None = None) -> int:
    """Write one polygon per 8-connected object of ``mask == 1`` into a GeoPackage.

    Args:
        mask: uint8 ``(height, width)`` from :func:`.threshold.build_mask`.
        source: the score raster (values and georeferencing).
        vector_path: the ``.gpkg`` to write (validated by the caller; written atomically).
        progress: progress sink.

    Returns:
        The number of objects written.

    Raises:
        OutputError: the GeoPackage cannot be written.
    """
    from scipy import ndimage

    from .threshold import EIGHT_CONNECTED

    progress = progress or NullProgress()
    labels, count = ndimage.label(mask == 1, structure=EIGHT_CONNECTED)  # (H, W) int32
    labels = labels.astype(np.int32, copy=False)
    stats = _object_statistics(labels, count, source, progress)
    gt = source.info.geotransform or UNGEOREFERENCED
    srs = osr.SpatialReference()
    if source.info.crs_wkt:
        srs.ImportFromWkt(source.info.crs_wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    else:  # GeoPackage's "undefined Cartesian" (srs_id -1), not its undefined *geographic* SRS
        srs.SetLocalCS("Undefined cartesian SRS")
    geometries = _polygonize(labels, tuple(gt), srs)
    del labels
    with atomic_output(vector_path, sidecars=("-wal", "-shm")) as temp:
        with quiet_gdal():
            ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(temp))
            reason = last_gdal_error()
        if ds is None:
            raise OutputError(f"Cannot create '{vector_path}' ({reason}).")
        layer = ds.CreateLayer(LAYER_NAME, srs=srs, geom_type=ogr.wkbMultiPolygon)
        for name, kind in FIELDS:
            layer.CreateField(ogr.FieldDefn(name, kind))
        defn = layer.GetLayerDefn()
        layer.StartTransaction()
        for key in range(1, count + 1):
            n = stats["n"][key]
            col, row = stats["col"][key] / n, stats["row"][key] / n
            feature = ogr.Feature(defn)
            geom = ogr.ForceToMultiPolygon(geometries[key])
            feature.SetGeometry(geom)
            feature.SetField("id", key)
            feature.SetField("area_px", int(n))
            feature.SetField("area_map", geom.GetArea())
            feature.SetField("max_score", float(stats["max"][key]))
            feature.SetField("mean_score", float(stats["sum"][key] / n))
            feature.SetField("centroid_x", gt[0] + col * gt[1] + row * gt[2])
            feature.SetField("centroid_y", gt[3] + col * gt[4] + row * gt[5])
            layer.CreateFeature(feature)
        layer.CommitTransaction()
        ds = None
    progress.set_progress(100.0)
    LOGGER.info("Wrote %d detection polygon(s) to '%s'", count, vector_path)
    return count
