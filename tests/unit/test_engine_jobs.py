"""The jobs facade: each bad input of the engine issue ends in a clear error and writes nothing."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from engine_fixtures import CUSTOM_WKT, ROTATED_GT, CancelAfter, read_band, synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.detectors import device
from dms2f_had.dms2f_plugin.engine.detectors.fitting import fit_schedule
from dms2f_had.dms2f_plugin.engine.errors import (
    CancelledError,
    Dms2fError,
    InputError,
    ModelFileError,
    OutputError,
    RasterReadError,
)
from dms2f_had.dms2f_plugin.engine.io.writer import atomic_output


@pytest.fixture
def scene(tmp_path):
    cube, gt = synthetic_scene(bands=8, height=24, width=30)
    return write_geotiff(tmp_path / "scene.tif", cube, crs_wkt=CUSTOM_WKT,
                         geotransform=ROTATED_GT), gt


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("method", ["rx", "lrx"])
def test_detect_rx_methods(scene, tmp_path, method):
    path, gt = scene
    result = jobs.detect(path, tmp_path / "score.tif", method=method, tile_size=16)
    assert result.method == method and result.device == "cpu" and result.tiles == 4
    assert (result.width, result.height, result.bands, result.valid_pixels) == (30, 24, 8, 720)
    score = read_band(tmp_path / "score.tif")
    assert np.isfinite(score).all()
    assert score[gt == 1].mean() > np.percentile(score[gt == 0], 95)


def test_unreadable_and_not_a_raster(tmp_path):
    (tmp_path / "text.tif").write_text("not an image")
    with pytest.raises(RasterReadError, match="Cannot open .*text.tif"):
        jobs.detect(tmp_path / "text.tif", tmp_path / "o.tif", method="rx")
    with pytest.raises(RasterReadError, match="does not exist"):
        jobs.detect(tmp_path / "missing.tif", tmp_path / "o.tif", method="rx")
    assert _files(tmp_path) == ["text.tif"]


def test_too_few_bands(tmp_path):
    path = write_geotiff(tmp_path / "one.tif", np.ones((1, 8, 8), np.float32))
    with pytest.raises(InputError, match=r"1 usable band\(s\).*at least 2"):
        jobs.detect(path, tmp_path / "o.tif", method="rx")
    assert _files(tmp_path) == ["one.tif"]


def test_all_pixels_nodata(tmp_path):
    path = write_geotiff(tmp_path / "empty.tif", np.zeros((3, 8, 8), np.int16), nodata=0)
    with pytest.raises(InputError, match=r"Every pixel of .*empty.tif.* is invalid \(64 pixels"):
        jobs.detect(path, tmp_path / "o.tif", method="rx")
    assert _files(tmp_path) == ["empty.tif"]


def test_nan_and_inf_are_masked_not_fatal(tmp_path):
    cube, _ = synthetic_scene(bands=5, height=16, width=16)
    cube[2, 3, 3] = np.nan
    cube[0, 9, 9] = np.inf
    path = write_geotiff(tmp_path / "nan.tif", cube)
    result = jobs.detect(path, tmp_path / "o.tif", method="rx")
    score = read_band(tmp_path / "o.tif")
    assert result.valid_pixels == 254
    assert np.isnan(score[3, 3]) and np.isnan(score[9, 9]) and np.isfinite(score).sum() == 254


def test_constant_bands_warn_and_all_constant_fails(tmp_path, caplog):
    cube, _ = synthetic_scene(bands=5, height=16, width=16)
    cube[1] = 3.0
    path = write_geotiff(tmp_path / "c.tif", cube)
    with caplog.at_level(logging.WARNING):
        jobs.detect(path, tmp_path / "o.tif", method="rx")
    assert "constant" in caplog.text and ": 2." in caplog.text
    flat = write_geotiff(tmp_path / "flat.tif", np.full((4, 8, 8), 5.0, np.float32))
    with pytest.raises(InputError, match="Every selected band .* is constant"):
        jobs.detect(flat, tmp_path / "o2.tif", method="rx")
    assert not (tmp_path / "o2.tif").exists()


def test_no_crs_is_warned_and_allowed(tmp_path, caplog):
    cube, _ = synthetic_scene(bands=4, height=10, width=10)
    path = write_geotiff(tmp_path / "nocrs.tif", cube)
    with caplog.at_level(logging.WARNING, logger="dms2f_had.dms2f_plugin.engine"):
        jobs.detect(path, tmp_path / "o.tif", method="rx")
    assert "has no CRS" in caplog.text
    assert (tmp_path / "o.tif").exists()


def test_output_equal_to_input_and_unwritable_folder(scene, tmp_path):
    path, _ = scene
    before = path.read_bytes()
    with pytest.raises(OutputError, match="is the input file"):
        jobs.detect(path, path, method="rx")
    assert path.read_bytes() == before
    with pytest.raises(OutputError, match="Cannot write into the folder"):
        jobs.detect(path, "/sys/score.tif", method="rx")


def test_cancel_leaves_no_file(scene, tmp_path):
    path, _ = scene
    with pytest.raises(CancelledError):
        jobs.detect(path, tmp_path / "o.tif", method="lrx", tile_size=16, progress=CancelAfter(3))
    assert _files(tmp_path) == ["scene.tif"]


def test_parameter_errors(scene, tmp_path):
    path, _ = scene
    with pytest.raises(InputError, match="Unknown method 'pca'"):
        jobs.detect(path, tmp_path / "o.tif", method="pca")
    with pytest.raises(InputError, match="--save-model only applies to method dms2f"):
        jobs.detect(path, tmp_path / "o.tif", method="rx", save_model=tmp_path / "m.bin")
    with pytest.raises(InputError, match=r"outer window \(7 px\) must be larger than the inner"):
        jobs.detect(path, tmp_path / "o.tif", method="lrx", inner_window=9, outer_window=7)
    with pytest.raises(ModelFileError, match="does not exist"):
        jobs.apply_model(tmp_path / "none.model", path, tmp_path / "o.tif")
    assert _files(tmp_path) == ["scene.tif"]


def test_every_job_error_is_a_dms2f_error(tmp_path):
    with pytest.raises(Dms2fError):
        jobs.threshold(tmp_path / "nope.tif", tmp_path / "m.tif")
    with pytest.raises(Dms2fError):
        jobs.evaluate(tmp_path / "nope.tif", tmp_path / "gt.tif")
    with pytest.raises(Dms2fError):
        jobs.import_mat(tmp_path / "nope.mat", tmp_path / "c.tif")


def test_device_resolution(monkeypatch):
    torch = pytest.importorskip("torch")
    assert device.resolve_device("cpu").type == "cpu"
    assert device.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="Unknown device 'tpu'"):
        device.resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available.*--device cpu"):
        device.resolve_device("cuda")


class _FakeFitted:
    """Stands in for fit.FittedModel: what jobs needs from it."""

    def __init__(self, band_indices, steps):
        self.band_indices = band_indices
        self.wavelengths_nm = None
        self.steps = steps

    def save(self, path, *, outputs=None):
        with atomic_output(path, sidecars=(), outputs=outputs) as temp:
            temp.write_bytes(b"fake model")


class _FakeScorer:
    """Stands in for dms2f_scorer.Dms2fScorer (same constructor, TileScorer protocol)."""

    halo, align = 16, 8

    def __init__(self, fitted, raster_height, raster_width, *, device, batch_size):
        self.shape = (raster_height, raster_width)

    def __call__(self, cube, valid, read_window, core):
        return np.full(core.shape, 1.0, np.float32)


@pytest.fixture
def fake_dms2f(monkeypatch):
    pytest.importorskip("torch")  # jobs resolves the torch device itself
    calls = {}

    def fit_scene(source, *, preset, device, seed, threads, steps, progress, covariance=False):
        calls.update(preset=preset, device=device, seed=seed, threads=threads, steps=steps,
                     bands=source.band_count)
        source.statistics(covariance=covariance)  # the real fit's pass (cached on the source)
        progress.set_progress(100.0)
        return _FakeFitted(source.band_indices, fit_schedule(preset, steps).steps)

    monkeypatch.setattr(jobs, "_dms2f_parts", lambda: (fit_scene, _FakeScorer))
    return calls


def test_dms2f_branch_contract_and_model_saved_after_success(scene, tmp_path, fake_dms2f):
    path, _ = scene
    result = jobs.detect(path, tmp_path / "s.tif", bands="1-6", preset="paper", device="cpu",
                         seed=7, threads=1, steps=9, save_model=tmp_path / "m.model", tile_size=16,
                         local_window=0)
    assert fake_dms2f == {"preset": "paper", "device": "cpu", "seed": 7, "threads": 1, "steps": 9,
                          "bands": 6}
    assert result.device == "cpu" and result.fit_seconds is not None
    assert result.model_path == (tmp_path / "m.model").resolve()
    assert (tmp_path / "m.model").read_bytes() == b"fake model"
    assert np.all(read_band(tmp_path / "s.tif") == 1.0)


def test_dms2f_cancel_leaves_neither_score_nor_model(scene, tmp_path, fake_dms2f):
    path, _ = scene
    with pytest.raises(CancelledError):
        jobs.detect(path, tmp_path / "s.tif", device="cpu", save_model=tmp_path / "m.model",
                    tile_size=16, progress=CancelAfter(2))
    assert _files(tmp_path) == ["scene.tif"]


def test_dms2f_default_removes_the_background_and_fuses_with_rx(scene, tmp_path, fake_dms2f,
                                                                caplog):
    """The fake scores 1.0 everywhere: a constant background, which the line medians remove to
    0 (0 robust units too); the fusion then keeps the larger of that and the robust units of
    RX's cube root."""
    from osgeo import gdal

    from dms2f_had.dms2f_plugin.engine.detectors.rx_fusion import RobustScale

    path, _ = scene
    jobs.detect(path, tmp_path / "s.tif", device="cpu", tile_size=16)
    jobs.detect(path, tmp_path / "rx.tif", method="rx", tile_size=16)
    term = np.cbrt(read_band(tmp_path / "rx.tif").astype(np.float64))
    np.testing.assert_allclose(read_band(tmp_path / "s.tif"),
                               np.fmax(0.0, RobustScale.of(term).units(term)), rtol=1e-5, atol=1e-5)
    meta = gdal.Open(str(tmp_path / "s.tif")).GetMetadata()
    assert meta["local_window"] == "auto"
    assert meta["rx_fusion"] == "max of robust units (RX as its cube root)"
    caplog.set_level(logging.INFO)
    jobs.detect(path, tmp_path / "off.tif", device="cpu", tile_size=16, local_window=0)
    assert np.all(read_band(tmp_path / "off.tif") == 1.0)  # 0: the network's score alone
    assert "No background correction (local window 0)" in caplog.text  # and the log says so
    assert gdal.Open(str(tmp_path / "off.tif")).GetMetadata()["rx_fusion"] == "off"


@pytest.mark.parametrize("window", [4, 1, -3])
def test_bad_local_window_is_refused_before_any_work(scene, tmp_path, fake_dms2f, window):
    path, _ = scene
    with pytest.raises(InputError, match=f"local background window must be auto \\(the default\\), "
                                         f"0 \\(off\\) or an odd number from 3 to 101, got {window}"):
        jobs.detect(path, tmp_path / "s.tif", device="cpu", local_window=window)
    assert fake_dms2f == {} and _files(tmp_path) == ["scene.tif"]


def test_the_device_is_announced_once_per_detection(scene, tmp_path, fake_dms2f, caplog):
    """The fit says which device it uses; the scoring that follows does not say it again."""
    import logging

    from dms2f_had.dms2f_plugin.engine.detectors import device

    path, _ = scene
    with caplog.at_level(logging.INFO, logger="dms2f_had"):
        device.resolve_device("cpu")  # what the real fit does (the fake fit does not)
        jobs.detect(path, tmp_path / "s.tif", device="cpu", tile_size=16, local_window=0)
    assert sum("Using device" in record.getMessage() for record in caplog.records) == 1
