"""Implant synthesis: exact target sizes, abundances, placement away from labels, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from dms2f_had.dms2f_plugin.engine.app.implant.placement import (
    dilate,
    place_targets,
    target_shape,
)
from dms2f_had.dms2f_plugin.engine.app.implant.spectra import (
    background_stats,
    donor_spectra,
    resample_bands,
    transfer,
)
from dms2f_had.dms2f_plugin.engine.app.implant.synthesis import (
    ABUNDANCES,
    DEFAULT_GROUPS,
    MARGIN,
    SIZE_CLASSES,
    TARGETS_PER_SIZE,
    Scene,
    implant,
)


def _scene(name: str, bands: int, seed: int, height: int = 100, width: int = 100) -> Scene:
    """A smooth random background with a few labelled 3 x 3 anomalies."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    members = np.stack([1000 + 400 * np.sin(3 * x + k) for k in range(3)])  # (3, bands)
    cube = (rng.dirichlet(np.ones(3), size=height * width) @ members).reshape(height, width, bands)
    cube += rng.normal(0.0, 10.0, cube.shape)
    labels = np.zeros((height, width), dtype=bool)
    for r, c in ((10, 10), (50, 70), (80, 20)):
        labels[r:r + 3, c:c + 3] = True
        cube[r:r + 3, c:c + 3] += 300 * np.cos(7 * x)
    return Scene(name, cube.astype(np.float32), labels)


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [_scene("host", 40, 0), _scene("donor-a", 25, 1), _scene("donor-b", 60, 2)]


@pytest.fixture(scope="module")
def donors(scenes):
    return [donor_spectra(s.name, s.cube, s.labels) for s in scenes]


@pytest.mark.parametrize("size", SIZE_CLASSES)
def test_target_shapes_have_the_exact_size_and_are_compact(size):
    shape = target_shape(size)
    assert shape.sum() == size
    side = int(np.ceil(np.sqrt(size)))
    assert shape.shape[1] == side and shape.shape[0] <= side
    assert shape.all(axis=1)[:-1].all()  # only the last row may be partial


@pytest.mark.parametrize("group", DEFAULT_GROUPS)
def test_every_class_has_its_exact_pixels_and_each_abundance(scenes, donors, group):
    copy = implant(scenes[0], donors, group, seed=3)
    assert set(copy.masks) == set(group)
    for size in group:
        count = TARGETS_PER_SIZE[size]
        assert copy.masks[size].sum() == count * size
        targets = [t for t in copy.targets if t.size == size]
        assert len(targets) == count
        assert {t.abundance for t in targets} == set(ABUNDANCES)


def test_targets_keep_their_margin_from_labels_edges_and_each_other(scenes, donors):
    host = scenes[0]
    copy = implant(host, donors, (1, 4, 9, 25, 64), seed=1)
    boxes = []
    for t in copy.targets:
        r, c, h, w = t.box
        mask = np.zeros(host.labels.shape, dtype=bool)
        mask[r:r + h, c:c + w] = True
        boxes.append(mask)
        assert r >= MARGIN and c >= MARGIN
        assert r + h + MARGIN <= host.labels.shape[0] and c + w + MARGIN <= host.labels.shape[1]
    assert not (dilate(host.labels, MARGIN) & copy.implanted).any()
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (dilate(a, MARGIN) & b).any()
    total = sum(int(m.sum()) for m in copy.masks.values())
    assert copy.implanted.sum() == total  # the classes' masks are disjoint


