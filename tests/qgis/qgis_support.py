"""Helpers of the real-QGIS tier: small seeded rasters, raster checks, a ``qgis_process`` runner.

Imported by ``conftest.py`` and the test modules (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal, ogr, osr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import qgis_headless  # noqa: E402 - the foundation's headless qgis_process helper

EPSG = 32611  # WGS 84 / UTM zone 11N (San Diego)
GEOTRANSFORM = (483000.0, 3.0, 0.0, 3620010.0, 0.0, -3.0)
TARGETS = ((10, 12), (40, 45), (52, 20))  # (row, col) of the upper-left pixel of 2 x 2 targets


@dataclass(frozen=True)
class Scene:
    """A small synthetic hyperspectral scene written in several formats.

    Attributes:
        cube: 12-band float32 GeoTIFF, 64 x 64 pixels, projected CRS, three 2 x 2 targets.
        envi: the same cube as ENVI ``.img`` + ``.hdr`` (with wavelengths).
        one_band: a single-band GeoTIFF on the same grid.
        truth: Byte GeoTIFF ground truth, 1 on the targets.
        truth_polygons: GeoPackage polygons of the targets.
        truth_mask: the ground truth as a boolean array.
    """

    cube: str
    envi: str
    one_band: str
    truth: str
    truth_polygons: str
    truth_mask: np.ndarray


def _srs() -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    return srs


def _write(path: Path, data: np.ndarray, driver: str = "GTiff", gdal_type: int = gdal.GDT_Float32,
           options: tuple[str, ...] = ()) -> str:
    """Write ``data`` (bands, rows, cols) with the scene's CRS and geotransform."""
    bands, rows, cols = data.shape
    ds = gdal.GetDriverByName(driver).Create(str(path), cols, rows, bands, gdal_type, list(options))
    ds.SetGeoTransform(GEOTRANSFORM)
    ds.SetProjection(_srs().ExportToWkt())
    for index in range(bands):
        band = ds.GetRasterBand(index + 1)
        band.WriteArray(data[index])
        if driver == "ENVI":
            band.SetMetadataItem("wavelength", f"{450 + 40 * index}")
            band.SetMetadataItem("wavelength_units", "Nanometers")
    ds.FlushCache()
    ds = None
    return str(path)


def _write_polygons(path: Path) -> str:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("truth", _srs(), ogr.wkbPolygon)
    x0, dx, _, y0, _, dy = GEOTRANSFORM
    for row, col in TARGETS:
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for r, c in ((row, col), (row, col + 2), (row + 2, col + 2), (row + 2, col), (row, col)):
            ring.AddPoint_2D(x0 + c * dx, y0 + r * dy)
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
    ds = None
    return str(path)


def write_scene(folder: Path, seed: int = 7) -> Scene:
    """Write a seeded scene: three smooth endmember spectra mixed per pixel, plus noise, plus
    three 2 x 2 targets with a spectrum unlike any mixture."""
    rng = np.random.default_rng(seed)
    bands, rows, cols = 12, 64, 64
    wl = np.linspace(0.0, 1.0, bands)
    endmembers = np.stack([1.0 + 0.5 * wl, 1.5 - 0.8 * wl, 1.0 + 0.3 * np.sin(3 * wl)])  # (3, B)
    abundances = rng.dirichlet(np.ones(3), size=(rows, cols))  # (R, C, 3)
    cube = np.einsum("rce,eb->brc", abundances, endmembers)  # (B, R, C)
    cube += rng.normal(0.0, 0.01, cube.shape)
    target = 1.2 + 0.6 * np.cos(6 * wl)  # (B,)
    truth = np.zeros((rows, cols), dtype=bool)
    for row, col in TARGETS:
        cube[:, row:row + 2, col:col + 2] = target[:, None, None]
        truth[row:row + 2, col:col + 2] = True
    cube = cube.astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    return Scene(
        cube=_write(folder / "scene.tif", cube),
        envi=_write(folder / "scene_envi.img", cube, driver="ENVI"),
        one_band=_write(folder / "one_band.tif", cube[:1]),
        truth=_write(folder / "truth.tif", truth[None].astype(np.uint8), gdal_type=gdal.GDT_Byte),
        truth_polygons=_write_polygons(folder / "truth.gpkg"),
        truth_mask=truth,
    )


def read_raster(path: str) -> tuple[np.ndarray, tuple[float, ...], str]:
    """Return band 1, the geotransform and the CRS WKT of ``path``."""
    ds = gdal.Open(path)
    assert ds is not None, f"cannot open {path}"
    return ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection()


def same_crs(wkt: str, epsg: int = EPSG) -> bool:
    """True when ``wkt`` describes EPSG:``epsg``."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    return bool(srs.IsSame(_srs_of(epsg)))


def _srs_of(epsg: int) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs


class QgisProcess:
    """Runs ``qgis_process`` headless (``scripts/qgis_headless.py``) with DMS2F-HAD enabled in a
    throw-away profile; only ``QGIS_PLUGINPATH`` tells it where the plugin is."""

    def __init__(self, profile: Path, plugin_path: Path) -> None:
        self.env = qgis_headless.headless_env(plugin_path, profile)
        qgis_headless.enable_plugin(self.env)

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run ``qgis_process *args``; return the finished process (stdout and stderr merged)."""
        return qgis_headless.run(list(args), self.env, timeout=timeout)

    def run(self, algorithm: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """``qgis_process --json run algorithm -- KEY=VALUE ...``; return the parsed JSON."""
        args: list[str] = [f"{key}={value}" for key, value in parameters.items()]
        done = self("--json", "run", algorithm, "--", *args)
        assert done.returncode == 0, f"qgis_process failed:\n{done.stdout}"
        return json.loads(done.stdout[done.stdout.index("{"):])
