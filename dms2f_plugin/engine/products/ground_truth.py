"""Ground truth on the score's grid, or a clear refusal: never a silent pixel-by-pixel mismatch.

A ground-truth raster must be on exactly the score's grid: same size, same geotransform (within
a thousandth of a pixel) and the same CRS. A shifted, rescaled or distant grid is **refused**, not
resampled: resampling a 0/1 map moves and thickens its targets by up to a pixel, which changes
the AUC of small targets, so the alignment is left to the user, with the command that does it.

Polygons are burnt onto the score's grid; GDAL reprojects them when both sides have a CRS. When
only one side has a CRS the coordinates cannot be related, and polygons that land on no pixel of
the score are refused with the extents, instead of reporting "no anomaly pixel".
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal, osr

from ..errors import InputError
from ..io.gdalutil import GdalCallError, gdal_call
from ..io.rasterinfo import RasterInfo

#: QGIS's frame for rasters without a geotransform (row r, column c at x = c, y = -r).
UNGEOREFERENCED = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
_TOLERANCE_PX = 1e-3


def _srs(wkt: str | None) -> osr.SpatialReference | None:
    if not wkt:
        return None
    srs = osr.SpatialReference()
    try:
        gdal_call(srs.ImportFromWkt, wkt)
    except GdalCallError:
        return None
    return srs


def _crs_name(srs: osr.SpatialReference | None) -> str:
    if srs is None:
        return "no CRS"
    code = srs.GetAuthorityCode(None)
    return f"{srs.GetName()}" + (f" (EPSG:{code})" if code and srs.GetAuthorityName(None) == "EPSG"
                                 else "")


def _extent(gt: tuple[float, ...], width: int, height: int) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` of a raster grid (rotations included)."""
    xs = [gt[0] + c * gt[1] + r * gt[2] for c, r in ((0, 0), (width, 0), (0, height), (width, height))]
    ys = [gt[3] + c * gt[4] + r * gt[5] for c, r in ((0, 0), (width, 0), (0, height), (width, height))]
    return min(xs), min(ys), max(xs), max(ys)


def _describe(box: tuple[float, float, float, float]) -> str:
    return f"x {box[0]:.10g} to {box[2]:.10g}, y {box[1]:.10g} to {box[3]:.10g}"


def check_same_grid(truth: RasterInfo, score: RasterInfo) -> None:
    """Refuse a ground-truth raster that is not on the score's pixel grid.

    Raises:
        InputError: another size, another CRS, an extent that does not overlap the score's, or
            an overlapping grid that is shifted or has another pixel size (with the fix).
    """
    if (truth.width, truth.height) != (score.width, score.height):
        raise InputError(
            f"Ground truth '{truth.path}' is {truth.width} x {truth.height} pixels but the score "
            f"raster is {score.width} x {score.height}; they must be on the same grid "
            "(resample or crop the ground truth to the score raster first).")
    theirs, ours = _srs(truth.crs_wkt), _srs(score.crs_wkt)
    if theirs is not None and ours is not None and not theirs.IsSame(ours):
        raise InputError(f"Ground truth '{truth.path}' is in {_crs_name(theirs)} but the score is in "
                         f"{_crs_name(ours)}; reproject the ground truth onto the score's grid "
                         "first (gdalwarp, or QGIS's Warp (reproject) with the score as target).")
    if truth.geotransform is None or score.geotransform is None:
        return  # a local pixel grid on either side: same size is all that can be compared
    t, s = np.array(truth.geotransform), np.array(score.geotransform)
    pixel = max(abs(s[1]), abs(s[2]), abs(s[4]), abs(s[5]))
    if np.allclose(t, s, rtol=0.0, atol=_TOLERANCE_PX * pixel):
        return
    box_t = _extent(truth.geotransform, truth.width, truth.height)
    box_s = _extent(score.geotransform, score.width, score.height)
    if box_t[0] >= box_s[2] or box_t[2] <= box_s[0] or box_t[1] >= box_s[3] or box_t[3] <= box_s[1]:
        raise InputError(f"Ground truth '{truth.path}' does not overlap the score raster: it covers "
                         f"{_describe(box_t)}, the score {_describe(box_s)}. Give the ground "
                         "truth of this scene.")
    shift = ""
    if np.allclose(t[1:3], s[1:3]) and np.allclose(t[4:6], s[4:6]) and s[2] == 0 and s[4] == 0:
        shift = (f" shifted by {(t[0] - s[0]) / s[1] + 0.0:.6g} column(s) and "
                 f"{(t[3] - s[3]) / s[5] + 0.0:.6g} row(s)")
    else:
        shift = " with another pixel size or rotation"
    fix = ""
    if s[2] == 0 and s[4] == 0:
        fix = (f" (e.g. gdalwarp -te {box_s[0]:.10g} {box_s[1]:.10g} {box_s[2]:.10g} "
               f"{box_s[3]:.10g} -tr {abs(s[1]):.10g} {abs(s[5]):.10g} -r near GT.tif "
               "GT_aligned.tif)")
    raise InputError(f"Ground truth '{truth.path}' is on a grid{shift} from the score's; comparing "
                     "pixel by pixel would misplace every target. Resample it onto the score's "
                     f"grid first{fix}.")


