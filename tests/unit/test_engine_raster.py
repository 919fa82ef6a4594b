"""The raster port: metadata lookup order, band selection, masking, scaling, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import synthetic_scene, write_envi, write_geotiff

from dms2f_had.dms2f_plugin.engine.errors import InputError, RasterReadError
from dms2f_had.dms2f_plugin.engine.io.bands import format_band_list, parse_band_list
from dms2f_had.dms2f_plugin.engine.io.raster import Window, open_raster

WAVES = ["450", "550", "650", "750"]


def _cube(bands=4, h=6, w=5, dtype=np.int16):
    return (np.arange(bands * h * w).reshape(bands, h, w) % 97 + 10).astype(dtype)


def test_wavelengths_from_band_imagery_domain(tmp_path):
    md = [{"IMAGERY": {"CENTRAL_WAVELENGTH_UM": f"{int(w) / 1000}", "FWHM_UM": "0.01"}}
          for w in WAVES]
    path = write_geotiff(tmp_path / "a.tif", _cube(), band_metadata=md)
    with open_raster(path) as src:
        assert src.info.wavelength_source == "IMAGERY"
        assert src.info.wavelength_units == "um"
        assert src.wavelengths_nm == pytest.approx([450, 550, 650, 750])
        assert src.info.fwhm == pytest.approx([0.01] * 4)


def test_wavelengths_from_band_items(tmp_path):
    md = [{"": {"wavelength": w, "wavelength_units": "Nanometers"}} for w in WAVES]
    path = write_geotiff(tmp_path / "b.tif", _cube(), band_metadata=md)
    with open_raster(path) as src:
        assert src.info.wavelength_source == "band"
        assert src.info.wavelength_units == "nm"
        assert src.wavelengths_nm == pytest.approx([450, 550, 650, 750])


def test_wavelengths_and_bbl_from_dataset_envi_domain(tmp_path):
    envi = {"wavelength": "{0.45, 0.55, 0.65, 0.75}", "wavelength_units": "Micrometers",
            "fwhm": "{0.01,0.01,0.01,0.01}", "bbl": "{1, 0, 1, 1}"}
    path = write_geotiff(tmp_path / "c.tif", _cube(), dataset_metadata={"ENVI": envi})
    with open_raster(path) as src:
        assert src.info.wavelength_source == "ENVI"
        assert src.info.good_bands == (True, False, True, True)
        assert src.band_indices == (1, 3, 4)  # the bad band is dropped by default
        assert src.wavelengths_nm == pytest.approx([450, 650, 750])
    with open_raster(path, drop_bad_bands=False) as src:
        assert src.band_indices == (1, 2, 3, 4)
    with open_raster(path, bands="2-3") as src:  # an explicit list is taken as given
        assert src.band_indices == (2, 3)


def test_envi_file_metadata_gain_offset_and_ignore_value(tmp_path):
    cube = _cube(dtype=np.int16)
    cube[:, 0, 0] = -5  # ignore value in every band
    cube[1, 1, 1] = -5  # ignore value in one selected band only: the whole pixel is invalid
    header = ("wavelength units = Nanometers\nwavelength = {450, 550, 650, 750}\n"
              "bbl = {1, 1, 0, 1}\ndata ignore value = -5\n"
              "data gain values = {2, 2, 2, 0.5}\ndata offset values = {1, 1, 1, 1}\n"
              "band names = {blue, green, red, nir}\n")
    path = write_envi(tmp_path / "scene.img", cube, header)
    with open_raster(path) as src:
        assert src.band_indices == (1, 2, 4)
        assert src.band_names == ("blue", "green", "nir")
        assert src.wavelengths_nm == pytest.approx([450, 550, 750])
        data, valid = src.read_window(src.full_window)
    assert data.shape == (3, 6, 5) and data.dtype == np.float32
    assert not valid[0, 0] and not valid[1, 1] and valid.sum() == 28
    np.testing.assert_allclose(data[0, 2, 3], cube[0, 2, 3] * 2.0 + 1.0)
    np.testing.assert_allclose(data[2, 2, 3], cube[3, 2, 3] * 0.5 + 1.0)
    assert (data[:, ~valid] == 0).all()


def test_nodata_nan_and_scale_offset_masking(tmp_path):
    cube = _cube(dtype=np.float32)
    cube[1, 2, 2] = -9999.0
    cube[0, 3, 1] = np.nan
    cube[3, 4, 4] = np.inf
    path = write_geotiff(tmp_path / "n.tif", cube, nodata=-9999.0, scale=0.1, offset=-1.0)
    with open_raster(path) as src:
        data, valid = src.read_window(Window(0, 0, 5, 6))
    assert not valid[2, 2] and not valid[3, 1] and not valid[4, 4]
    assert valid.sum() == 27
    assert np.isfinite(data).all()
    np.testing.assert_allclose(data[2, 0, 0], cube[2, 0, 0] * 0.1 - 1.0, rtol=1e-6)


def test_window_read_matches_full_read(tmp_path):
    cube, _ = synthetic_scene(bands=5, height=20, width=17)
    path = write_geotiff(tmp_path / "w.tif", cube)
    with open_raster(path, bands=[5, 1, 3]) as src:
        part, _ = src.read_window(Window(3, 4, 9, 7))
    np.testing.assert_array_equal(part, cube[[4, 0, 2], 4:11, 3:12])


def test_band_list_parsing():
    assert parse_band_list("1-3,5", 10) == (1, 2, 3, 5)
    assert parse_band_list([4, 2, 4], 10) == (4, 2)
    assert format_band_list((1, 2, 3, 5, 7, 8)) == "1-3,5,7-8"
    with pytest.raises(ValueError, match="band 11 does not exist"):
        parse_band_list("9-11", 10)
    with pytest.raises(ValueError, match="not a number"):
        parse_band_list("1,x", 10)


def test_bad_band_selection_is_an_input_error(tmp_path):
    path = write_geotiff(tmp_path / "s.tif", _cube())
    with pytest.raises(InputError, match="band 9 does not exist"):
        open_raster(path, bands="1,9")


def test_missing_file(tmp_path):
    with pytest.raises(RasterReadError, match="does not exist"):
        open_raster(tmp_path / "nothing.tif")


def test_not_a_raster(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("hello, I am text\n")
    with pytest.raises(RasterReadError, match="Cannot open .*notes.tif.* as a raster"):
        open_raster(path)


def test_corrupt_truncated_geotiff(tmp_path):
    cube, _ = synthetic_scene(bands=6, height=64, width=64)
    path = write_geotiff(tmp_path / "t.tif", cube, options=("COMPRESS=DEFLATE",))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RasterReadError, match="t.tif"):
        with open_raster(path) as src:
            src.read_window(src.full_window)


def test_too_few_bands(tmp_path):
    path = write_geotiff(tmp_path / "one.tif", _cube(bands=1))
    with pytest.raises(InputError, match="1 usable band.*at least 2"):
        open_raster(path, min_bands=2)


def test_container_without_subdataset_lists_them(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "container.h5"
    with h5py.File(path, "w") as handle:
        handle["radiance"] = _cube(bands=3, h=8, w=9).astype(np.float32)
        handle["quality"] = np.ones((8, 9), dtype=np.uint8)
    with pytest.raises(InputError, match="subdatasets.*radiance.*quality|quality.*radiance"):
        open_raster(path)
    with open_raster(path, subdataset="radiance") as src:
        assert (src.width, src.height, src.band_count) == (9, 8, 3)


def test_compressed_tiles_of_every_exact_type_read_as_float32_with_their_nodata(tmp_path):
    """Types a float32 holds exactly are read straight into float32; the pixels and nodata stay."""
    from osgeo import gdal

    from dms2f_had.dms2f_plugin.engine.io import raster

    for gdal_type, dtype in ((gdal.GDT_Int16, np.int16), (gdal.GDT_UInt16, np.uint16),
                             (gdal.GDT_Byte, np.uint8), (gdal.GDT_Int32, np.int32)):
        cube = np.random.default_rng(0).integers(0, 200, (5, 70, 90)).astype(dtype)
        if dtype == np.int32:
            cube[0, 0, 0] = 2**24 + 1  # not a float32: must be compared before conversion
        path = tmp_path / f"tiled{gdal_type}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), 90, 70, 5, gdal_type, [
            "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE", "INTERLEAVE=PIXEL"])
        ds.WriteArray(cube)
        nodata = 2**24 + 1 if dtype == np.int32 else 7
        for b in range(5):
            ds.GetRasterBand(b + 1).SetNoDataValue(nodata)
        ds = None
        with raster.open_raster(path) as source:
            values, valid = source.read_window(source.full_window)
        expected_valid = ~(cube == nodata).any(axis=0)
        np.testing.assert_array_equal(valid, expected_valid)
        np.testing.assert_array_equal(values, np.where(expected_valid, cube, 0).astype(np.float32))
        assert values.dtype == np.float32
