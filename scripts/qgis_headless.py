"""Run ``qgis_process`` headless with the plugin enabled, never touching the user's QGIS profile.

How QGIS 3.22 loads a plugin in ``qgis_process``: it scans ``QGIS_PLUGINPATH`` (and the profile's
``python/plugins``) and starts only plugins that are *enabled* in the profile's settings
(``[PythonPlugins] dms2f_had=true`` in ``QGIS/QGIS3.ini``); for those it calls ``classFactory(None)``
and ``initProcessing()``. ``QGIS_CUSTOM_CONFIG_PATH`` points the profile at a folder of our own
(``<folder>/profiles/default``), and ``qgis_process plugins enable dms2f_had`` writes the setting.

Debian's ``/usr/bin/qgis_process`` shell wrapper adds ``--noversioncheck``, which the 3.22 binary
rejects, so the binary ``/usr/bin/qgis_process.bin`` is called directly.

Used by ``scripts/demo.py`` and the foundation tests. Standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404 - argument lists only
from pathlib import Path

PLUGIN = "dms2f_had"
#: Environment variables that must not leak from a developer shell into a "plain" QGIS run.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DMS2F_HAD_VENV", "QGIS_PLUGINPATH")


def qgis_process_binary() -> str:
    """The ``qgis_process`` executable: Debian's ``.bin`` when present, else the one on PATH."""
    for candidate in ("/usr/bin/qgis_process.bin", shutil.which("qgis_process")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError("qgis_process not found: install the Debian package 'qgis'")


def headless_env(plugin_path: Path, profile: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a plain headless run: offscreen Qt, our plugin folder and profile only.

    ``PYTHONPATH``, ``VIRTUAL_ENV`` and friends are removed and the venv is dropped from ``PATH``,
    so the run shows what a user's QGIS sees: the plugin must find its dependencies by itself.
    """
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    venv_bin = os.environ.get("VIRTUAL_ENV", "")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and (not venv_bin or not p.startswith(venv_bin))
    )
    runtime = profile / "xdg-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env.update({
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_PLUGINPATH": str(plugin_path),
        "QGIS_CUSTOM_CONFIG_PATH": str(profile),
        "XDG_RUNTIME_DIR": str(runtime),
    })
    env.update(extra or {})
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 600, capture: bool = True
        ) -> subprocess.CompletedProcess[str]:
    """Run ``qgis_process <args>`` (argument list) and return the completed process."""
    return subprocess.run(  # nosec B603 - fixed binary, argument list
        [qgis_process_binary(), *args], env=env, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
    )


def enable_plugin(env: dict[str, str], name: str = PLUGIN) -> None:
    """Enable ``name`` in the profile of ``env`` (idempotent: 'already enabled' is fine)."""
    proc = run(["plugins", "enable", name], env, timeout=300)
    if proc.returncode != 0 and "already enabled" not in proc.stdout:
        raise RuntimeError(f"qgis_process plugins enable {name} failed:\n{proc.stdout}")
