"""The engine's memory estimate: what grows it, what bounds it, and the worker limit made from it."""

from __future__ import annotations

import pytest

from dms2f_had.dms2f_plugin.engine.detectors.memory import (
    MIB,
    PROCESS_BASE,
    TORCH_RUNTIME,
    estimate_detect_memory,
    scorer_halo,
    worker_memory_limit,
)


def estimate(**kwargs):
    base = {"method": "dms2f", "width": 100, "height": 100, "bands": 189}
    return estimate_detect_memory(**{**base, **kwargs})


def test_more_bands_need_more_memory_for_every_method():
    for method in ("dms2f", "rx", "lrx"):
        assert estimate(method=method, bands=200) > estimate(method=method, bands=100)


def test_bounded_by_tiles_and_sampled_blocks_not_by_the_scene():
    big, huge = estimate(width=4000, height=4000), estimate(width=40000, height=40000)
    assert big == huge
    assert estimate(width=100, height=100) < big


def test_a_mat_scene_is_held_whole():
    assert estimate(in_memory_input=True) - estimate() == 100 * 100 * 189 * 8 * 2


def test_network_costs_torch_and_fitting_costs_more_than_scoring():
    assert estimate(method="dms2f", fit=False) > estimate(method="rx")
    assert estimate(method="dms2f", fit=False, bands=2, width=16, height=16) > TORCH_RUNTIME
    assert estimate(fit=True) > estimate(fit=False)
    assert estimate(preset="paper") > estimate(preset="fast")
    assert estimate(method="rx") > PROCESS_BASE


def test_halo_follows_the_scorers():
    assert scorer_halo("dms2f", local_window=0) == 16
    assert scorer_halo("dms2f", local_window=15) == 24  # 7 rounded up to the block stride
    assert scorer_halo("lrx", outer_window=21) == 10 and scorer_halo("rx") == 0


@pytest.mark.parametrize("kwargs", [{"method": "pca"}, {"bands": 0}, {"preset": "huge"},
                                    {"tile_size": 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        estimate(**kwargs)


def test_worker_limit_has_headroom_and_granularity():
    assert worker_memory_limit(1000 * MIB) == 1536 * MIB
    assert worker_memory_limit(1 * MIB) == 256 * MIB
    assert worker_memory_limit(1000 * MIB) % (256 * MIB) == 0
