"""Scene variants: band counts, dtype and scale, [0, 1] floats, wavelengths and noisy water bands.

Each variant is written with the variant writer and read back through the engine's raster port,
so the test covers what a detector run actually sees.
"""

from __future__ import annotations

import numpy as np
import pytest

from dms2f_had.dms2f_plugin.engine.app.implant.variants import (
    INT16_FULL_SCALE,
    VARIANTS,
    make_variant,
    water_layout,
    write_variant,
)
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.io.sensor_bands import in_water_vapour_window


def _cube(bands: int = 189, height: int = 12, width: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, bands)
    base = 2000 + 1500 * np.sin(3 * x)  # (bands,)
    return (base * rng.uniform(0.5, 1.5, (height, width, 1))
            + rng.normal(0, 20, (height, width, bands))).astype(np.float32)


def _read(path, **kwargs):
    with open_raster(path, **kwargs) as src:
        cube, valid = src.read_window(src.full_window)  # (bands, h, w)
        return src, np.moveaxis(cube, 0, -1), valid


@pytest.mark.parametrize(("name", "bands", "expected"), [
    ("bands64", 189, 64), ("bands30", 189, 30), ("bands64", 102, 64), ("bands30", 162, 30),
    ("bands64", 40, 40)])
def test_subsampled_variants_keep_evenly_spaced_bands(name, bands, expected):
    cube = _cube(bands)
    variant = make_variant(name, cube, seed=0)
    assert variant.data.shape == (*cube.shape[:2], expected)
    np.testing.assert_array_equal(variant.data[..., 0], cube[..., 0])
    np.testing.assert_array_equal(variant.data[..., -1], cube[..., -1])


def test_reflectance_variant_is_float_in_unit_range_per_band(tmp_path):
    cube = _cube(30)
    variant = make_variant("reflectance", cube, seed=0)
    assert variant.data.dtype == np.float32
    np.testing.assert_allclose(variant.data.min(axis=(0, 1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(variant.data.max(axis=(0, 1)), 1.0, atol=1e-6)
    _, read, _ = _read(write_variant(variant, tmp_path / "r.tif"))
    np.testing.assert_array_equal(read, variant.data)


def test_int16_variant_stores_a_scale_that_the_reader_applies(tmp_path):
    cube = _cube(30)
    variant = make_variant("int16", cube, seed=0)
    assert variant.data.dtype == np.int16 and variant.scale is not None
    assert np.abs(variant.data).max() == pytest.approx(INT16_FULL_SCALE, abs=1)
    path = write_variant(variant, tmp_path / "i.tif")
    src, read, valid = _read(path)
    assert src.info.dtype == "int16" and src.info.scales == (pytest.approx(variant.scale),) * 30
    assert valid.all()
    np.testing.assert_allclose(read, cube, atol=variant.scale)  # quantisation only


def test_original_variant_is_the_cube_as_float32(tmp_path):
    cube = _cube(20)
    _, read, _ = _read(write_variant(make_variant("original", cube, 0), tmp_path / "o.tif"))
    np.testing.assert_array_equal(read, cube)


@pytest.mark.parametrize("bands", [30, 102, 189, 207])
def test_water_layout_puts_scene_bands_outside_and_noisy_bands_inside_the_windows(bands):
    scene_nm, water_nm = water_layout(bands)
    assert len(scene_nm) == bands and len(water_nm) >= 3
    assert not any(in_water_vapour_window(w) for w in scene_nm)
    assert all(in_water_vapour_window(w) for w in water_nm)
    every = np.sort(np.concatenate([scene_nm, water_nm]))
    assert 400 <= every[0] and every[-1] <= 2500
    steps = np.diff(every)
    assert steps.max() < 2.5 * np.median(steps)  # evenly spaced, windows included


def test_water_variant_file_has_wavelengths_and_noisy_low_signal_bands(tmp_path):
    cube = _cube(189)
    variant = make_variant("water", cube, seed=4)
    total = variant.data.shape[2]
    assert total == 189 + len(variant.noisy_bands)
    path = write_variant(variant, tmp_path / "w.tif")
    with open_raster(path, drop_bad_bands=False) as src:
        assert src.info.wavelength_units == "nm" and not src.info.has_bad_band_list
        waves = np.array(src.wavelengths_nm)
        assert np.all(np.diff(waves) > 0)
        inside = tuple(int(i) + 1 for i in np.nonzero([in_water_vapour_window(w) for w in waves])[0])
        assert inside == variant.noisy_bands
        every, _ = src.read_window(src.full_window)  # (bands, h, w)
    noisy = every[np.array(variant.noisy_bands) - 1]  # (k, h, w)
    assert np.abs(noisy.mean()) < 0.05 * cube.mean()  # low signal
    level = cube.mean(axis=2)  # (h, w)
    residual = noisy - 0.02 * level[None]
    assert residual.std() > 0.5 * 0.02 * level.std()  # noise of the order of the signal's spread
    # By default the engine drops exactly the inserted bands and reads the scene's own cube.
    src, read, _ = _read(path)
    assert len(src.band_indices) == 189
    np.testing.assert_array_equal(read, cube)


def test_variants_are_deterministic_and_names_are_checked():
    cube = _cube(50)
    for name in VARIANTS:
        np.testing.assert_array_equal(make_variant(name, cube, 1).data, make_variant(name, cube, 1).data)
    with pytest.raises(ValueError, match="unknown scene variant"):
        make_variant("hyperspectral-ish", cube, 0)
