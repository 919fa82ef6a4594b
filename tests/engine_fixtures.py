"""Small seeded synthetic rasters for the engine tests, written with GDAL into ``tmp_path``.

Helpers, not tests: ``write_geotiff`` / ``write_envi`` write a ``(bands, h, w)`` cube with the
metadata a test needs; ``synthetic_scene`` makes a background of mixed endmembers plus noise with
a few implanted anomalous spectra and returns the cube and its ground truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array, osr

#: A custom (non-EPSG) Transverse Mercator CRS on a custom datum: must survive verbatim.
CUSTOM_WKT = (
    'PROJCS["Custom TM test",GEOGCS["Custom datum test",DATUM["Custom_datum",'
    'SPHEROID["Custom spheroid",6378000,299.5]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["latitude_of_origin",12.5],PARAMETER["central_meridian",-33.25],'
    'PARAMETER["scale_factor",0.99911],PARAMETER["false_easting",123456],'
    'PARAMETER["false_northing",654321],UNIT["metre",1]]')
#: A rotated geotransform (AVIRIS-like): both rotation terms nonzero.
ROTATED_GT = (500000.0, 8.66, 5.0, 4200000.0, 5.0, -8.66)


def synthetic_scene(bands: int = 12, height: int = 40, width: int = 48, seed: int = 0,
                    n_targets: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A float32 cube ``(bands, h, w)`` and uint8 ground truth ``(h, w)``.

    Background: 3 smooth endmembers mixed with random abundances, plus noise. Targets: 2 x 2
    squares of a spectrum unlike the endmembers.
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    members = np.stack([1.0 + 0.5 * np.sin(3 * x + k) for k in range(3)])  # (3, bands)
    abundance = rng.dirichlet(np.ones(3), size=height * width)  # (n, 3)
    cube = (abundance @ members).T.reshape(bands, height, width)  # (bands, h, w)
    cube += rng.normal(0.0, 0.01, cube.shape)
    gt = np.zeros((height, width), dtype=np.uint8)
    target = 1.2 + 0.4 * np.cos(9 * x)  # (bands,)
    for _ in range(n_targets):
        r, c = rng.integers(2, height - 3), rng.integers(2, width - 3)
        cube[:, r:r + 2, c:c + 2] = 0.6 * cube[:, r:r + 2, c:c + 2] + 0.4 * target[:, None, None]
        gt[r:r + 2, c:c + 2] = 1
    return (cube * 1000.0).astype(np.float32), gt


def write_geotiff(path: Path, cube: np.ndarray, *, crs_wkt: str | None = None,
                  geotransform: tuple[float, ...] | None = None,
                  nodata: float | None = None, scale: float | None = None,
                  offset: float | None = None,
                  band_metadata: list[dict[str, dict[str, str]]] | None = None,
                  dataset_metadata: dict[str, dict[str, str]] | None = None,
                  options: tuple[str, ...] = ("INTERLEAVE=PIXEL", "TILED=YES")) -> Path:
    """Write ``cube`` ``(bands, h, w)`` (its own dtype) as a GeoTIFF.

    ``band_metadata[i]`` and ``dataset_metadata`` map a metadata domain ("" = default) to items.
    """
    if cube.ndim == 2:
        cube = cube[None]
    bands, height, width = cube.shape
    gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(cube.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, gdal_type,
                                              list(options))
    if crs_wkt:
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs_wkt)
        ds.SetProjection(srs.ExportToWkt())
    if geotransform:
        ds.SetGeoTransform(geotransform)
    for i in range(bands):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(cube[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if scale is not None:
            band.SetScale(scale)
        if offset is not None:
            band.SetOffset(offset)
        for domain, items in (band_metadata[i] if band_metadata else {}).items():
            for key, value in items.items():
                band.SetMetadataItem(key, value, domain)
    for domain, items in (dataset_metadata or {}).items():
        for key, value in items.items():
            ds.SetMetadataItem(key, value, domain)
    ds.FlushCache()
    ds = None
    return path


def write_envi(path: Path, cube: np.ndarray, header_extra: str = "",
               interleave: str = "bsq") -> Path:
    """Write an ENVI ``.img`` + ``.hdr`` pair and append ``header_extra`` lines to the header."""
    bands, height, width = cube.shape
    gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(cube.dtype)
    ds = gdal.GetDriverByName("ENVI").Create(str(path), width, height, bands, gdal_type,
                                             [f"INTERLEAVE={interleave.upper()}"])
    for i in range(bands):
        ds.GetRasterBand(i + 1).WriteArray(cube[i])
    ds = None
    header = path.with_suffix(".hdr")
    with open(header, "a", encoding="ascii") as handle:
        handle.write(header_extra)
    for aux in path.parent.glob(path.name + ".aux.xml"):
        aux.unlink()
    return path


def read_band(path: Path, band: int = 1) -> np.ndarray:
    """One band of a raster as a numpy array."""
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(band).ReadAsArray()


class CancelAfter:
    """A Progress that asks to cancel after ``n`` checks."""

    def __init__(self, n: int) -> None:
        self.checks, self.n, self.values = 0, n, []

    def set_progress(self, percent: float) -> None:
        self.values.append(percent)

    def is_canceled(self) -> bool:
        self.checks += 1
        return self.checks > self.n


class Recorder:
    """A Progress that records what it was told and never cancels."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def set_progress(self, percent: float) -> None:
        self.values.append(percent)

    def is_canceled(self) -> bool:
        return False
