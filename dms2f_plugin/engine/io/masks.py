"""GDAL mask and alpha bands: which pixels a raster itself marks as invalid, besides nodata.

GDAL describes each band's validity with mask flags (``GetMaskFlags``): ``GMF_ALL_VALID`` (no
mask), ``GMF_NODATA`` (from the nodata value, which the raster port handles itself), or a real
mask: an internal or ``.msk`` mask band (``GMF_PER_DATASET``), an alpha band (``GMF_ALPHA``), or
a band of its own. Real masks are read window by window next to the data; a pixel whose mask is 0
in any selected band is invalid. An alpha band is such a mask, never a spectrum: it is left out of
the default band selection (:func:`alpha_bands`).
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal

from .gdalutil import gdal_call
from .window import Window


def alpha_bands(ds: gdal.Dataset) -> tuple[int, ...]:
    """1-based numbers of the bands whose colour interpretation is alpha (transparency)."""
    return tuple(i for i in range(1, ds.RasterCount + 1)
                 if ds.GetRasterBand(i).GetColorInterpretation() == gdal.GCI_AlphaBand)


def mask_sources(ds: gdal.Dataset, band_indices: tuple[int, ...]) -> tuple[int, ...]:
    """The selected bands whose GDAL mask band must be read (one per distinct real mask).

    Args:
        ds: the open dataset.
        band_indices: the selected 1-based bands.

    Returns:
        Band numbers whose ``GetMaskBand()`` holds a real mask: the first selected band when the
        mask is shared by the whole dataset (an internal mask or an alpha band), and each band
        with a mask of its own; empty when validity comes only from nodata values.
    """
    shared, own = None, []
    for band in band_indices:
        flags = ds.GetRasterBand(band).GetMaskFlags()
        if flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):
            continue
        if flags & (gdal.GMF_PER_DATASET | gdal.GMF_ALPHA):
            shared = band if shared is None else shared
        else:
            own.append(band)
    return tuple(([shared] if shared is not None else []) + own)


def masked_out(ds: gdal.Dataset, sources: tuple[int, ...], window: Window) -> np.ndarray:
    """Pixels of ``window`` that a mask in ``sources`` marks invalid (mask value 0), ``(h, w)``.

    Raises:
        GdalCallError: a mask band cannot be read.
    """
    invalid = np.zeros(window.shape, dtype=bool)  # (h, w)
    for band in sources:
        mask = gdal_call(ds.GetRasterBand(band).GetMaskBand().ReadAsArray, window.col_off,
                         window.row_off, window.width, window.height)  # (h, w)
        invalid |= mask == 0
    return invalid
