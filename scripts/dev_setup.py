"""Link the checkout into the development venv under the plugin's install name (idempotent).

Run by ``make`` with the venv's Python: ``.venv/bin/python scripts/dev_setup.py``. It makes

- ``.venv/plugins/dms2f_had`` -> the repository root (what ``QGIS_PLUGINPATH`` points at, so QGIS
  and ``qgis_process`` load the plugin from the checkout),
- ``site-packages/dms2f_had_dev.pth`` holding the absolute path of ``.venv/plugins`` (so
  ``import dms2f_had`` works in the venv whatever the clone folder is called),
- ``.venv/bin/dms2f-had``, the command-line entry point,

and checks that numpy comes from Debian (QGIS's own), never from the venv.
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "dms2f_had"
# The guard matters: Dask's local workers are spawned processes that import this script again.
ENTRY = '''#!{python}
"""dms2f-had command line (written by scripts/dev_setup.py)."""
from dms2f_had.dms2f_plugin.engine.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
'''


def venv_root() -> Path:
    """The venv this script runs in; refuses to touch the system Python."""
    if sys.prefix == sys.base_prefix:
        raise SystemExit("dev_setup.py must run with the venv's Python (.venv/bin/python)")
    return Path(sys.prefix)


def link_plugin(venv: Path) -> Path:
    """(Re)create ``venv/plugins/dms2f_had`` -> repository root."""
    plugins = venv / "plugins"
    plugins.mkdir(exist_ok=True)
    link = plugins / NAME
    if link.is_symlink() and Path(os.readlink(link)) == REPO:
        return plugins
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise SystemExit(f"{link} is a real folder; remove it so it can become a link to {REPO}")
    link.symlink_to(REPO, target_is_directory=True)
    return plugins


def write_if_changed(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    if mode is not None and stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)


def check_numpy() -> None:
    """Fail when pip put a numpy into the venv: QGIS's compiled libraries need Debian's."""
    import numpy

    venv_site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = Path(numpy.__file__).resolve()
    if venv_site in where.parents:
        raise SystemExit(
            f"numpy {numpy.__version__} was installed into the venv ({where}); QGIS needs Debian's "
            f"numpy. Run: .venv/bin/pip uninstall -y numpy, then find which requirement pulled it in."
        )


def main() -> int:
    venv = venv_root()
    plugins = link_plugin(venv)
    site = Path(sysconfig.get_paths()["purelib"])
    write_if_changed(site / f"{NAME}_dev.pth", f"{plugins}\n")
    write_if_changed(venv / "bin" / "dms2f-had", ENTRY.format(python=venv / "bin" / "python"), 0o755)
    check_numpy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
