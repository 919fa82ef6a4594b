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
from ..io.destinations import write_failure
from ..io.gdalutil import GdalCallError, closing_errors, gdal_call, ogr_driver, open_vector
from ..io.tiles import iter_windows
from ..io.writer import Outputs, atomic_output
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
    memory = ogr_driver("Memory").CreateDataSource("dms2f_polygons")
    layer = memory.CreateLayer("raw", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    try:
        gdal_call(gdal.Polygonize, label_ds.GetRasterBand(1), mask_ds.GetRasterBand(1), layer, 0,
                  ["8CONNECTED=8"])
    except GdalCallError as failure:
        raise OutputError(f"Polygonizing the anomaly mask failed ({failure.reason}).") from None
    merged: dict[int, ogr.Geometry] = {}
    for feature in layer:
        key = feature.GetField("id")
        geom = feature.GetGeometryRef().Clone()
        merged[key] = geom if key not in merged else merged[key].Union(geom)
    return merged


def write_detections(mask: np.ndarray, source: RasterSource, vector_path: Path,
                     progress: Progress | None = None, *, outputs: Outputs | None = None) -> int:
    """Write one polygon per 8-connected object of ``mask == 1`` into a GeoPackage.

    Args:
        mask: uint8 ``(height, width)`` from :func:`.threshold.build_mask`.
        source: the score raster (values and georeferencing).
        vector_path: the ``.gpkg`` to write (validated by the caller; written atomically).
        progress: progress sink.
        outputs: the run's transaction when the polygons are published with the mask.

    Returns:
        The number of objects written.

    Raises:
        OutputError: the GeoPackage cannot be written (every OGR and SQLite error is checked,
            the COMMIT included, and the closed file is reopened and its features counted).
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
        try:
            gdal_call(srs.ImportFromWkt, source.info.crs_wkt)
        except GdalCallError as failure:
            raise OutputError(f"The CRS of '{source.path}' cannot be written to the detections "
                              f"({failure.reason}).") from None
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    else:  # GeoPackage's "undefined Cartesian" (srs_id -1), not its undefined *geographic* SRS
        srs.SetLocalCS("Undefined cartesian SRS")
    geometries = _polygonize(labels, tuple(gt), srs)
    del labels
    rows = [_feature_values(key, stats, geometries[key], gt) for key in range(1, count + 1)]
    with atomic_output(vector_path, sidecars=("-wal", "-shm", "-journal"), outputs=outputs,
                       verify=lambda temp: _verify_layer(temp, count)) as temp:
        _write_gpkg(temp, vector_path, srs, rows)
    progress.set_progress(100.0)
    LOGGER.info("Wrote %d detection polygon(s) to '%s'", count, vector_path)
    return count


def _feature_values(key: int, stats: dict[str, np.ndarray], geometry: ogr.Geometry,
                    gt: tuple[float, ...]) -> tuple[ogr.Geometry, dict[str, float | int]]:
    """The multipolygon and the field values of object ``key``."""
    n = stats["n"][key]
    col, row = stats["col"][key] / n, stats["row"][key] / n
    geom = ogr.ForceToMultiPolygon(geometry)
    return geom, {"id": key, "area_px": int(n), "area_map": geom.GetArea(),
                  "max_score": float(stats["max"][key]), "mean_score": float(stats["sum"][key] / n),
                  "centroid_x": gt[0] + col * gt[1] + row * gt[2],
                  "centroid_y": gt[3] + col * gt[4] + row * gt[5]}


def _write_gpkg(temp: Path, final: Path, srs: osr.SpatialReference,
                rows: list[tuple[ogr.Geometry, dict[str, float | int]]]) -> None:
    """Write the detections layer into a new GeoPackage at ``temp``, checking every OGR call.

    Raises:
        OutputError: any OGR/SQLite error, the COMMIT and the close included, naming the OS's
            reason (asked before SQLite rolls back and gives the space back).
    """
    ds = None
    try:
        ds = gdal_call(ogr_driver("GPKG").CreateDataSource, str(temp))
        if ds is None:
            raise GdalCallError("the GeoPackage driver could not create it")
        layer = gdal_call(ds.CreateLayer, LAYER_NAME, srs=srs, geom_type=ogr.wkbMultiPolygon)
        if layer is None:
            raise GdalCallError("the detections layer could not be created")
        for name, kind in FIELDS:
            gdal_call(layer.CreateField, ogr.FieldDefn(name, kind), ogr_error_code=True)
        defn = layer.GetLayerDefn()
        gdal_call(layer.StartTransaction, ogr_error_code=True)
        for geom, values in rows:
            feature = ogr.Feature(defn)
            feature.SetGeometry(geom)
            for name, value in values.items():
                feature.SetField(name, value)
            gdal_call(layer.CreateFeature, feature, ogr_error_code=True)
        gdal_call(layer.CommitTransaction, ogr_error_code=True)
        gdal_call(ds.FlushCache)
        layer = defn = None
        with closing_errors() as errors:
            ds = None
        if errors:
            raise GdalCallError(errors[0])
    except GdalCallError as failure:
        error = write_failure(final, failure.reason, temp)
        with closing_errors():  # closing a failed GeoPackage reports more SQLite errors: quietly
            layer = defn = feature = None
            ds = None
        raise error from None
    except BaseException:
        with closing_errors():
            layer = defn = feature = None
            ds = None
        raise


def _verify_layer(temp: Path, count: int) -> None:
    """Reopen a written GeoPackage: its detections layer must hold ``count`` features.

    Raises:
        GdalCallError: the file does not open or the layer is missing or short.
    """
    ds = open_vector(str(temp))
    layer = ds.GetLayerByName(LAYER_NAME) if ds is not None else None
    if layer is None:
        raise GdalCallError(f"the layer '{LAYER_NAME}' is missing")
    found = gdal_call(layer.GetFeatureCount)
    if found != count:
        raise GdalCallError(f"the layer holds {found} of {count} features")
