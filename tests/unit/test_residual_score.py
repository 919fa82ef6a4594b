"""The calibrated residual score: its two distances, its calibration on valid pixels, its storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dms2f_had.dms2f_plugin.engine.detectors.residual_score import ResidualCalibration, calibrate_on_blocks


def _background(n: int = 4000, seed: int = 0) -> np.ndarray:
    """``(3, n)`` residuals: wide in band 0, narrow in band 1, band 2 correlated with band 0."""
    rng = np.random.default_rng(seed)
    wide = rng.normal(0.0, 1.0, n)
    return np.stack([wide, rng.normal(0.0, 0.01, n), 0.5 * wide + rng.normal(0.0, 0.1, n)])


def test_background_scores_about_zero_in_robust_units() -> None:
    pixels = _background()
    calibration = ResidualCalibration.from_residuals(pixels)
    scores = calibration.score(pixels.reshape(3, 40, 100))  # (40, 100)
    assert scores.shape == (40, 100) and scores.dtype == np.float64
    assert abs(np.median(scores)) < 0.5
    assert np.percentile(scores, 99) < 12.0  # two robust units, each O(1) for background


def test_a_short_residual_in_a_rare_direction_outranks_a_long_ordinary_one() -> None:
    """The Mahalanobis half: 0.1 in the narrow band is rarer than 3 in the wide one."""
    calibration = ResidualCalibration.from_residuals(_background())
    ordinary = np.array([3.0, 0.0, 1.5])  # long, but along the background's own spread
    rare = np.array([0.0, 0.1, 0.0])  # short, but 10 sigma off in the narrow band
    scores = calibration.score(np.stack([ordinary, rare], axis=1)[:, :, None])  # (2, 1)
    assert np.linalg.norm(rare) < np.linalg.norm(ordinary)
    assert scores[1, 0] > scores[0, 0] + 5.0


def test_a_long_residual_scores_high_even_along_the_background_spread() -> None:
    """The length half: a residual ten times the usual length is never ordinary."""
    calibration = ResidualCalibration.from_residuals(_background())
    scores = calibration.score(np.array([30.0, 0.0, 15.0])[:, None, None])
    assert scores[0, 0] > 20.0


def test_metadata_and_arrays_round_trip() -> None:
    calibration = ResidualCalibration.from_residuals(_background())
    again = ResidualCalibration.from_parts(calibration.to_metadata(), calibration.to_arrays())
    np.testing.assert_array_equal(again.mean, calibration.mean)
    np.testing.assert_array_equal(again.whiten, calibration.whiten)
    assert again.to_metadata() == calibration.to_metadata()


def test_malformed_parts_and_too_few_pixels_are_refused() -> None:
    calibration = ResidualCalibration.from_residuals(_background())
    with pytest.raises(ValueError, match="calibration arrays of shapes"):
        ResidualCalibration.from_parts(calibration.to_metadata(),
                                       {"mean": np.zeros(4), "whiten": calibration.whiten})
    with pytest.raises(KeyError):
        ResidualCalibration.from_parts({}, calibration.to_arrays())
    with pytest.raises(ValueError, match="need \\(bands, n >= 2\\)"):
        ResidualCalibration.from_residuals(np.zeros((3, 1)))


def test_a_perfect_reconstruction_gives_finite_scores() -> None:
    """Zero residuals everywhere: the spreads fall back instead of dividing by zero."""
    calibration = ResidualCalibration.from_residuals(np.zeros((3, 50)))
    assert calibration.length_spread == 1.0 and calibration.mahalanobis_spread == 1.0
    assert np.isfinite(calibration.score(np.ones((3, 2, 2)))).all()


class _Halve(torch.nn.Module):
    """A 'network' whose residual is exactly ``-x / 2``: the calibration is known by hand."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x


def test_calibration_reads_only_valid_pixels_of_the_blocks() -> None:
    rng = np.random.default_rng(1)
    blocks = rng.normal(0.0, 1.0, (5, 3, 16, 16)).astype(np.float32)  # (n, C, 16, 16)
    valid = np.ones((5, 16, 16), dtype=bool)
    valid[:, 12:, :] = False  # padding past the raster edge, or nodata
    blocks[:, :, 12:, :] = 1e6  # garbage there must not reach the statistics
    calibration = calibrate_on_blocks(_Halve(), blocks, valid, device=torch.device("cpu"))
    expected = ResidualCalibration.from_residuals(-0.5 * blocks.transpose(1, 0, 2, 3)[:, valid])
    np.testing.assert_allclose(calibration.mean, expected.mean, rtol=1e-6)
    np.testing.assert_allclose(np.abs(calibration.whiten), np.abs(expected.whiten), rtol=1e-5)
    assert calibration.to_metadata() == pytest.approx(expected.to_metadata())
    assert np.abs(calibration.mean).max() < 1.0  # no 1e6 leaked in
