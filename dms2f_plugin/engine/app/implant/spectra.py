"""Target spectra for implants: another scene's labelled anomalies, carried over to the host.

The transfer rule, per band: ``target = host_mean + z * host_std`` where ``z`` is the donor pixel's
z-score against the DONOR scene's background (its unlabelled pixels), resampled to the host's band
count over the normalised band position (band ``i`` of ``B`` sits at ``i / (B - 1)``; linear
interpolation).

Why z-scores: the development scenes come from different sensors and processing chains (raw
counts of different gains, 102 to 207 bands, different band sets) and carry no wavelengths, so a
donor spectrum cannot be copied into a host as it is: its values would be off the host's scale in
every band and the target trivially detectable, or meaningless. What a detector responds to is how
far a spectrum lies from its background, band by band; the z-score keeps exactly that (a plane
that is three background spreads brighter than the tarmac in the donor's band 40 becomes three of
the host's spreads brighter than the host's background in the matching band) and lands in the
host's units. The normalised band position is the only alignment the files allow; most scenes span
about 400-2500 nm, so it roughly matches wavelengths (not for the 102-band Pavia scene, which
spans about 430-860 nm: its targets keep their anomalousness, not their physical shape).

Per-pixel jitter keeps a target from being one repeated spectrum: a pixel gets ``scale * (p - q) /
sqrt(2)`` added, with ``p`` and ``q`` two random unlabelled host pixels, i.e. noise with the host
background's own covariance, shrunk by ``scale``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Floor of a band's background spread, relative to its mean level (a constant band gives z = 0).
_MIN_STD = 1e-6


@dataclasses.dataclass(frozen=True)
class BackgroundStats:
    """Per-band mean and spread of a scene's unlabelled pixels (each ``(bands,)``, float64)."""

    mean: np.ndarray
    std: np.ndarray


def background_stats(cube: np.ndarray, labels: np.ndarray) -> BackgroundStats:
    """Mean and standard deviation per band over the pixels that are not labelled anomalies.

    Args:
        cube: ``(H, W, bands)``.
        labels: bool ``(H, W)``, True for labelled anomalies.

    Raises:
        ValueError: every pixel is labelled.
    """
    background = cube[~labels.astype(bool)].astype(np.float64)  # (n, bands)
    if background.shape[0] < 2:
        raise ValueError("the scene has fewer than 2 unlabelled pixels; no background to measure")
    mean = background.mean(axis=0)  # (bands,)
    std = background.std(axis=0)  # (bands,)
    floor = _MIN_STD * np.maximum(np.abs(mean), 1.0)
    return BackgroundStats(mean=mean, std=np.maximum(std, floor))


def resample_bands(spectra: np.ndarray, count: int) -> np.ndarray:
    """Linear resampling of ``(..., bands)`` to ``(..., count)`` over the normalised band position.

    Raises:
        ValueError: ``count`` < 1.
    """
    if count < 1:
        raise ValueError(f"band count must be >= 1, got {count}")
    source = spectra.shape[-1]
    if source == count:
        return spectra.astype(np.float64, copy=True)
    x_src = np.linspace(0.0, 1.0, source) if source > 1 else np.zeros(1)
    x_dst = np.linspace(0.0, 1.0, count) if count > 1 else np.zeros(1)
    flat = spectra.reshape(-1, source).astype(np.float64)  # (n, source)
    out = np.stack([np.interp(x_dst, x_src, row) for row in flat])  # (n, count)
    return out.reshape(*spectra.shape[:-1], count)


@dataclasses.dataclass(frozen=True)
class DonorSpectra:
    """A donor scene's labelled anomaly pixels as z-scores against its own background.

    Attributes:
        name: the donor scene.
        z: ``(n, bands)`` z-scores of its labelled pixels (donor's band count).
        pixels: ``(n, 2)`` their row and column in the donor scene.
    """

    name: str
    z: np.ndarray
    pixels: np.ndarray


def donor_spectra(name: str, cube: np.ndarray, labels: np.ndarray) -> DonorSpectra:
    """The z-scores of a scene's labelled pixels (see the module docstring).

    Raises:
        ValueError: the scene has no labelled pixel (it cannot donate).
    """
    labels = labels.astype(bool)
    if not labels.any():
        raise ValueError(f"scene '{name}' has no labelled anomaly pixels to donate")
    stats = background_stats(cube, labels)
    rows, cols = np.nonzero(labels)
    z = (cube[rows, cols].astype(np.float64) - stats.mean) / stats.std  # (n, bands)
    return DonorSpectra(name=name, z=z, pixels=np.stack([rows, cols], axis=1))


def transfer(z: np.ndarray, host: BackgroundStats) -> np.ndarray:
    """A donor z-score spectrum ``(donor_bands,)`` as a host spectrum ``(host_bands,)``."""
    return host.mean + resample_bands(z, host.mean.shape[0]) * host.std


def jitter(background: np.ndarray, count: int, scale: float,
           rng: np.random.Generator) -> np.ndarray:
    """``(count, bands)`` noise with the covariance of ``background`` ``(n, bands)`` times ``scale**2``."""
    first = background[rng.integers(len(background), size=count)].astype(np.float64)
    second = background[rng.integers(len(background), size=count)].astype(np.float64)
    return scale * (first - second) / np.sqrt(2.0)  # (count, bands)
