"""``make`` leaves the command-line entry point ``.venv/bin/dms2f-had`` behind, working."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dms2f_had.dms2f_plugin.metadata import plugin_version

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / ".venv" / "bin" / "dms2f-had"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENTRY), *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd="/")


def test_entry_point_exists_and_is_executable():
    assert ENTRY.is_file(), "run 'make test' (it writes the entry point)"
    assert ENTRY.stat().st_mode & 0o111
    shebang = ENTRY.read_text(encoding="utf-8").splitlines()[0]
    assert shebang.startswith("#!/") and Path(shebang[2:]).samefile(ROOT / ".venv" / "bin" / "python")


def test_version_comes_from_metadata():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert plugin_version() in proc.stdout + proc.stderr


def test_help():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower()
