"""A quick-look PNG of a score raster: percentile stretch, pseudocolor ramp, transparent nodata.

Written through GDAL's PNG driver (no Pillow or matplotlib needed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..errors import InputError, RasterReadError
from ..io.destinations import write_failure
from ..io.gdalutil import GdalCallError, closing_errors, gdal_call, open_gdal
from ..io.writer import atomic_output, validate_output_path
from ..types import PathLike

#: Control points of the ramp (position, R, G, B): a perceptually ordered dark-to-bright ramp
#: close to matplotlib's "inferno".
RAMP = np.array([(0.00, 0, 0, 4), (0.25, 87, 16, 110), (0.50, 188, 55, 84),
                 (0.75, 249, 142, 9), (1.00, 252, 255, 164)], dtype=np.float64)


def colour_lut(size: int = 256) -> np.ndarray:
    """The ramp sampled at ``size`` steps: uint8 ``(size, 3)``."""
    x = np.linspace(0.0, 1.0, size)
    return np.stack([np.interp(x, RAMP[:, 0], RAMP[:, c]) for c in (1, 2, 3)],
                    axis=1).round().astype(np.uint8)


def write_quicklook(score_path: PathLike, png_path: PathLike, *, max_size: int = 1024,
                    low: float = 2.0, high: float = 98.0) -> Path:
    """Render a score raster to a pseudocolor PNG.

    Args:
        score_path: single-band score raster.
        png_path: output .png (written atomically).
        max_size: longest side of the PNG; larger rasters are read decimated by GDAL.
        low: percentile mapped to the darkest colour.
        high: percentile mapped to the brightest colour.

    Returns:
        The PNG path.

    Raises:
        RasterReadError: unreadable score raster.
        InputError: no valid score.
        OutputError: the PNG cannot be written.
    """
    out = validate_output_path(png_path, inputs=[score_path], extensions=(".png",),
                               what="quick-look")
    ds = open_gdal(os.fspath(score_path))
    band = ds.GetRasterBand(1)
    scale = min(1.0, max_size / max(ds.RasterXSize, ds.RasterYSize))
    width = max(1, round(ds.RasterXSize * scale))
    height = max(1, round(ds.RasterYSize * scale))
    try:
        values = gdal_call(band.ReadAsArray, buf_xsize=width, buf_ysize=height)  # (h, w)
    except GdalCallError as failure:
        raise RasterReadError(f"Reading '{score_path}' failed ({failure.reason}); the file is "
                              "probably truncated or corrupt.") from None
    values = values.astype(np.float64)  # (h, w)
    nodata = band.GetNoDataValue()
    valid = np.isfinite(values)
    if nodata is not None and not np.isnan(nodata):
        valid &= values != nodata
    if not valid.any():
        raise InputError(f"'{score_path}' has no valid score to draw.")
    lo, hi = np.percentile(values[valid], [low, high])
    stretched = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)  # (h, w)
    index = np.where(valid, (stretched * 255).round(), 0).astype(np.uint8)
    rgba = np.concatenate([np.moveaxis(colour_lut()[index], 2, 0),
                           (valid * 255).astype(np.uint8)[None]])  # (4, h, w)
    mem = gdal.GetDriverByName("MEM").Create("", width, height, 4, gdal.GDT_Byte)
    mem.WriteArray(rgba)
    with atomic_output(out, verify=_verify_png) as temp:
        try:
            png = gdal_call(gdal.GetDriverByName("PNG").CreateCopy, str(temp), mem)
            if png is None:
                raise GdalCallError("the PNG driver could not create it")
            with closing_errors() as errors:
                png = None
            if errors:
                raise GdalCallError(errors[0])
        except GdalCallError as failure:
            raise write_failure(out, failure.reason, temp) from None
    return out


def _verify_png(temp: Path) -> None:
    """Reopen a written PNG and read its last row (raises on a damaged file)."""
    ds = open_gdal(str(temp))
    gdal_call(ds.ReadRaster, 0, ds.RasterYSize - 1, ds.RasterXSize, 1)
