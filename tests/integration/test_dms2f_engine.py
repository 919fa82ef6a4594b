"""DMS2F-HAD through the engine with the real network: tiling, model files, cancel, quality.

No stand-ins: every test runs the real ``models.Dms2fHad`` on real GDAL files. The network of the
tiling and model-file tests is freshly initialised (deterministic in eval mode), which is all those
properties need; the quality test fits with the shipped defaults on a real benchmark scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_fixtures import ROTATED_GT, synthetic_scene, write_geotiff
from osgeo import gdal

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.detectors.dms2f_scorer import Dms2fScorer
from dms2f_had.dms2f_plugin.engine.detectors.fitting import sample_blocks, scene_normalisation
from dms2f_had.dms2f_plugin.engine.detectors.local_background import (
    DEFAULT_LOCAL_WINDOW,
    with_local_background,
)
from dms2f_had.dms2f_plugin.engine.detectors.model_file import FittedModel
from dms2f_had.dms2f_plugin.engine.detectors.residual_score import calibrate_on_blocks
from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer
from dms2f_had.dms2f_plugin.engine.detectors.rx_fusion import RxFusedScorer
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array
from dms2f_had.dms2f_plugin.engine.errors import CancelledError, ModelFileError
from dms2f_had.dms2f_plugin.engine.io.matfile import load_mat
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster
from dms2f_had.dms2f_plugin.engine.products.evaluate import roc_auc
from dms2f_had.models import Dms2fConfig, Dms2fHad

BANDS = 14


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    """A 37 x 45 synthetic scene (not a multiple of 16) with a rotated geotransform."""
    cube, _ = synthetic_scene(bands=BANDS, height=37, width=45, seed=3)
    return write_geotiff(tmp_path / "scene.tif", cube, geotransform=ROTATED_GT)


def _untrained(source) -> FittedModel:
    """A freshly initialised network, calibrated on the scene's blocks as a fit would do."""
    torch.manual_seed(0)
    network = Dms2fHad(Dms2fConfig.preset("fast", bands=source.band_count)).eval()
    norm = scene_normalisation(source)
    blocks, valid = sample_blocks(source, norm, max_blocks=64, seed=0)
    calibration = calibrate_on_blocks(network, blocks, valid, device=torch.device("cpu"))
    return FittedModel(network=network, normalisation=norm, calibration=calibration,
                       band_indices=source.band_indices, wavelengths_nm=None, preset="fast",
                       seed=0, raster_band_count=source.info.band_count)


@pytest.mark.parametrize("stride", [8, 16])
def test_tiled_score_equals_whole_image_score(scene: Path, stride: int) -> None:
    with open_raster(scene) as source:
        fitted = _untrained(source)
        scorer = Dms2fScorer(fitted, source.height, source.width, device=torch.device("cpu"),
                             batch_size=7, stride=stride)
        assert scorer.align == stride
        whole = score_array(source, scorer, tile_size=512)
        for tile_size in (16, 32):
            tiled = score_array(source, scorer, tile_size=tile_size)
            np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-4)  # robust units: O(1)
    assert np.isfinite(whole).all() and whole.std() > 0


def test_saved_model_applies_with_identical_scores(scene: Path, tmp_path: Path) -> None:
    with open_raster(scene) as source:
        fitted = _untrained(source)
        scorer = Dms2fScorer(fitted, source.height, source.width, device=torch.device("cpu"))
        corrected = with_local_background(  # apply's default: automatic, fused with RX
            scorer, DEFAULT_LOCAL_WINDOW, source.height, source.width)
        rx = GlobalRxScorer.from_statistics(source.statistics(covariance=True))
        expected = score_array(source, RxFusedScorer(corrected, rx))
    model = tmp_path / "scene.dms2f"
    fitted.save(model)
    out = tmp_path / "applied.tif"
    result = jobs.apply_model(model, scene, out, device="cpu", tile_size=16)
    assert result.output_path == out
    ds = gdal.Open(str(out))
    np.testing.assert_allclose(ds.ReadAsArray(), expected, rtol=1e-5, atol=1e-4)
    assert ds.GetGeoTransform() == pytest.approx(ROTATED_GT)


def test_seeds_change_the_map_and_a_seed_repeats_it(scene: Path, tmp_path: Path) -> None:
    maps = []
    for n, seed in enumerate((0, 1, 0)):
        out = tmp_path / f"seed{n}.tif"
        jobs.detect(scene, out, device="cpu", seed=seed, steps=3, local_window=0, threads=1)
        maps.append(gdal.Open(str(out)).ReadAsArray())
    assert not np.allclose(maps[0], maps[1])
    np.testing.assert_array_equal(maps[0], maps[2])


