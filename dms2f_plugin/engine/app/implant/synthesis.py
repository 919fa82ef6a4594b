"""Implant synthetic targets into a development scene: the implant copy and its ground truth.

One *implant copy* of a host scene holds the targets of a few size classes (a *group*, e.g.
``(1, 4, 9, 25, 64)``); the default groups spread the seven classes over three copies so that
the implanted fraction of a scene stays realistic. A class holds several targets
(:data:`TARGETS_PER_SIZE`), their abundances cycling through 0.25, 0.5 and 1.0, so each class has
at least one target at each abundance. A target pixel is the linear mixture
``a * (target + jitter) + (1 - a) * original`` with the local background it replaces; the target
spectrum is a labelled anomaly pixel of another development scene, carried over as described in
:mod:`.spectra`; the positions keep :data:`MARGIN` pixels from the labels, the edges and each
other (:mod:`.placement`).

The ground truth of a class is that class's implant mask. Its background is every pixel that is
neither implanted (any class of the copy) nor labelled in the original scene: the original labels
are left out of the implant AUCs altogether. Everything is deterministic from the seed, the host's
name and the group.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import numpy as np

from .placement import place_targets
from .spectra import DonorSpectra, background_stats, jitter, transfer

SIZE_CLASSES = (1, 4, 9, 25, 64, 144, 300)
DEFAULT_GROUPS: tuple[tuple[int, ...], ...] = ((1, 4, 9, 25, 64), (144,), (300,))
ABUNDANCES = (0.25, 0.5, 1.0)
#: Targets per size class: more of the small ones, at least one per abundance for every class.
TARGETS_PER_SIZE = {1: 6, 4: 6, 9: 6, 25: 3, 64: 3, 144: 3, 300: 3}
#: Free pixels between a target and the edges, the labels and the other targets.
MARGIN = 4
#: Jitter scale, as a fraction of the host background's pixel-to-pixel spread.
JITTER = 0.1
#: Largest target the synthesis accepts (a 300-pixel class fills 9 % of a 100 x 100 scene).
MAX_TARGET_PIXELS = 4096


@dataclasses.dataclass(frozen=True)
class Scene:
    """A development scene: its name, cube ``(H, W, bands)`` and labelled anomalies (bool ``(H, W)``)."""

    name: str
    cube: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Target:
    """One implanted target.

    Attributes:
        size: pixels.
        abundance: mixing fraction ``a`` of the target spectrum.
        donor: the scene its spectrum came from.
        donor_pixel: ``(row, col)`` of that labelled pixel in the donor.
        box: ``(row, col, rows, cols)`` bounding box in the host.
    """

    size: int
    abundance: float
    donor: str
    donor_pixel: tuple[int, int]
    box: tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class ImplantedScene:
    """An implant copy of a host scene.

    Attributes:
        host: the host scene's name.
        group: the size classes it holds.
        seed: the synthesis seed.
        cube: ``(H, W, bands)`` float32 with the targets mixed in.
        labels: bool ``(H, W)``, the host's original labels (left out of every implant AUC).
        masks: size class -> bool ``(H, W)`` mask of that class's implanted pixels.
        targets: every target, in placement-independent order (by class, then index).
    """

    host: str
    group: tuple[int, ...]
    seed: int
    cube: np.ndarray
    labels: np.ndarray
    masks: dict[int, np.ndarray]
    targets: tuple[Target, ...]

    @property
    def implanted(self) -> np.ndarray:
        """Bool ``(H, W)``: pixels implanted in any class."""
        union = np.zeros(self.labels.shape, dtype=bool)
        for mask in self.masks.values():
            union |= mask
        return union

    def evaluation_masks(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positives, evaluated)`` bool ``(H, W)`` for one class's ROC AUC.

        Positives are the class's implanted pixels; the evaluated pixels are those positives
        plus the background (neither implanted in any class nor labelled in the original).
        """
        positives = self.masks[size]
        background = ~(self.implanted | self.labels)
        return positives, positives | background


