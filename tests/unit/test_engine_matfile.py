"""Benchmark .mat scenes: v5 and v7.3 read alike, keys, import to GeoTIFF, direct detect input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from engine_fixtures import read_band
from osgeo import gdal

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.errors import InputError, RasterReadError
from dms2f_had.dms2f_plugin.engine.io.matfile import load_mat
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster


@pytest.fixture
def scene():
    rng = np.random.default_rng(4)
    cube = rng.integers(0, 5000, size=(9, 11, 6)).astype(np.uint16)  # (rows, cols, bands)
    gt = np.zeros((9, 11), np.uint8)
    gt[4, 5] = 1
    return cube, gt


def _v73(path, **arrays):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, value in arrays.items():
            handle[key] = np.asarray(value).T  # MATLAB writes column-major: axes reversed
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, written by the tests".ljust(116))
    return path


def test_v5_and_v73_read_the_same(tmp_path, scene):
    cube, gt = scene
    scipy.io.savemat(tmp_path / "v5.mat", {"data": cube, "map": gt})
    _v73(tmp_path / "v73.mat", data=cube, map=gt)
    for name in ("v5.mat", "v73.mat"):
        loaded = load_mat(tmp_path / name)
        np.testing.assert_array_equal(loaded.cube, cube)
        np.testing.assert_array_equal(loaded.ground_truth, gt)
        assert (loaded.cube_key, loaded.gt_key) == ("data", "map")


def test_alternative_keys_and_missing_cube(tmp_path, scene):
    cube, gt = scene
    scipy.io.savemat(tmp_path / "a.mat", {"hsi": cube, "groundtruth": gt * 3})
    loaded = load_mat(tmp_path / "a.mat")  # the only 3-D array is the cube
    assert loaded.cube_key == "hsi" and loaded.ground_truth.max() == 1
    scipy.io.savemat(tmp_path / "b.mat", {"x": cube, "y": cube, "gt": gt})
    with pytest.raises(InputError, match=r"no cube variable 'data'.*x \(9, 11, 6\).*y"):
        load_mat(tmp_path / "b.mat")


def test_corrupt_mat(tmp_path):
    (tmp_path / "bad.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 20)
    with pytest.raises(RasterReadError, match="Cannot read the MATLAB file"):
        load_mat(tmp_path / "bad.mat")


def test_import_mat_writes_pixel_interleaved_cube_and_gt(tmp_path, scene):
    cube, gt = scene
    _v73(tmp_path / "s.mat", data=cube, map=gt)
    result = jobs.import_mat(tmp_path / "s.mat", tmp_path / "cube.tif", tmp_path / "gt.tif")
    assert (result.rows, result.cols, result.bands, result.anomaly_pixels) == (9, 11, 6, 1)
    ds = gdal.Open(str(tmp_path / "cube.tif"))
    assert ds.GetMetadata("IMAGE_STRUCTURE")["INTERLEAVE"] == "PIXEL"
    assert ds.GetProjection() == "" and ds.GetGeoTransform(can_return_null=True) is None
    np.testing.assert_array_equal(ds.ReadAsArray(), np.moveaxis(cube, 2, 0))
    np.testing.assert_array_equal(read_band(tmp_path / "gt.tif"), gt)


def test_import_without_ground_truth_when_asked(tmp_path, scene):
    scipy.io.savemat(tmp_path / "c.mat", {"data": scene[0]})
    with pytest.raises(InputError, match="has no ground truth"):
        jobs.import_mat(tmp_path / "c.mat", tmp_path / "cube.tif", tmp_path / "gt.tif")
    assert not (tmp_path / "cube.tif").exists()


def test_mat_is_accepted_as_raster_input(tmp_path, scene):
    cube, gt = scene
    scipy.io.savemat(tmp_path / "d.mat", {"data": cube, "map": gt})
    with open_raster(tmp_path / "d.mat") as src:
        data, valid = src.read_window(src.full_window)
        vsimem = src._vsimem_path
    np.testing.assert_array_equal(data, np.moveaxis(cube, 2, 0).astype(np.float32))
    assert valid.all()
    assert gdal.VSIStatL(vsimem) is None  # the in-memory copy is gone after close
