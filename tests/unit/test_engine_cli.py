"""The dms2f-had command line: help everywhere, exit codes, one-line errors."""

from __future__ import annotations

import pytest
from engine_fixtures import synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine.app import cli, jobs
from dms2f_had.dms2f_plugin.engine.errors import CancelledError

COMMANDS = ["detect", "fit", "apply", "threshold", "evaluate", "import-mat", "bench"]


@pytest.fixture
def scene(tmp_path):
    cube, gt = synthetic_scene(bands=6, height=20, width=22)
    return write_geotiff(tmp_path / "scene.tif", cube), write_geotiff(tmp_path / "gt.tif", gt)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"dms2f-had {command}" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    out = capsys.readouterr().out
    assert out.startswith("dms2f-had ") and out.strip() != "dms2f-had unknown"


def test_detect_threshold_evaluate_chain(scene, tmp_path, capsys):
    image, gt = scene
    assert cli.main(["detect", str(image), str(tmp_path / "s.tif"), "--method", "rx"]) == 0
    assert cli.main(["threshold", str(tmp_path / "s.tif"), str(tmp_path / "m.tif"),
                     "--method", "sigma", "--value", "2", "--min-size", "2",
                     "--vector", str(tmp_path / "d.gpkg")]) == 0
    assert cli.main(["evaluate", str(tmp_path / "s.tif"), str(gt)]) == 0
    out = capsys.readouterr().out
    auc = float(out.split("auc=")[1].split()[0])
    assert 0.5 < auc <= 1.0 and "auc_d_tau=" in out and "auc_f_tau=" in out
    assert (tmp_path / "d.gpkg").exists()


def test_engine_error_is_one_line_exit_1(tmp_path, capsys):
    code = cli.main(["detect", str(tmp_path / "missing.tif"), str(tmp_path / "o.tif"),
                     "--method", "rx"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("dms2f-had: error: ")
    assert "missing.tif" in err and "Traceback" not in err


def test_cancel_and_interrupt_exit_130(scene, tmp_path, monkeypatch, capsys):
    image, _ = scene

    def cancelled(*args, **kwargs):
        raise CancelledError("Cancelled by the user; no output was written.")

    monkeypatch.setattr(jobs, "detect", cancelled)
    assert cli.main(["detect", str(image), str(tmp_path / "o.tif")]) == 130

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "detect", interrupted)
    assert cli.main(["detect", str(image), str(tmp_path / "o.tif")]) == 130
    assert capsys.readouterr().err.count("dms2f-had: error:") == 2


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["detect", "only-one-arg"])
    assert exit_info.value.code == 2


def test_evaluate_takes_the_benchmark_mat_as_ground_truth(had_dir, tmp_path, capsys):
    scene = had_dir / "hydice-urban.mat"
    assert cli.main(["detect", str(scene), str(tmp_path / "s.tif"), "--method", "rx"]) == 0
    assert cli.main(["evaluate", str(tmp_path / "s.tif"), str(scene)]) == 0
    auc = float(capsys.readouterr().out.split("auc=")[1].split()[0])
    assert auc == pytest.approx(0.9824, abs=0.001)  # the bench's global RX on this scene


def test_local_window_option_is_validated(scene, tmp_path, capsys):
    image, _ = scene
    code = cli.main(["detect", str(image), str(tmp_path / "s.tif"), "--local-window", "8"])
    err = capsys.readouterr().err
    assert code == 1
    assert ("local background window must be auto (the default), 0 (off) or an odd number from 3 "
            "to 101, got 8") in err
    assert not (tmp_path / "s.tif").exists()
