"""``benchmarks/campaign.py`` runs end to end on tiny inputs and prints its final line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cluster_support import write_scenes

ROOT = Path(__file__).resolve().parents[2]


def test_campaign_benchmark_prints_its_speedups(tmp_path):
    write_scenes(tmp_path / "scenes", 2)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "campaign.py"), "--scenes",
         str(tmp_path / "scenes"), "--count", "2", "--method", "rx", "--size", "64",
         "--tile-method", "rx"], capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("cpu: ") and "cores" in lines[0]
    assert sum("wall_s=" in line and "cpu_s=" in line for line in lines) == 4
    assert re.fullmatch(r"campaign_speedup_2_workers=\d+\.\d\d tile_speedup_2_workers=\d+\.\d\d",
                        lines[-1]), lines[-1]
