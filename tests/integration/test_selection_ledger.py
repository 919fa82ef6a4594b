"""A selection round survives the loss of its maps through its ledger (benchmarks/map_ledger.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=1800)


def _run(script: str, *args: object) -> list[str]:
    proc = _script(script, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()


def test_a_round_resumes_from_its_ledger_without_its_maps(had_dir, tmp_path):
    from dms2f_had.dms2f_plugin.engine.app.implant import synthesis, variants

    work, ledger = tmp_path / "work", tmp_path / "ledger.json"
    common = ["--scenes", had_dir, "--only", "pavia-car,hydice-urban", "--schedules", "3",
              "--implant-seeds", "2", "--implant-hosts", "pavia-car", "--workers", "2", "--work", work,
              "--ledger", ledger]
    spread = ["--scenes", had_dir, "--work", work, "--implant-hosts", "pavia-car", "--implant-seeds", "2",
              "--schedule", "3"]
    fits = 2 + len(variants.VARIANTS) * len(synthesis.DEFAULT_GROUPS) * 2  # development + implant copies

    lines = _run("select_defaults.py", *common, "--record-only")
    assert lines[-1] == f"recorded 0 maps in {ledger}; {fits} still to fit"
    assert not list(work.glob("*-s3-seed*.tif"))  # --record-only fits nothing

    _run("select_defaults.py", *common, "--json", tmp_path / "kept.json")
    assert len(json.loads(ledger.read_text())["maps"]) == fits
    from_maps = _run("seed_spread.py", *spread)

    for fitted in work.glob("*-s3-seed*.tif"):  # the machine is replaced: its fitted maps are gone
        fitted.unlink()
    lines = _run("select_defaults.py", *common, "--json", tmp_path / "resumed.json")
    assert not list(work.glob("*-s3-seed*.tif"))  # nothing was fitted again
    kept, resumed = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("kept", "resumed"))
    assert resumed["development"] == kept["development"] and resumed["implant_aucs"] == kept["implant_aucs"]
    assert resumed["selected"] == kept["selected"] and lines[-1].startswith("selected local_window=")
    assert _run("seed_spread.py", *spread, "--ledger", ledger) == from_maps

    lost = _script("seed_spread.py", *spread)  # without the ledger the lost maps are named
    assert lost.returncode != 0 and "neither kept nor recorded" in lost.stderr
