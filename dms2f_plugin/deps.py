"""Make the private environment that holds torch & co (standard library only).

Run with QGIS's own Python as a plain script, ``python3 <plugin folder>/dms2f_plugin/deps.py
install`` (or ``report``, which prints :mod:`.diagnostics`' report), or through the plugin's
*Install Python dependencies* action. How the plugin finds and activates the environment, and
why it is private, is :mod:`.private_env`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess  # nosec B404 - argument lists only, never a shell
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

try:
    from . import diagnostics, private_env
except ImportError:  # run as a plain script: ``python3 deps.py install``
    import diagnostics  # type: ignore[no-redef]
    import private_env  # type: ignore[no-redef]

#: Pinned requirements installed into the private environment.
REQUIREMENTS = private_env.PLUGIN_ROOT / "requirements.txt"
#: Packages QGIS owns: pinned to the running versions while pip works, so pip never replaces them.
PROTECTED = ("numpy", "scipy", "GDAL")

Log = Callable[[str], None]


def base_python() -> Path:
    """Return the real Python interpreter behind the running one.

    Inside QGIS ``sys.executable`` is often QGIS itself (``/usr/bin/qgis``, ``qgis-bin.exe``,
    ``QGIS.app/Contents/MacOS/QGIS``), which cannot run ``-m venv``. Tried in order:
    ``sys.executable`` and ``sys._base_executable`` when they are Python interpreters; on Windows
    ``python.exe`` in ``sys.base_prefix``/``sys.prefix`` (OSGeo4W: ``apps/Python3x``); elsewhere
    ``bin/pythonX.Y`` and ``bin/python3`` in ``sys.base_prefix`` (Debian ``/usr``, the macOS
    bundle's framework); finally ``pythonX.Y``/``python3`` on ``PATH``.

    Raises:
        FileNotFoundError: when no interpreter is found.
    """
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    found: list[Path] = []
    for exe in (sys.executable, getattr(sys, "_base_executable", "")):
        if exe and Path(exe).name.lower().startswith("python"):
            found.append(Path(exe))
    if sys.platform.startswith("win"):
        found += [Path(sys.base_prefix) / "python.exe", Path(sys.prefix) / "python.exe"]
    else:
        found += [Path(sys.base_prefix) / "bin" / f"python{ver}", Path(sys.base_prefix) / "bin" / "python3"]
    found += [Path(p) for p in (shutil.which(f"python{ver}"), shutil.which("python3")) if p]
    for exe in found:
        if exe.is_file():
            return exe
    raise FileNotFoundError(
        f"No Python {ver} interpreter found next to {sys.executable}; set {private_env.ENV_VAR} to an "
        f"environment made with 'python{ver} -m venv --system-site-packages' instead."
    )


def env_python(env: Path) -> Path:
    """Return the interpreter inside virtual environment ``env``."""
    if sys.platform.startswith("win"):
        return env / "Scripts" / "python.exe"
    return env / "bin" / "python"


def venv_command(env: Path | None = None) -> list[str]:
    """Return the argument list that creates the private environment."""
    env = env or private_env.install_target()
    return [str(base_python()), "-m", "venv", "--system-site-packages", str(env)]


def install_command(env: Path | None = None, constraints: Path | None = None) -> list[str]:
    """Return the pip argument list that installs the pinned requirements into ``env``.

    Args:
        env: the private environment; defaults to :func:`.private_env.install_target`.
        constraints: a pip constraints file pinning :data:`PROTECTED` packages.
    """
    env = env or private_env.install_target()
    cmd = [str(env_python(env)), "-m", "pip", "install", "--no-input", "-r", str(REQUIREMENTS)]
    if constraints is not None:
        cmd += ["-c", str(constraints)]
    return cmd


def protected_constraints() -> str:
    """Return pip constraints pinning QGIS's own numpy/scipy/GDAL to the running versions."""
    lines = []
    for dist in PROTECTED:
        try:
            lines.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def install_private_env(progress: Log | None = None, env: Path | None = None) -> Path:
    """Create (or update) the private environment and pip-install the pinned requirements.

    The environment is made by the running Python (:func:`base_python`) with
    ``--system-site-packages``, and pip runs with QGIS's numpy/scipy/GDAL pinned to their running
    versions, so it never installs a second numpy. Afterwards
    :func:`.private_env.activate_private_env` makes the packages importable in this session.
    Idempotent.

    Args:
        progress: receives each output line (e.g. ``feedback.pushInfo``); default: discard.
        env: target environment; defaults to :func:`.private_env.install_target`.

    Returns:
        The environment folder.

    Raises:
        subprocess.CalledProcessError: when venv or pip fails (its output went to ``progress``).
    """
    log = progress or (lambda line: None)
    env = env or private_env.install_target()
    if not env_python(env).is_file():
        env.parent.mkdir(parents=True, exist_ok=True)
        _run(venv_command(env), log)
    with tempfile.TemporaryDirectory(prefix="dms2f_had_") as tmp:
        constraints = Path(tmp) / "protected.txt"
        constraints.write_text(protected_constraints(), encoding="utf-8")
        _run(install_command(env, constraints), log)
    activation = private_env.activate_private_env([env])
    log(activation.message)
    return env


def _run(cmd: list[str], log: Log) -> None:
    """Run ``cmd`` (an argument list, no shell), streaming its output lines to ``log``."""
    log("$ " + " ".join(cmd))
    proc = subprocess.Popen(  # nosec B603 - fixed argument list built above
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None  # nosec B101 - set by PIPE above
    for line in proc.stdout:
        log(line.rstrip())
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)


def main(argv: list[str] | None = None) -> int:
    """``python3 deps.py install|report``: install the private environment or print the report."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "report"
    if command == "install":
        env = install_private_env(print)
        print(f"Private environment ready: {env}")
        return 0
    if command == "report":
        private_env.activate_private_env()
        print(diagnostics.diagnostics_report())
        return 0
    print("usage: deps.py [install|report]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
