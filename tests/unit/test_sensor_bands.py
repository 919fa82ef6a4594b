"""Water-vapour bands: dropped by default when a file has wavelengths but no bad-band list."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from engine_fixtures import write_envi, write_geotiff

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.app.cli import build_parser
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.io.sensor_bands import describe_windows, water_vapour_bands

#: Eight bands; 3 (1400 nm), 5 (1850 nm) and 8 (2480 nm) are in the windows, 1340 and 1960 are
#: the windows' closed edges.
NM = [500.0, 1000.0, 1400.0, 1600.0, 1850.0, 2200.0, 2449.0, 2480.0]
WATER = (3, 5, 8)


def _cube(bands: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(100, 1000, (bands, 9, 7)).astype(np.int16)


def _band_items(values, units="Nanometers"):
    return [{"": {"wavelength": f"{w}", "wavelength_units": units}} for w in values]


def test_rule_names_the_bands_inside_the_windows():
    assert water_vapour_bands(NM) == WATER
    assert water_vapour_bands([1340.0, 1460.0, 1339.9, 1460.1, 1790.0, 1960.0, 2450.0]) == (1, 2, 5, 6, 7)
    assert water_vapour_bands([]) == ()
    assert describe_windows() == "1340-1460 nm, 1790-1960 nm, > 2450 nm"


def test_nanometre_file_without_bbl_drops_them_with_one_log_line(tmp_path, caplog):
    path = write_geotiff(tmp_path / "nm.tif", _cube(), band_metadata=_band_items(NM))
    with caplog.at_level(logging.INFO, logger="dms2f_had.dms2f_plugin.engine.io.raster"):
        with open_raster(path) as src:
            assert src.band_indices == (1, 2, 4, 6, 7)
    lines = [r.getMessage() for r in caplog.records if "water-vapour" in r.getMessage()]
    assert len(lines) == 1 and "3,5,8" in lines[0] and "1340-1460 nm" in lines[0]


def test_micrometre_units_are_converted(tmp_path):
    path = write_geotiff(tmp_path / "um.tif", _cube(),
                         band_metadata=_band_items([w / 1000 for w in NM], units="Micrometers"))
    with open_raster(path) as src:
        assert src.band_indices == (1, 2, 4, 6, 7)


def test_envi_header_wavelengths_without_bbl(tmp_path):
    header = ("wavelength units = Micrometers\nwavelength = {"
              + ", ".join(f"{w / 1000}" for w in NM) + "}\n")
    path = write_envi(tmp_path / "scene.img", _cube(), header)
    with open_raster(path) as src:
        assert src.band_indices == (1, 2, 4, 6, 7)


def test_a_bad_band_list_wins_even_when_it_flags_nothing(tmp_path):
    header = ("wavelength units = Nanometers\nwavelength = {" + ", ".join(map(str, NM)) + "}\n"
              "bbl = {1, 1, 1, 1, 1, 1, 0, 1}\n")
    path = write_envi(tmp_path / "bbl.img", _cube(), header)
    with open_raster(path) as src:
        assert src.info.has_bad_band_list
        assert src.band_indices == (1, 2, 3, 4, 5, 6, 8)  # the bbl's choice, not the windows'
    envi = {"wavelength": "{" + ", ".join(map(str, NM)) + "}", "wavelength_units": "nm",
            "bbl": "{1, 1, 1, 1, 1, 1, 1, 1}"}
    all_good = write_geotiff(tmp_path / "good.tif", _cube(), dataset_metadata={"ENVI": envi})
    with open_raster(all_good) as src:
        assert src.band_indices == tuple(range(1, 9))


def test_without_wavelengths_or_with_other_units_nothing_is_dropped(tmp_path):
    plain = write_geotiff(tmp_path / "plain.tif", _cube())
    with open_raster(plain) as src:
        assert src.band_indices == tuple(range(1, 9))
    index = write_geotiff(tmp_path / "idx.tif", _cube(), band_metadata=_band_items(NM, "Index"))
    with open_raster(index) as src:
        assert src.band_indices == tuple(range(1, 9))


def test_keep_all_bands_and_an_explicit_list_win(tmp_path):
    path = write_geotiff(tmp_path / "nm.tif", _cube(), band_metadata=_band_items(NM))
    with open_raster(path, drop_bad_bands=False) as src:
        assert src.band_indices == tuple(range(1, 9))
    with open_raster(path, bands="2-5") as src:
        assert src.band_indices == (2, 3, 4, 5)


def test_jobs_detect_takes_keep_all_bands(tmp_path):
    path = write_geotiff(tmp_path / "nm.tif", _cube().astype(np.float32) + np.arange(8)[:, None, None],
                         band_metadata=_band_items(NM))
    default = jobs.detect(path, tmp_path / "a.tif", method="rx")
    every = jobs.detect(path, tmp_path / "b.tif", method="rx", keep_all_bands=True)
    chosen = jobs.detect(path, tmp_path / "c.tif", method="rx", bands="1-8")
    assert (default.bands, every.bands, chosen.bands) == (5, 8, 8)


@pytest.mark.parametrize("command", [["detect", "in.tif", "out.tif"], ["fit", "in.tif", "m.st"]])
def test_cli_has_keep_all_bands_on_detect_and_fit(command):
    parser = build_parser()
    assert parser.parse_args(command).keep_all_bands is False
    assert parser.parse_args([*command, "--keep-all-bands"]).keep_all_bands is True
