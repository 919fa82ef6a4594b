"""Leave-one-scene-out selection of a default among candidate settings."""

from __future__ import annotations

import pytest

from dms2f_had.dms2f_plugin.engine.app.selection import leave_one_scene_out, scene_aucs

#: "wide" wins in-sample only through scene s3; held out, s3 is where it matters.
AUCS = {
    "w15": {"s1": 0.95, "s2": 0.96, "s3": 0.90, "s4": 0.97},
    "wide": {"s1": 0.94, "s2": 0.95, "s3": 0.99, "s4": 0.96},
}


def test_each_fold_picks_on_the_other_scenes_and_scores_the_held_out_one():
    result = leave_one_scene_out(AUCS)
    # Means without s1: w15 0.9433, wide 0.9667 -> wide; without s3: w15 0.96, wide 0.95 -> w15.
    assert [(f.held_out, f.picked) for f in result.folds] == [
        ("s1", "wide"), ("s2", "wide"), ("s3", "w15"), ("s4", "wide")]
    assert [f.auc for f in result.folds] == [0.94, 0.95, 0.90, 0.96]
    assert result.mean == pytest.approx((0.94 + 0.95 + 0.90 + 0.96) / 4)
    assert (result.in_sample_best, result.in_sample_mean) == ("wide", pytest.approx(0.96))
    assert result.mean < result.in_sample_mean
    assert result.picks() == {"wide": 3, "w15": 1}


def test_ties_go_to_the_candidate_listed_first():
    tied = {"default": {"a": 0.9, "b": 0.8}, "other": {"a": 0.9, "b": 0.8}}
    result = leave_one_scene_out(tied)
    assert {f.picked for f in result.folds} == {"default"}
    assert leave_one_scene_out(dict(reversed(tied.items()))).in_sample_best == "other"


def test_incomplete_or_too_small_grids_are_refused():
    with pytest.raises(ValueError, match="no candidate"):
        leave_one_scene_out({})
    with pytest.raises(ValueError, match="two scenes"):
        leave_one_scene_out({"x": {"a": 0.9}})
    with pytest.raises(ValueError, match="'y' does not cover"):
        leave_one_scene_out({"x": {"a": 0.9, "b": 0.8}, "y": {"a": 0.9}})


def test_scene_aucs_averages_seeds_of_one_method_from_bench_results():
    runs = [{"scene": "a", "method": "dms2f", "auc": 0.9}, {"scene": "a", "method": "dms2f", "auc": 0.8},
            {"scene": "b", "method": "dms2f", "auc": 0.7}, {"scene": "a", "method": "rx", "auc": 0.1}]
    assert scene_aucs(runs) == {"a": pytest.approx(0.85), "b": 0.7}
    assert scene_aucs(runs, "rx") == {"a": 0.1}
