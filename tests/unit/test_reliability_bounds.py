"""Every number a user types is bounded before any work, with one line naming it (CLI = engine).

Each case runs the real command line in this process on a real raster and must exit 1 with one
``dms2f-had: error:`` line, leave no temporary file and keep an existing output byte for byte.
The memory estimate refuses a run that would not fit, naming the setting that actually drives it.
"""

from __future__ import annotations

import math

import pytest
from engine_fixtures import synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine import bounds
from dms2f_had.dms2f_plugin.engine.app import cli, preflight
from dms2f_had.dms2f_plugin.engine.detectors.memory import estimate_detection, refusal
from dms2f_had.dms2f_plugin.engine.errors import InputError

OLD = b"previous output, kept byte for byte"


@pytest.fixture
def scene(tmp_path):
    cube, _ = synthetic_scene(bands=12, height=60, width=60)
    return write_geotiff(tmp_path / "scene.tif", cube)


@pytest.fixture
def score(tmp_path):
    cube, _ = synthetic_scene(bands=1, height=30, width=30)
    return write_geotiff(tmp_path / "score.tif", cube)


def _refused(argv, words, out, capsys):
    out.write_bytes(OLD)
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error:" in line]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("dms2f-had: error: "), err
    assert words in lines[0], lines[0]
    assert out.read_bytes() == OLD
    assert [p.name for p in out.parent.iterdir() if ".tmp" in p.name] == []


CORES = bounds.usable_cores()
DETECT_CASES = [
    (["--seed", "-1"], "seed must be a whole number from 0 to 4294967295, got -1"),
    (["--seed", str(2**70)], f"seed must be a whole number from 0 to 4294967295, got {2**70}"),
    (["--threads", "1000"], f"CPU threads must be a whole number from 1 to {CORES}, got 1000"),
    (["--threads", "0"], "CPU threads must be a whole number from 1"),
    (["--steps", "0"], "fitting steps must be a whole number from 1 to 100000, got 0"),
    (["--steps", str(10**9)], "fitting steps must be a whole number from 1 to 100000"),
    (["--tile-size", "8"], "tile size must be a whole number from 16 to 8192, got 8"),
    (["--tile-size", "100000"], "tile size must be a whole number from 16 to 8192"),
    (["--local-window", "851"], "local background window must be auto (the default), 0 (off) or an "
                                "odd number from 3 to 101, got 851"),
    (["--local-window", "-3"], "local background window must be auto (the default), 0 (off) or an "
                               "odd number"),
    (["--local-window", "61"], "local background window 61 is larger than the raster's smaller "
                               "side (60 pixels)"),
    (["--bands", "1-100000000"], "band 100000000 does not exist: the raster has bands 1 to 12"),
    (["--bands", "13"], "band 13 does not exist"),
    (["--preset", "paper", "--device", "cpu", "--bands", ",".join(["1-12"] * 5000)],
     "band list names"),
    (["--method", "lrx", "--outer-window", "301"], "outer (background) window must be an odd "
                                                   "number from 3 to 101, got 301"),
    (["--method", "lrx", "--inner-window", "4"], "inner (guard) window must be an odd number"),
    (["--method", "lrx", "--inner-window", "9", "--outer-window", "7"],
     "outer window (7 px) must be larger than the inner window (9 px)"),
    (["--method", "lrx", "--outer-window", "99"], "outer window 99 is larger than the raster's "
                                                  "smaller side (60 pixels)"),
]


@pytest.mark.parametrize("extra, words", DETECT_CASES, ids=[" ".join(c[0])[:40] for c in DETECT_CASES])
def test_detect_numbers_are_bounded(scene, tmp_path, capsys, extra, words):
    out = tmp_path / "out.tif"
    _refused(["detect", str(scene), str(out), *extra], words, out, capsys)


THRESHOLD_CASES = [
    (["--method", "value", "--value", "nan"], "threshold value must be a finite number, got nan"),
    (["--method", "value", "--value", "inf"], "threshold value must be a finite number, got inf"),
    (["--method", "value", "--value=-inf"], "threshold value must be a finite number"),
    (["--method", "percentile", "--value", "150"], "percentile must be between 0 and 100, got 150"),
    (["--method", "percentile", "--value", "nan"], "threshold value must be a finite number"),
    (["--method", "sigma", "--value=-1"], "k must be positive and at most 1000, got -1"),
    (["--method", "sigma", "--value", "1e300"], "k must be positive and at most 1000"),
    (["--method", "value"], "needs a score value"),
    (["--min-size", "0"], "minimum object size must be a whole number from 1"),
    (["--min-size", "901"], "minimum object size must be a whole number from 1 to 900, got 901; "
                            "the raster has 900 pixels"),
]


@pytest.mark.parametrize("extra, words", THRESHOLD_CASES,
                         ids=[" ".join(c[0]) for c in THRESHOLD_CASES])
