"""The implant report: means over scenes per seed, spread over seeds, worst scenes, the last line."""

from __future__ import annotations

import math

import pytest

from dms2f_had.dms2f_plugin.engine.app.implant.report import (
    final_line,
    summarise,
    table_lines,
    worst_margin_vs_rx,
    worst_scene_lines,
)


def _run(scene, variant, method, seed, aucs):
    return {"scene": scene, "variant": variant, "method": method, "seed": seed,
            "auc": {str(k): v for k, v in aucs.items()}}


RECORDS = [
    _run("a", "original", "dms2f", 0, {1: 0.90, 144: 0.80}),
    _run("b", "original", "dms2f", 0, {1: 0.70, 144: 0.60}),
    _run("a", "original", "dms2f", 1, {1: 0.94, 144: 0.84}),
    _run("b", "original", "dms2f", 1, {1: 0.74, 144: 0.64}),
    _run("a", "original", "rx", 0, {1: 0.85, 144: 0.50}),
    _run("b", "original", "rx", 0, {1: 0.72, 144: 0.90}),
    _run("a", "bands30", "dms2f", 0, {1: 0.99, 144: 0.99}),
    _run("a", "bands30", "rx", 0, {1: 0.98, 144: 0.97}),
]


def test_mean_over_scenes_per_seed_then_mean_and_std_over_seeds():
    summary = summarise(RECORDS)
    cell = summary[("original", 1, "dms2f")]
    assert cell.mean == pytest.approx(0.82)  # seeds: 0.80 and 0.84
    assert cell.std == pytest.approx(0.02)
    assert (cell.seeds, cell.scenes) == (2, 2)
    rx = summary[("original", 144, "rx")]
    assert (rx.mean, rx.std, rx.seeds) == (pytest.approx(0.70), 0.0, 1)


def test_worst_margin_is_the_minimum_over_classes_and_variants():
    summary = summarise(RECORDS)
    # original/144: dms2f 0.72 - rx 0.70 = +0.02; original/1: 0.82 - 0.785 = +0.035; bands30: +0.01, +0.02
    assert worst_margin_vs_rx(summary) == pytest.approx(0.01)
    assert final_line(summary) == "implant_worst_margin_vs_rx=0.0100"
    only_rx = summarise([r for r in RECORDS if r["method"] == "rx"])
    assert math.isnan(worst_margin_vs_rx(only_rx))
    assert final_line(only_rx) == "implant_worst_margin_vs_rx=nan"


def test_table_has_one_row_per_variant_and_class_in_the_given_order():
    lines = table_lines(summarise(RECORDS), ("dms2f", "rx"), ("original", "bands30"))
    assert lines[0] == "| variant | size px | dms2f AUC (std) | rx AUC (std) | dms2f - rx |"
    assert lines[2] == "| original | 1 | 0.8200 (0.0200) | 0.7850 (0.0000) | +0.0350 |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| original"] * 2 + ["| bands30"] * 2


def test_worst_scene_per_class_names_scene_and_variant():
    lines = worst_scene_lines(RECORDS, ("dms2f", "rx"))
    assert lines[1] == ("worst scene, 144 px: dms2f 0.6200 on b/original; rx 0.5000 on a/original; "
                        "dms2f - rx -0.2800 on b/original")


def _targets(*ranks):
    return [{"size": size, "abundance": 1.0, "rank": rank} for size, rank in ranks]


def test_found_targets_are_counted_per_class_with_those_no_method_finds():
    from dms2f_had.dms2f_plugin.engine.app.implant.report import found_lines

    runs = [_run("a", "original", "dms2f", 0, {1: 0.9}), _run("a", "original", "dms2f", 1, {1: 0.9}),
            _run("a", "original", "rx", 0, {1: 0.8})]
    runs[0]["targets"] = _targets((1, 0.999), (1, 0.5), (4, 0.2))
    runs[1]["targets"] = _targets((1, 0.999), (1, 0.995), (4, 0.9))
    runs[2]["targets"] = _targets((1, 0.3), (1, 0.99), (4, 0.98))
    lines = found_lines(runs, ("dms2f", "rx"))
    assert lines[1] == "| size px | targets | dms2f | rx | found by none |"
    # 1 px: dms2f finds the first in both seeds and the second in one; rx finds the second.
    assert lines[3] == "| 1 | 2 | 1.5 | 1 | 0 |"
    assert lines[4] == "| 4 | 1 | 0 | 0 | 1 |"
    assert found_lines([_run("a", "original", "rx", 0, {1: 0.8})], ("rx",)) == []
