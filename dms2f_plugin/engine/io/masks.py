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


def mask_sources(ds: gdal.Dataset, band_indices: tuple[int, ...]) -> tuple[tuple[int, ...],
                                                                           tuple[int, ...]]:
    """Which mask bands and which alpha bands must be read next to the selected bands.

    Args:
        ds: the open dataset.
        band_indices: the selected 1-based bands.

    Returns:
        ``(mask_of, alpha)``: bands whose ``GetMaskBand()`` holds a real mask (the first selected
        band when an internal or ``.msk`` mask is shared by the whole dataset, and each band with
        a mask of its own), and the dataset's alpha bands, read directly (GDAL derives a mask
        from an alpha band only for Byte and UInt16 data). Both empty when validity comes only
        from nodata values.
    """
    alpha = alpha_bands(ds)
    shared, own = None, []
    for band in band_indices:
        flags = ds.GetRasterBand(band).GetMaskFlags()
        if flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA | gdal.GMF_ALPHA):
            continue
        if flags & gdal.GMF_PER_DATASET:
            shared = band if shared is None else shared
        else:
            own.append(band)
    return tuple(([shared] if shared is not None else []) + own), alpha


def masked_out(ds: gdal.Dataset, sources: tuple[tuple[int, ...], tuple[int, ...]],
               window: Window) -> np.ndarray:
    """Pixels of ``window`` that a mask (value 0) or an alpha band (value 0) marks invalid.

    Args:
        ds: the open dataset.
        sources: from :func:`mask_sources`.
        window: the pixels to check.

    Returns:
        bool ``(h, w)``, True where invalid.

    Raises:
        GdalCallError: a mask or alpha band cannot be read.
    """
    mask_of, alpha = sources
    invalid = np.zeros(window.shape, dtype=bool)  # (h, w)
    bands = [ds.GetRasterBand(b).GetMaskBand() for b in mask_of] + \
        [ds.GetRasterBand(b) for b in alpha]
    for band in bands:
        values = gdal_call(band.ReadAsArray, window.col_off, window.row_off, window.width,
                           window.height)  # (h, w)
        invalid |= values == 0
    return invalid
