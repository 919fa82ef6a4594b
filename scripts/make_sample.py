"""Build the demo scene ``resources/sample/san_diego_sample.tif`` (+ ground truth) from the .mat.

Usage: ``.venv/bin/python scripts/make_sample.py [path/to/san-diego.mat]`` (default:
``../shared/data/had/san-diego.mat`` beside the checkout). Deterministic; the outputs are committed.

The cube is the public AVIRIS San Diego airport sub-scene (100 x 100 x 189, uint16). The .mat is
not georeferenced: the UTM zone 11N georeference written here is SYNTHETIC (plausible, over the
airport) and the band centres are APPROXIMATE AVIRIS centres; see ``resources/sample/PROVENANCE.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.io
from osgeo import gdal, osr

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MAT = REPO.parent / "shared" / "data" / "had" / "san-diego.mat"
OUT_DIR = REPO / "resources" / "sample"
SCENE = OUT_DIR / "san_diego_sample.tif"
TRUTH = OUT_DIR / "san_diego_sample_gt.tif"

EPSG = 32611  # WGS 84 / UTM zone 11N
ORIGIN = (483_500.0, 3_622_500.0)  # upper-left corner, metres (synthetic)
PIXEL = 3.5  # metres, like low-altitude AVIRIS flights (synthetic)
# AVIRIS-Classic: 224 bands from about 365.9 to 2496.2 nm; the benchmark removed these (1-based).
REMOVED = [*range(1, 7), 33, 34, 35, 97, *range(107, 114), *range(153, 167), *range(221, 225)]
CREATION = ["COMPRESS=DEFLATE", "PREDICTOR=2", "INTERLEAVE=PIXEL", "ZLEVEL=9"]


def wavelengths() -> list[float]:
    """Approximate centres (nm) of the 189 AVIRIS bands kept by the benchmark."""
    centres = np.linspace(365.9, 2496.2, 224)
    kept = [i for i in range(1, 225) if i not in set(REMOVED)]
    assert len(kept) == 189, len(kept)
    return [round(float(centres[i - 1]), 2) for i in kept]


def _create(path: Path, rows: int, cols: int, bands: int, dtype: int) -> gdal.Dataset:
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(str(path), cols, rows, bands, dtype, options=CREATION)
    ds.SetGeoTransform((ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    ds.SetProjection(srs.ExportToWkt())
    return ds


def write_scene(cube: np.ndarray, path: Path) -> None:
    """Write ``cube`` (rows, cols, bands) as a georeferenced GeoTIFF with wavelength metadata."""
    rows, cols, nb = cube.shape
    waves = wavelengths()
    ds = _create(path, rows, cols, nb, gdal.GDT_UInt16)
    ds.SetMetadata({
        "TIFFTAG_IMAGEDESCRIPTION": "AVIRIS San Diego airport HAD benchmark sub-scene; "
                                    "SYNTHETIC georeference, APPROXIMATE wavelengths",
        "DMS2F_HAD_SAMPLE": "san-diego.mat (Ayushma00/DMS2F-HAD Data/San_Diego.mat)",
    })
    ds.SetMetadata({
        "wavelength": "{" + ", ".join(f"{w:.2f}" for w in waves) + "}",
        "wavelength_units": "Nanometers",
        "bbl": "{" + ", ".join("1" for _ in waves) + "}",
        "description": "{AVIRIS San Diego airport sub-scene, 189 of 224 bands}",
    }, "ENVI")
    for b in range(nb):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(cube[:, :, b])
        band.SetDescription(f"Band {b + 1} ({waves[b]:.1f} nm)")
        band.SetMetadataItem("wavelength", f"{waves[b]:.2f}")
        band.SetMetadataItem("wavelength_units", "Nanometers")
    ds.FlushCache()
    ds = None


def write_truth(truth: np.ndarray, path: Path) -> None:
    """Write the anomaly map (1 = anomaly) as a uint8 GeoTIFF on the scene's grid."""
    ds = _create(path, *truth.shape, 1, gdal.GDT_Byte)
    band = ds.GetRasterBand(1)
    band.WriteArray(truth.astype(np.uint8))
    band.SetDescription("ground truth (1 = anomaly)")
    ds.FlushCache()
    ds = None


def main(argv: list[str]) -> int:
    mat = Path(argv[1]) if len(argv) > 1 else DEFAULT_MAT
    data = scipy.io.loadmat(str(mat))
    cube, truth = data["data"], data["map"]
    assert cube.shape == (100, 100, 189) and cube.dtype == np.uint16, (cube.shape, cube.dtype)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_scene(cube, SCENE)
    write_truth(truth, TRUTH)
    for path in (SCENE, TRUTH):
        print(f"{path.relative_to(REPO)}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    gdal.UseExceptions()
    raise SystemExit(main(sys.argv))
