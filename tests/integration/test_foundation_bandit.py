"""Bandit (as run by plugins.qgis.org on uploads) finds no medium or high issue in plugin code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["dms2f_plugin", "models", "__init__.py"]


def test_bandit_finds_no_medium_or_high_issue():
    targets = [t for t in TARGETS if (ROOT / t).exists()]
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-ll", "-r", "-f", "json", *targets],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]
    issues = [f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_severity']} "
              f"{r['issue_text']}" for r in report["results"]
              if r["issue_severity"] in ("MEDIUM", "HIGH")]
    assert not issues, "\n".join(issues)
    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 100, f"bandit scanned only {scanned} lines: wrong targets?"
