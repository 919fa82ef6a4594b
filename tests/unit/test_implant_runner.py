"""The implant runner's pure parts: class AUCs from the masks, and bounded options."""

from __future__ import annotations

import numpy as np
import pytest

from dms2f_had.dms2f_plugin.engine.app.implant.runner import build_parser, class_aucs, parse_groups
from dms2f_had.dms2f_plugin.engine.app.implant.synthesis import ImplantedScene


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