def test_threshold_numbers_are_bounded(score, tmp_path, capsys, extra, words):
    out = tmp_path / "mask.tif"
    _refused(["threshold", str(score), str(out), *extra], words, out, capsys)


def test_fit_and_apply_numbers_are_bounded(scene, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    _refused(["fit", str(scene), str(model), "--seed", "-1"], "seed must be a whole number", model,
             capsys)
    out = tmp_path / "out.tif"
    _refused(["apply", str(model), str(scene), str(out), "--tile-size", "9"],
             "tile size must be a whole number", out, capsys)


def test_bench_numbers_are_bounded(tmp_path, capsys):
    for extra, words in ((["--seeds", "0"], "number of seeds must be a whole number from 1 to 100"),
                         (["--threads", "1000"], "CPU threads must be a whole number"),
                         (["--steps", "-5"], "fitting steps must be a whole number")):
        with pytest.raises(SystemExit) as info:
            cli.main(["bench", "--scenes", str(tmp_path), *extra])
        assert info.value.code == 2
        assert words in capsys.readouterr().err


@pytest.mark.parametrize("value", [True, 2.5, math.nan, "12a", None])
def test_whole_numbers_refuse_what_is_not_one(value):
    with pytest.raises(InputError, match="must be a whole number from 0 to 10"):
        bounds.whole_number("the thing", value, 0, 10)


def test_defaults_pass_and_the_default_window_fits_narrow_rasters():
    preflight.check_detect_options()
    preflight.check_detect_options(method="lrx")
    assert bounds.check_local_window(15, 20, 12, default=15) == 15  # the default is always accepted
    assert bounds.check_local_window(None, 20, 12) is None  # the automatic correction
    assert bounds.check_seed(2**32 - 1) == 2**32 - 1 and bounds.check_seed(3.0) == 3


def test_memory_estimate_names_the_setting_that_drives_it():
    tiles = estimate_detection("dms2f", bands=200, width=9000, height=9000, tile_size=8192,
                               local_window=15, fitting=True)
    assert tiles.largest() == "tile_size"
    window = estimate_detection("dms2f", bands=12, width=3000, height=3000, tile_size=512,
                                local_window=101)
    assert window.largest() == "local_window"
    bands = estimate_detection("dms2f", bands=4000, width=512, height=512, tile_size=64,
                               local_window=0, fitting=True)
    assert bands.largest() == "bands"
    ring = estimate_detection("lrx", bands=20, width=4096, height=4096, tile_size=512,
                              outer_window=101)
    assert ring.largest() == "outer_window"
    assert refusal(tiles, tiles.total) is None
    message = refusal(tiles, 2**30)
    assert message.startswith("This run needs about ") and "but 1.0 GiB is available" in message
    assert "tiles of 8192 x 8192 pixels and 200 bands" in message and "smaller tile size" in message


def _sparse(path, width, height, bands):
    """A large GeoTIFF whose tiles were never written (a few kB): enough for the checks."""
    from osgeo import gdal

    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, gdal.GDT_Float32,
                                              ["TILED=YES", "SPARSE_OK=TRUE"])
    ds.FlushCache()
    del ds
    return path


def test_a_run_that_does_not_fit_in_memory_is_refused_before_any_work(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(preflight, "available_memory", lambda: 300 * 2**20)
    big = _sparse(tmp_path / "big.tif", 4096, 4096, 20)
    out = tmp_path / "out.tif"
    _refused(["detect", str(big), str(out), "--method", "lrx", "--outer-window", "101"],
             "for local RX's outer window of 101 pixels, but 300 MiB is available; use a smaller "
             "outer window", out, capsys)
    _refused(["detect", str(big), str(out), "--method", "rx", "--tile-size", "8192"],
             "for the tiles of 8192 x 8192 pixels and 20 bands", out, capsys)
    monkeypatch.setattr(preflight, "available_memory", lambda: 64 * 2**20)
    _refused(["detect", str(big), str(out), "--method", "rx"],
             "for the network and the libraries, but 64 MiB is available", out, capsys)


def test_available_memory_is_read_from_this_machine():
    available = preflight.available_memory()
    assert available is None or available > 0


def test_an_out_of_memory_error_says_what_failed_instead_of_blaming_the_tile_size(
        scene, tmp_path, monkeypatch, capsys):
    from dms2f_had.dms2f_plugin.engine.app import jobs

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 20.9 GiB for an array with shape (16384, 171396) "
                          "and data type float64")

    monkeypatch.setattr(jobs, "_rx_scorer", exhausted)
    out = tmp_path / "out.tif"
    _refused(["detect", str(scene), str(out), "--method", "rx"],
             "Out of memory (Unable to allocate 20.9 GiB for an array with shape (16384, 171396) "
             "and data type float64). Free some memory, or lower what sizes the work", out, capsys)
