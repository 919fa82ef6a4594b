"""The implant runner's pure parts: class AUCs from the masks, and bounded options."""

from __future__ import annotations

import numpy as np
import pytest

from dms2f_had.dms2f_plugin.engine.app.implant.command import build_parser, parse_groups
from dms2f_had.dms2f_plugin.engine.app.implant.runner import class_aucs, target_ranks
from dms2f_had.dms2f_plugin.engine.app.implant.synthesis import ImplantedScene, Target


def _copy() -> ImplantedScene:
    labels = np.zeros((6, 6), dtype=bool)
    labels[0, 0] = True
    small = np.zeros_like(labels)
    small[2, 2] = True
    big = np.zeros_like(labels)
    big[4:6, 4:6] = True
    return ImplantedScene(host="h", group=(1, 4), seed=0, cube=np.zeros((6, 6, 3), np.float32),
                          labels=labels, masks={1: small, 4: big}, targets=())


def test_class_auc_leaves_out_labels_other_classes_and_nan():
    score = np.zeros((6, 6))
    score[2, 2] = 5.0          # the 1-px target: above every background pixel
    score[4:6, 4:6] = -1.0     # the 4-px class: below every background pixel
    score[0, 0] = 100.0        # a labelled pixel: would beat the target if it were counted
    score[3, 3] = np.nan       # nodata: left out
    assert class_aucs(score, _copy()) == {"1": 1.0, "4": 0.0}


def test_target_rank_is_the_background_share_below_the_median_target_pixel():
    copy = _copy()
    targets = (Target(size=1, abundance=1.0, donor="d", donor_pixel=(0, 0), box=(2, 2, 1, 1)),
               Target(size=4, abundance=0.25, donor="d", donor_pixel=(0, 0), box=(4, 4, 2, 2)))
    copy = ImplantedScene(host="h", group=(1, 4), seed=0, cube=copy.cube, labels=copy.labels,
                          masks=copy.masks, targets=targets)
    score = np.arange(36, dtype=np.float64).reshape(6, 6)  # background 1..29 minus 14 (target)
    score[0, 0] = 1000.0       # a labelled pixel: not background
    score[1, 1] = np.nan       # nodata: not background
    score[2, 2] = 100.0        # the 1-px target: above the whole background
    score[4:6, 4:6] = [[-5.0, 3.0], [3.5, 100.0]]  # median 3.25: above 1, 2, 3 only
    ranks = target_ranks(score, copy)
    background = 36 - 1 - 1 - 1 - 4  # label, nodata, the two targets
    assert ranks == [{"size": 1, "abundance": 1.0, "rank": 1.0},
                     {"size": 4, "abundance": 0.25, "rank": round(3 / background, 5)}]


def test_groups_and_numbers_are_parsed_and_bounded():
    assert parse_groups("1,4,9/144/300") == ((1, 4, 9), (144,), (300,))
    parser = build_parser()
    args = parser.parse_args(["--scenes", "x"])
    assert args.groups == ((1, 4, 9, 25, 64), (144,), (300,)) and args.seeds == 3
    for bad in (["--seeds", "0"], ["--seeds", "51"], ["--steps", "0"], ["--threads", "0"],
                ["--groups", "1,1"], ["--groups", "5000"], ["--groups", "4/4"],
                ["--implant-seed", "-1"], ["--methods", "svm"], ["--variants", ""],
                ["--jitter", "-0.1"], ["--jitter", "3"], ["--jitter", "nan"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["--scenes", "x", *bad])


def test_the_cli_sends_bench_implant_to_the_implant_runner(capsys):
    from dms2f_had.dms2f_plugin.engine.app.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "--implant", "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: dms2f-had bench --implant")
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "bench --implant" in capsys.readouterr().out


def test_first_seed_shifts_the_dms2f_seeds_only(tmp_path):
    from dms2f_had.dms2f_plugin.engine.app.implant.command import _config

    parser = build_parser()
    for name in ("a", "b"):
        (tmp_path / f"{name}.mat").write_bytes(b"")
    args = parser.parse_args(["--scenes", str(tmp_path), "--seeds", "2", "--first-seed", "3",
                              "--methods", "dms2f,rx"])
    assert _config(args, parser).runs_per_image() == [("dms2f", 3), ("dms2f", 4), ("rx", 0)]
    with pytest.raises(SystemExit):
        _config(parser.parse_args([]), parser)  # neither --scenes nor --report


def test_report_joins_results_files_run_apart(tmp_path, capsys):
    import json

    from dms2f_had.dms2f_plugin.engine.app.implant.command import main

    def record(method, seed, auc):
        return {"scene": "s", "group": [1], "variant": "original", "method": method, "seed": seed,
                "implant_seed": 0, "auc": {"1": auc}, "wall_s": 1.0, "cpu_s": 1.0,
                "process_wall_s": 1.0, "process_cpu_s": 1.0,
                "targets": [{"size": 1, "abundance": 1.0, "rank": auc}]}

    first, second = tmp_path / "seed0.json", tmp_path / "seed1.json"
    first.write_text(json.dumps({"config": {"implant_seed": 0, "first_seed": 0},
                                 "results": [record("dms2f", 0, 0.90), record("rx", 0, 0.80)]}))
    second.write_text(json.dumps({"config": {"implant_seed": 0, "first_seed": 1},
                                  "results": [record("dms2f", 1, 0.996), record("rx", 0, 0.80)]}))
    assert main(["--report", str(first), str(second)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "| original | 1 | 0.9480 (0.0480) | 0.8000 (0.0000) | +0.1480 |" in out
    assert "| 1 | 1 | 0.5 | 0 | 0 |" in out  # found by seed 1 only: half a target
    assert out[-1] == "implant_worst_margin_vs_rx=0.1480"
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(["--report", str(tmp_path / "bad.json")])