def test_the_default_detection_reads_the_statistics_once(scene: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit's statistics pass also accumulates RX's covariance: the fusion needs no pass."""
    from dms2f_had.dms2f_plugin.engine.io import statistics

    passes = []
    real = statistics.compute_statistics
    monkeypatch.setattr(statistics, "compute_statistics",
                        lambda source, **kw: passes.append(kw["covariance"]) or real(source, **kw))
    out = tmp_path / "default.tif"
    jobs.detect(scene, out, device="cpu", steps=2, threads=1)
    assert passes == [True]
    assert gdal.Open(str(out)).GetMetadata()["rx_fusion"] == "max of robust units (RX as its cube root)"
    jobs.detect(scene, tmp_path / "square.tif", device="cpu", steps=2, threads=1, local_window=3)
    assert passes == [True, False]  # no fusion, no covariance


def test_model_for_another_band_count_is_refused(scene: Path, tmp_path: Path) -> None:
    with open_raster(scene, bands=list(range(1, BANDS))) as source:
        fitted = _untrained(source)
    model = tmp_path / "fewer.dms2f"
    fitted.save(model)
    other = write_geotiff(tmp_path / "other.tif", synthetic_scene(bands=BANDS + 5)[0])
    with pytest.raises(ModelFileError, match="fitted on a raster with 14 bands"):
        jobs.apply_model(model, other, tmp_path / "never.tif", device="cpu")
    assert not (tmp_path / "never.tif").exists()


class _CancelAfter:
    """Cancels once ``calls`` progress reports have arrived (mid-fit)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def set_progress(self, percent: float) -> None:
        self.calls -= 1

    def is_canceled(self) -> bool:
        return self.calls <= 0


def test_cancel_during_fit_leaves_no_output(scene: Path, tmp_path: Path) -> None:
    out, model = tmp_path / "score.tif", tmp_path / "model.dms2f"
    with pytest.raises(CancelledError):
        jobs.detect(scene, out, method="dms2f", device="cpu", save_model=model,
                    progress=_CancelAfter(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


@pytest.mark.slow
def test_shipped_defaults_beat_global_rx_on_a_real_scene(had_dir: Path, tmp_path: Path) -> None:
    """Honest protocol: fit without labels, write the map, only then read the ground truth."""
    scene_file = had_dir / "aviris-1.mat"
    dms2f, rx = tmp_path / "dms2f.tif", tmp_path / "rx.tif"
    jobs.detect(scene_file, dms2f, method="dms2f", device="cpu", seed=0)
    jobs.detect(scene_file, rx, method="rx")
    truth = load_mat(scene_file).ground_truth
    auc_dms2f = roc_auc(gdal.Open(str(dms2f)).ReadAsArray(), truth)
    auc_rx = roc_auc(gdal.Open(str(rx)).ReadAsArray(), truth)
    assert auc_rx == pytest.approx(0.8866, abs=0.002)
    assert auc_dms2f > auc_rx + 0.03, (auc_dms2f, auc_rx)


def test_fit_schedule_steps_override_keeps_the_rest_of_the_preset() -> None:
    from dms2f_had.dms2f_plugin.engine.detectors.fitting import SCHEDULES, fit_schedule
    from dms2f_had.dms2f_plugin.engine.errors import InputError

    assert fit_schedule("fast") == SCHEDULES["fast"]
    shorter = fit_schedule("paper", 7)
    assert shorter.steps == 7 and shorter.lr == SCHEDULES["paper"].lr
    with pytest.raises(InputError, match="steps must be a whole number >= 1, got 0"):
        fit_schedule("fast", 0)
    with pytest.raises(InputError, match="Unknown preset 'slow'"):
        fit_schedule("slow")


def test_model_file_without_calibration_asks_for_a_refit(scene: Path, tmp_path: Path) -> None:
    """A model written before the score was calibrated cannot score the same way: refit."""
    from dms2f_had.models import save_model

    with open_raster(scene) as source:
        fitted = _untrained(source)
    old = tmp_path / "old.safetensors"
    save_model(old, fitted.network, metadata={"normalisation": fitted.normalisation.to_dict(),
                                              "band_indices": list(fitted.band_indices)})
    with pytest.raises(ModelFileError, match="earlier version of the plugin.*fit the model again"):
        FittedModel.load(old)


def test_one_read_samples_the_same_blocks_and_normalisation_as_two(tmp_path: Path) -> None:
    """The fit's single pass (statistics + blocks) equals the two-pass reference bit for bit.

    The scene spans several 512-pixel sampling windows with sides that are not multiples of the
    block, has nodata pixels and a nodata strip, and more grid blocks than are sampled.
    """
    from dms2f_had.dms2f_plugin.engine.detectors.fitting import sample_scene
    from dms2f_had.dms2f_plugin.engine.io.statistics import compute_statistics

    cube, _ = synthetic_scene(bands=5, height=530, width=601, seed=4)
    rng = np.random.default_rng(0)
    cube[:, rng.random((530, 601)) < 0.01] = -9.0
    cube[:, 300:310, :] = -9.0
    path = write_geotiff(tmp_path / "wide.tif", cube, nodata=-9.0)
    with open_raster(path) as source:
        norm = scene_normalisation(source)
        blocks, valid = sample_blocks(source, norm, max_blocks=900, seed=3)
    with open_raster(path) as source:
        reads = []
        read_window = source.read_window
        source.read_window = lambda window: reads.append(window) or read_window(window)  # type: ignore[method-assign]
        one_norm, one_blocks, one_valid = sample_scene(source, max_blocks=900, seed=3)
        assert len(reads) == 4  # each 512-pixel window once (grown by a block)
        plain = compute_statistics(source, tile_size=512)
        grown = compute_statistics(source, tile_size=512, margin=16)
    assert (one_norm.minimum, one_norm.maximum) == (norm.minimum, norm.maximum)
    np.testing.assert_array_equal(one_norm.fill, norm.fill)
    assert len(blocks) > 800 and not valid.all()
    np.testing.assert_array_equal(one_blocks, blocks)
    np.testing.assert_array_equal(one_valid, valid)
    np.testing.assert_array_equal(grown.mean, plain.mean)
    np.testing.assert_array_equal(grown.std, plain.std)
    assert grown.valid_pixels == plain.valid_pixels
