"""Build the installable plugin zip ``build/dms2f_had-<version>.zip`` and check it.

Usage: ``python3 scripts/package.py [--ref HEAD] [--out build]``. The zip is ``git archive`` of the
committed tree under the folder ``dms2f_had/``, minus the paths marked ``export-ignore`` in
``.gitattributes`` (tests, CI, benchmarks, scripts, tooling). The version in the file name comes
from ``metadata.txt`` at that ref. The checks follow plugins.qgis.org: at most 25 MB, no caches,
no compiled binaries, no tests, metadata.txt and LICENSE present.
"""

from __future__ import annotations

import argparse
import configparser
import subprocess  # nosec B404 - argument lists only
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PREFIX = "dms2f_had/"
MAX_BYTES = 25 * 1024 * 1024
FORBIDDEN_PARTS = {"__pycache__", ".git", "tests", ".ci", ".venv", "benchmarks", "scripts", ".pytest_cache"}
FORBIDDEN_SUFFIXES = {".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".o", ".a", ".pt", ".pth",
                      ".ckpt", ".safetensors", ".onnx", ".whl"}
REQUIRED = ("metadata.txt", "__init__.py", "LICENSE", "requirements.txt")


def git(*args: str) -> str:
    """Run git in the repository with an argument list and return its stdout."""
    return subprocess.run(["git", "-C", str(REPO), *args], check=True,  # noqa: S607 # nosec B603 B607
                          capture_output=True, text=True).stdout


def version_at(ref: str) -> str:
    """The ``version`` field of ``metadata.txt`` as committed at ``ref``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(git("show", f"{ref}:metadata.txt"))
    return parser["general"]["version"]


def problems(zip_path: Path) -> list[str]:
    """Everything in the zip that the plugin repository would reject."""
    found = []
    size = zip_path.stat().st_size
    if size > MAX_BYTES:
        found.append(f"zip is {size / 1e6:.1f} MB, over 25 MB")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    for name in names:
        path = Path(name)
        if not name.startswith(PREFIX):
            found.append(f"{name} is outside {PREFIX}")
        if FORBIDDEN_PARTS & set(path.parts[1:]) or path.suffix.lower() in FORBIDDEN_SUFFIXES:
            found.append(f"{name} must not be shipped")
    found += [f"{PREFIX}{req} is missing" for req in REQUIRED if PREFIX + req not in names]
    return found


def build(ref: str, out_dir: Path) -> Path:
    """Write the zip for ``ref`` into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"dms2f_had-{version_at(ref)}.zip"
    git("archive", "--format=zip", f"--prefix={PREFIX}", "-o", str(zip_path.resolve()), ref)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="git ref to package (committed files only)")
    parser.add_argument("--out", type=Path, default=REPO / "build", help="output folder")
    args = parser.parse_args(argv)
    if git("status", "--porcelain", "--untracked-files=no"):
        print("note: uncommitted changes are not in the zip (it packages the committed tree)")
    zip_path = build(args.ref, args.out)
    issues = problems(zip_path)
    for issue in issues:
        print(f"error: {issue}", file=sys.stderr)
    print(f"{zip_path} ({zip_path.stat().st_size / 1e6:.2f} MB)")
    return 1 if issues else 0


if __name__ == "__main__":
    raise SystemExit(main())