def test_pixels_mix_the_transferred_donor_spectrum_with_the_background(scenes, donors):
    host = scenes[0]
    copy = implant(host, donors, (9, 25), seed=2, jitter_scale=0.0)
    stats = background_stats(host.cube, host.labels)
    by_name = {d.name: d for d in donors}
    for t in copy.targets:
        donor = by_name[t.donor]
        assert t.donor != host.name
        pick = np.nonzero((donor.pixels == t.donor_pixel).all(axis=1))[0][0]
        spectrum = transfer(donor.z[pick], stats)
        r, c, h, w = t.box
        mask = np.zeros(host.labels.shape, dtype=bool)
        mask[r:r + h, c:c + w] = True
        mask &= copy.masks[t.size]
        expected = t.abundance * spectrum + (1 - t.abundance) * host.cube[mask].astype(np.float64)
        np.testing.assert_allclose(copy.cube[mask], expected, rtol=1e-5, atol=1e-2)
    untouched = ~copy.implanted
    np.testing.assert_array_equal(copy.cube[untouched], host.cube[untouched])


def test_jitter_makes_target_pixels_differ(scenes, donors):
    copy = implant(scenes[0], donors, (25,), seed=2)
    pure = [t for t in copy.targets if t.abundance == 1.0][0]
    r, c, h, w = pure.box
    pixels = copy.cube[r:r + h, c:c + w].reshape(-1, copy.cube.shape[2])
    assert np.unique(pixels, axis=0).shape[0] == 25


def test_synthesis_is_deterministic_from_the_seed(scenes, donors):
    first = implant(scenes[0], donors, (1, 4, 144), seed=7)
    again = implant(scenes[0], donors, (1, 4, 144), seed=7)
    other = implant(scenes[0], donors, (1, 4, 144), seed=8)
    np.testing.assert_array_equal(first.cube, again.cube)
    assert first.targets == again.targets
    assert first.targets != other.targets


def test_ground_truth_of_a_class_leaves_out_labels_and_other_classes(scenes, donors):
    copy = implant(scenes[0], donors, (4, 25), seed=0)
    positives, evaluated = copy.evaluation_masks(4)
    np.testing.assert_array_equal(positives, copy.masks[4])
    assert not (evaluated & copy.labels).any()
    assert not (evaluated & copy.masks[25]).any()
    assert (evaluated | copy.labels | copy.masks[25]).all()


def test_a_host_is_never_its_own_donor_and_needs_another_scene(scenes, donors):
    copy = implant(scenes[0], donors, (1, 4, 9), seed=5)
    assert {t.donor for t in copy.targets} <= {"donor-a", "donor-b"}
    with pytest.raises(ValueError, match="no donor"):
        implant(scenes[0], donors[:1], (1,), seed=0)


def test_targets_that_do_not_fit_are_refused_with_the_size():
    labels = np.zeros((20, 20), dtype=bool)
    with pytest.raises(ValueError, match="300-pixel"):
        place_targets(labels, [300], 4, np.random.default_rng(0))


def test_bad_groups_are_refused(scenes, donors):
    for group in ((), (4, 4), (0,), (10**6,)):
        with pytest.raises(ValueError):
            implant(scenes[0], donors, group, seed=0)


def test_band_resampling_keeps_the_ends_and_is_linear():
    z = np.array([0.0, 3.0, 6.0])
    np.testing.assert_allclose(resample_bands(z, 5), [0.0, 1.5, 3.0, 4.5, 6.0])
    np.testing.assert_allclose(resample_bands(np.arange(10.0), 4), [0.0, 3.0, 6.0, 9.0])


def test_transfer_puts_a_donor_zscore_onto_the_hosts_mean_and_spread(scenes):
    host = scenes[0]
    stats = background_stats(host.cube, host.labels)
    np.testing.assert_allclose(transfer(np.full(7, 2.0), stats), stats.mean + 2.0 * stats.std)


def test_default_groups_fit_into_every_development_scene(had_dir):
    from dms2f_had.dms2f_plugin.engine.app.implant.runner import load_scenes

    real = load_scenes(had_dir)
    pool = [donor_spectra(s.name, s.cube, s.labels) for s in real]
    assert len(real) == 11
    for scene in real:
        for group in DEFAULT_GROUPS:
            copy = implant(scene, pool, group, seed=0)
            assert not (copy.implanted & scene.labels).any()
            # the copies keep the implanted share of a scene to a few percent, the largest 11 %
            assert copy.implanted.mean() <= 0.12