def check_group(group: Sequence[int]) -> tuple[int, ...]:
    """A group of distinct target sizes, each 1..:data:`MAX_TARGET_PIXELS`.

    Raises:
        ValueError: empty, repeated or out-of-range sizes (the message names them).
    """
    sizes = tuple(int(s) for s in group)
    if not sizes:
        raise ValueError("a size group needs at least one target size")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"size group {sizes} repeats a size")
    bad = [s for s in sizes if not 1 <= s <= MAX_TARGET_PIXELS]
    if bad:
        raise ValueError(f"target sizes {bad} are outside 1..{MAX_TARGET_PIXELS} pixels")
    return sizes


def synthesis_rng(seed: int, host: str, group: Sequence[int]) -> np.random.Generator:
    """The generator of one implant copy: a function of the seed, the host and the group only."""
    key = [int(seed), zlib.crc32(host.encode("utf-8")), *(int(s) for s in group)]
    return np.random.default_rng(np.random.SeedSequence(key))


def implant(host: Scene, donors: Sequence[DonorSpectra], group: Sequence[int], seed: int, *,
            margin: int = MARGIN, jitter_scale: float = JITTER,
            targets_per_size: dict[int, int] | None = None) -> ImplantedScene:
    """Make one implant copy of ``host`` holding the size classes of ``group``.

    Args:
        host: the scene to implant into (never modified).
        donors: spectra of the OTHER scenes (one is drawn per target, from the seed); a donor
            named like the host is ignored.
        group: the size classes of this copy (pixels per target).
        seed: synthesis seed.
        margin: free pixels around every target (edges, labels, other targets).
        jitter_scale: per-pixel jitter, as a fraction of the background's spread.
        targets_per_size: targets per class (default :data:`TARGETS_PER_SIZE`, else 3).

    Returns:
        The :class:`ImplantedScene`.

    Raises:
        ValueError: no donor, a bad group, or targets that do not fit (see
            :func:`.placement.place_targets`).
    """
    sizes = check_group(group)
    pool = sorted((d for d in donors if d.name != host.name), key=lambda d: d.name)
    if not pool:
        raise ValueError(f"no donor scene besides '{host.name}'; give at least two scenes")
    counts = targets_per_size or TARGETS_PER_SIZE
    rng = synthesis_rng(seed, host.name, sizes)
    labels = host.labels.astype(bool)
    layout = [(size, ABUNDANCES[i % len(ABUNDANCES)])
              for size in sizes for i in range(max(counts.get(size, 3), 1))]
    placed = place_targets(labels, [size for size, _ in layout], margin, rng)
    stats = background_stats(host.cube, labels)
    background = host.cube[~labels]  # (n, bands)
    cube = host.cube.astype(np.float32, copy=True)  # (H, W, bands)
    masks = {size: np.zeros(labels.shape, dtype=bool) for size in sizes}
    targets = []
    for (size, abundance), mask in zip(layout, placed):
        donor = pool[rng.integers(len(pool))]
        pick = int(rng.integers(len(donor.z)))
        spectrum = transfer(donor.z[pick], stats)  # (bands,)
        pure = spectrum + jitter(background, size, jitter_scale, rng)  # (size, bands)
        mixed = abundance * pure + (1.0 - abundance) * cube[mask].astype(np.float64)
        cube[mask] = mixed.astype(np.float32)
        masks[size] |= mask
        rows, cols = np.nonzero(mask)
        targets.append(Target(
            size=size, abundance=abundance, donor=donor.name,
            donor_pixel=(int(donor.pixels[pick, 0]), int(donor.pixels[pick, 1])),
            box=(int(rows.min()), int(cols.min()), int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1)))
    return ImplantedScene(host=host.name, group=sizes, seed=seed, cube=cube, labels=labels,
                          masks=masks, targets=tuple(targets))