def _undefined(srs: osr.SpatialReference | None) -> bool:
    """True for no CRS and for GeoPackage's placeholders "Undefined geographic/cartesian SRS"."""
    return srs is None or (srs.GetName() or "").lower().startswith("undefined")


def burn_polygons(vector: gdal.Dataset, path: str, score: RasterInfo) -> np.ndarray:
    """Burn every layer of ``vector`` onto the score's grid: uint8 ``(H, W)``, 1 inside polygons.

    Raises:
        InputError: polygons without a CRS over a score with one (or the reverse), or polygons
            that cover no pixel of the score.
    """
    ours = _srs(score.crs_wkt)
    layers = [vector.GetLayer(i) for i in range(vector.GetLayerCount())]
    for layer in layers:
        theirs = layer.GetSpatialRef()
        if _undefined(theirs) and not _undefined(ours):
            raise InputError(
                f"The ground-truth polygons in '{path}' (layer '{layer.GetName()}') have no CRS, "
                f"but the score raster is in {_crs_name(ours)}; assign that CRS to them first "
                "(QGIS: Assign projection; or ogr2ogr -a_srs with the score's CRS).")
        if not _undefined(theirs) and _undefined(ours):
            raise InputError(
                f"The ground-truth polygons in '{path}' are in {_crs_name(theirs)}, but the score "
                "raster has no CRS (a pixel grid), so their positions cannot be related; use "
                "polygons in pixel coordinates, or georeference the scene.")
    target = gdal.GetDriverByName("MEM").Create("", score.width, score.height, 1, gdal.GDT_Byte)
    target.SetGeoTransform(score.geotransform or UNGEOREFERENCED)
    if score.crs_wkt:
        target.SetProjection(score.crs_wkt)
    try:
        for layer in layers:
            gdal_call(gdal.RasterizeLayer, target, [1], layer, burn_values=[1])
    except GdalCallError as failure:
        raise InputError(f"The ground-truth polygons in '{path}' cannot be placed on the score's "
                         f"grid ({failure.reason}).") from None
    labels = target.ReadAsArray()  # (H, W)
    if not labels.any():
        boxes = "; ".join(_layer_box(layer) for layer in layers)
        box_s = _extent(score.geotransform or UNGEOREFERENCED, score.width, score.height)
        raise InputError(f"None of the ground-truth polygons in '{path}' covers a pixel of the "
                         f"score raster: they lie at {boxes} ({_crs_name(layers[0].GetSpatialRef())}"
                         f"), the score at {_describe(box_s)} ({_crs_name(ours)}). Give the ground "
                         "truth of this scene.")
    return labels.astype(np.uint8)


def _layer_box(layer: object) -> str:
    """The extent of an OGR layer, described (or why it has none)."""
    try:
        xmin, xmax, ymin, ymax = gdal_call(layer.GetExtent)  # type: ignore[attr-defined]
    except GdalCallError:
        return "no extent (the layer has no features)"
    return _describe((xmin, ymin, xmax, ymax))
