"""Benchmark MATLAB scenes (v5 and v7.3/HDF5): read them, convert them to GeoTIFF.

A scene file holds the cube ``(rows, cols, bands)`` under ``data`` (or, failing that, its only
3-D numeric array) and optionally a ground-truth map ``(rows, cols)`` under ``map`` (``gt``,
``groundtruth``, ``ground_truth`` also accepted; any nonzero = anomaly). v5 files are read with
``scipy.io.loadmat``; v7.3 files are HDF5, read with ``h5py``, whose axes come back reversed
(MATLAB is column-major), so arrays are transposed back.

The scenes are not georeferenced: the GeoTIFFs written here carry no CRS and no geotransform,
i.e. a local pixel grid (QGIS shows them in pixel coordinates).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array

from ..errors import InputError, RasterReadError
from ..types import PathLike
from .gdalutil import GdalCallError, closing_errors, gdal_call, unlink_quietly

LOGGER = logging.getLogger(__name__)
CUBE_KEYS = ("data",)
GT_KEYS = ("map", "gt", "groundtruth", "ground_truth")


@dataclasses.dataclass(frozen=True)
class MatScene:
    """A benchmark scene read from a .mat file.

    Attributes:
        path: the file.
        cube: ``(rows, cols, bands)`` in the file's numeric type (float64 becomes float32).
        ground_truth: uint8 ``(rows, cols)`` 1 = anomaly, or None when the file has none.
        cube_key: the variable the cube came from.
        gt_key: the variable the ground truth came from, or None.
    """

    path: Path
    cube: np.ndarray
    ground_truth: np.ndarray | None
    cube_key: str
    gt_key: str | None


def _is_v73(path: Path) -> bool:
    """True for MATLAB v7.3 files (HDF5 with a MATLAB header)."""
    with open(path, "rb") as handle:
        head = handle.read(128)
    return head.startswith(b"MATLAB 7.3") or head[:8] == b"\x89HDF\r\n\x1a\n"


def _read_variables(path: Path) -> dict[str, np.ndarray]:
    """All numeric array variables of a .mat file, in MATLAB's (row, col, ...) axis order."""
    try:
        if _is_v73(path):
            import h5py

            arrays: dict[str, np.ndarray] = {}
            with h5py.File(path, "r") as handle:
                for key, item in handle.items():
                    if isinstance(item, h5py.Dataset) and item.dtype.kind in "biuf":
                        arrays[key] = np.asarray(item[()]).T  # HDF5 axes are reversed
            return arrays
        from scipy.io import loadmat

        content = loadmat(str(path))
        return {k: v for k, v in content.items()
                if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}
    except Exception as exc:  # noqa: BLE001 - scipy/h5py raise many types on a damaged file
        raise RasterReadError(f"Cannot read the MATLAB file '{path}' ({exc}); it may be "
                              "truncated or not a MATLAB v5/v7.3 file. Re-download it.") from None


def _pick(arrays: dict[str, np.ndarray], names: tuple[str, ...], ndim: int) -> str | None:
    """First variable whose lower-case name is in ``names`` and that has ``ndim`` axes."""
    lower = {k.lower(): k for k in arrays}
    for name in names:
        key = lower.get(name)
        if key is not None and arrays[key].ndim == ndim:
            return key
    return None


def load_mat(path: PathLike) -> MatScene:
    """Read a benchmark scene (cube + optional ground truth) from a MATLAB v5 or v7.3 file.

    Args:
        path: the .mat file.

    Returns:
        The :class:`MatScene`.

    Raises:
        RasterReadError: missing, unreadable or corrupt file.
        InputError: no cube variable, or a ground truth whose size differs from the cube's.
    """
    path = Path(path)
    if not path.is_file():
        raise RasterReadError(f"MATLAB file '{path}' does not exist; check the path.")
    arrays = _read_variables(path)
    listing = ", ".join(f"{k} {v.shape}" for k, v in arrays.items()) or "none"
    cube_key = _pick(arrays, CUBE_KEYS, 3)
    if cube_key is None:
        cubes = [k for k, v in arrays.items() if v.ndim == 3]
        if len(cubes) != 1:
            raise InputError(f"'{path}' has no cube variable 'data' (rows x cols x bands); "
                             f"numeric variables found: {listing}. Rename the cube to 'data'.")
        cube_key = cubes[0]
    cube = arrays[cube_key]  # (rows, cols, bands)
    if cube.dtype == np.float64:
        cube = cube.astype(np.float32)
    gt_key = _pick(arrays, GT_KEYS, 2)
    gt = None
    if gt_key is not None:
        gt = (arrays[gt_key] != 0).astype(np.uint8)  # (rows, cols)
        if gt.shape != cube.shape[:2]:
            raise InputError(f"Ground truth '{gt_key}' of '{path}' is {gt.shape} but the cube is "
                             f"{cube.shape[:2]}; the file is inconsistent.")
    LOGGER.info("Read '%s': cube '%s' %s %s, ground truth %s", path, cube_key, cube.shape,
                cube.dtype, gt_key)
    return MatScene(path, np.ascontiguousarray(cube), gt, cube_key, gt_key)


def vsimem_name(stem: str) -> str:
    """A fresh ``/vsimem/`` path for a temporary in-memory file."""
    return f"/vsimem/dms2f_had/{uuid.uuid4().hex}_{Path(stem).stem}.tif"


def write_cube(cube: np.ndarray, target: str, options: list[str]) -> None:
    """Write ``cube`` ``(rows, cols, bands)`` as a GeoTIFF at ``target`` (no CRS).

    Used for the in-memory (``/vsimem/``) copy a ``.mat`` input is read through; files the user
    asked for are written by :class:`.raster_writer.RasterWriter`.

    Raises:
        RasterReadError: GDAL could not create or fill it (out of memory, ...).
    """
    rows, cols, bands = cube.shape
    gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(cube.dtype)
    try:
        ds = gdal_call(gdal.GetDriverByName("GTiff").Create, target, cols, rows, bands,
                       gdal_type, options)
        if ds is None:
            raise GdalCallError("the GeoTIFF driver could not create it")
        gdal_call(ds.WriteArray, np.moveaxis(cube, 2, 0))  # (bands, rows, cols)
        gdal_call(ds.FlushCache)
        with closing_errors() as errors:
            ds = None
        if errors:
            raise GdalCallError(errors[0])
    except GdalCallError as failure:
        unlink_quietly(target)
        raise RasterReadError(f"Cannot hold the .mat scene in memory as '{target}' "
                              f"({failure.reason}).") from None


def mat_to_vsimem(path: PathLike) -> str:
    """Load a .mat scene into a temporary in-memory GeoTIFF; the caller unlinks it.

    Returns:
        The ``/vsimem/`` path (pixel-interleaved, uncompressed).
    """
    scene = load_mat(path)
    target = vsimem_name(Path(path).name)
    write_cube(scene.cube, target, ["INTERLEAVE=PIXEL", "TILED=YES"])
    return target
