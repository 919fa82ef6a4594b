"""How QGIS finds torch and the other heavy Python dependencies (standard library only).

QGIS ships its own Python with its own numpy and GDAL. Installing torch & co into that Python
(``pip install`` into QGIS) is the top complaint of every deep-learning QGIS plugin: a newer numpy
pulled in by pip breaks QGIS's compiled libraries. So the heavy packages live in a *private*
virtual environment, made from QGIS's own interpreter with ``--system-site-packages`` (so it sees,
and never replaces, QGIS's numpy and GDAL), and the plugin **appends** that environment's
``site-packages`` to ``sys.path`` when torch is not already importable. Appending (never
prepending) means every package QGIS already has keeps winning; only what QGIS lacks (torch,
numba, safetensors, ...) is found in the private environment.

One refinement makes that work in practice: pip puts a package into the private environment only
when QGIS's Python lacks it or has a version too old for torch (Debian's sympy 1.11 is older than
the 1.13 torch needs). A small meta-path finder resolves the private copy first, as the private
environment's own interpreter would, for exactly the packages the plugin needs
(:data:`SERVED_DISTRIBUTIONS`) and what they depend on (read from the installed packages'
metadata, extras left out), never for QGIS's own stack (:data:`QGIS_OWNED`: numpy, scipy, GDAL,
Qt, qgis, packaging tools) nor for a module QGIS has already imported. Anything else the
environment holds (a development checkout's pytest, ruff, mypy) is never served. Everything else
still comes from QGIS.

Candidate private environments, first match wins:

1. ``$DMS2F_HAD_VENV`` if set;
2. ``.venv`` next to the plugin folder (a development checkout, made by ``make``);
3. a per-user environment in the platform's user data folder: ``~/.local/share/dms2f_had/venv``
   (Linux, honouring ``$XDG_DATA_HOME``), ``%APPDATA%/dms2f_had/venv`` (Windows),
   ``~/Library/Application Support/dms2f_had/venv`` (macOS).

This module only finds and activates an environment (it runs when the plugin loads); making one
is :mod:`.deps` (``python3 <plugin folder>/dms2f_plugin/deps.py install``, which the plugin offers
when torch is missing). Standard library only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming a private environment explicitly.
ENV_VAR = "DMS2F_HAD_VENV"
#: The plugin folder (``dms2f_had/``): the repository root in a checkout.
PLUGIN_ROOT = Path(__file__).resolve().parent.parent
#: Import names the DMS2F-HAD algorithm needs beyond QGIS.
REQUIRED = ("torch", "numba", "safetensors")
#: Optional accelerators (CUDA kernels), reported but never required.
OPTIONAL = ("mamba_ssm", "causal_conv1d")
#: Import names of campaigns on a Dask cluster (``dms2f:detect_many``); single rasters run
#: without them. Pure Python, installed with the rest from requirements.txt; their
#: dependencies that QGIS's Python lacks or has too old (cloudpickle, msgpack, tornado, ...)
#: are served from the private environment like torch's. Local workers are new processes:
#: inside QGIS they run the private environment's interpreter (``sys.executable`` is QGIS).
CLUSTER = ("dask", "distributed")

#: Distributions the plugin needs (``requirements.txt`` and the optional CUDA kernels): the finder
#: serves these and their dependencies from the private environment, nothing else.
SERVED_DISTRIBUTIONS = ("torch", "numba", "safetensors", "threadpoolctl", "mamba-ssm", "causal-conv1d",
                        "dask", "distributed")

#: Top-level modules that always come from QGIS's Python, even when a private env holds a copy.
QGIS_OWNED = frozenset({
    "numpy", "scipy", "osgeo", "osgeo_utils", "qgis", "processing", "PyQt5", "PyQt6", "sip",
    "pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel",
})

@dataclass(frozen=True)
class Activation:
    """What :func:`activate_private_env` did, for the plugin's log.

    Attributes:
        action: ``"importable"`` (nothing to do), ``"appended"``, ``"already-on-path"`` or
            ``"not-found"``.
        env: the private environment used, if any.
        site_packages: the folder appended to ``sys.path``, if any.
        message: one human-readable sentence.
        preferred: top-level modules resolved from the private env first (see
            :class:`PrivateEnvFinder`).
    """

    action: str
    env: Path | None
    site_packages: Path | None
    message: str
    preferred: tuple[str, ...] = ()


#: The result of the last :func:`activate_private_env` call (the plugin logs it).
LAST_ACTIVATION: Activation | None = None


def user_data_dir() -> Path:
    """Return the per-user data folder of the plugin for this platform (not created)."""
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "dms2f_had"


def default_private_env() -> Path:
    """Return where ``deps.install_private_env`` puts the per-user environment."""
    return user_data_dir() / "venv"


def install_target() -> Path:
    """Where ``deps.install_private_env`` installs: ``$DMS2F_HAD_VENV`` or the per-user env."""
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser() if override else default_private_env()


def candidate_envs() -> list[Path]:
    """Return the candidate private environments in lookup order (existing or not)."""
    envs = []
    override = os.environ.get(ENV_VAR)
    if override:
        envs.append(Path(override).expanduser())
    envs.append(PLUGIN_ROOT / ".venv")
    envs.append(default_private_env())
    return envs


def site_packages(env: Path) -> Path | None:
    """Return ``env``'s site-packages for the *running* Python version, or None.

    An environment made by another Python minor version is ignored: its compiled packages
    (torch) would not load here.
    """
    if not _same_python(env):
        return None
    if sys.platform.startswith("win"):
        path = env / "Lib" / "site-packages"
    else:
        ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
        path = env / "lib" / ver / "site-packages"
    return path if path.is_dir() else None


def _same_python(env: Path) -> bool:
    """True when ``env/pyvenv.cfg`` names the running Python's major.minor version."""
    cfg = env / "pyvenv.cfg"
    if not cfg.is_file():
        return False
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version", "version_info"):
            parts = value.strip().split(".")
            return ".".join(parts[:2]) == want
    return False


def missing_dependencies(names: Iterable[str] = REQUIRED) -> list[str]:
    """Return the import names in ``names`` that cannot be found (nothing is imported)."""
    return [name for name in names if not findable(name)]


def findable(name: str) -> bool:
    """True when ``name`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def activate_private_env(envs: Iterable[Path] | None = None, module: str = "torch",
                         roots: Iterable[str] = SERVED_DISTRIBUTIONS) -> Activation:
    """Make the private environment's packages importable, when QGIS's Python lacks them.

    Appends (never prepends) the first candidate environment's site-packages that holds
    ``module`` to ``sys.path``, so QGIS's own numpy and GDAL keep precedence, and installs a
    :class:`PrivateEnvFinder` so the packages of ``roots`` and their dependencies that the
    environment holds (because QGIS's copy is missing or too old: torch's sympy, say) resolve
    from it first. Idempotent.

    Args:
        envs: candidate environments; defaults to :func:`candidate_envs`.
        module: the import name that decides whether anything is needed.
        roots: the distributions the finder serves, with their dependencies.

    Returns:
        What was done; also stored in :data:`LAST_ACTIVATION`.
    """
    global LAST_ACTIVATION  # noqa: PLW0603 - a single, documented record for the log
    LAST_ACTIVATION = _activate(list(candidate_envs() if envs is None else envs), module, roots)
    return LAST_ACTIVATION


def _activate(envs: list[Path], module: str, roots: Iterable[str]) -> Activation:
    if findable(module):
        where = origin(module)
        return Activation("importable", None, None, f"{module} is importable from {where}.")
    for env in envs:
        path = site_packages(env)
        if path is None or not _holds(path, module):
            continue
        if str(path) in sys.path:
            return Activation("already-on-path", env, path, f"{path} is already on sys.path.")
        sys.path.append(str(path))
        preferred = PrivateEnvFinder.install(path, roots)
        importlib.invalidate_caches()
        return Activation(
            "appended", env, path,
            f"Appended {path} to sys.path for {module}; preferred from it: "
            f"{', '.join(preferred) or 'nothing'}.", preferred)
    looked = ", ".join(str(env) for env in envs)
    return Activation(
        "not-found",
        None,
        None,
        f"{module} is not installed for this Python {platform.python_version()} and no private "
        f"environment holds it (looked in: {looked}). Install it with Plugins > DMS2F-HAD > "
        f"Install Python dependencies… in QGIS, or: {shell_hint()}",
    )


def top_level_modules(site: Path) -> set[str]:
    """Top-level importable names in folder ``site``: packages, modules, extension modules.

    Namespace packages (folders without ``__init__.py``) are left out: they may span folders.
    """
    names = set()
    for entry in os.scandir(site):
        name = entry.name
        if entry.is_dir():
            if name.isidentifier() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.add(name)
        elif name.endswith(".py") and name[:-3].isidentifier():
            names.add(name[:-3])
        elif name.endswith((".so", ".pyd")) and name.split(".")[0].isidentifier():
            names.add(name.split(".")[0])
    return names


def _normalise(name: str) -> str:
    """A distribution name in its PEP 503 form: ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _dependencies(dist: importlib.metadata.Distribution) -> list[str]:
    """Normalised names of ``dist``'s requirements, leaving out those of extras."""
    names = []
    for requirement in dist.requires or []:
        _, _, marker = requirement.partition(";")
        match = _REQUIREMENT_NAME.match(requirement)
        if match and "extra" not in marker:
            names.append(_normalise(match.group(1)))
    return names


def _import_names(dist: importlib.metadata.Distribution) -> set[str]:
    """Top-level import names a distribution installs (``top_level.txt``, else its file list)."""
    listed = dist.read_text("top_level.txt")
    if listed:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first in ("..", "") or first.endswith((".dist-info", ".data")):
            continue
        names.add(first.split(".")[0] if len(file.parts) == 1 else first)
    return names


def served_modules(site: Path, roots: Iterable[str] = SERVED_DISTRIBUTIONS) -> set[str]:
    """Top-level modules of ``roots`` and their dependencies installed in folder ``site``.

    Only distributions installed in ``site`` count (a dependency QGIS's Python satisfies is not
    in the private environment, and stays QGIS's), and only modules importable from ``site``.
    """
    installed = {_normalise(dist.metadata["Name"] or ""): dist
                 for dist in importlib.metadata.distributions(path=[str(site)])}
    todo, seen = [_normalise(name) for name in roots], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen.add(name)
        todo.extend(_dependencies(installed[name]))
    names: set[str] = set()
    for name in seen:
        names |= _import_names(installed[name])
    return names & top_level_modules(site)


class PrivateEnvFinder(importlib.abc.MetaPathFinder):
    """Resolves a fixed set of top-level modules from one private site-packages folder first.

    Installed at the front of ``sys.meta_path`` for the packages the plugin needs and their
    dependencies (:func:`served_modules`); submodules follow their package.
    """

    def __init__(self, site: Path, names: Iterable[str]) -> None:
        self.site = str(site)
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: object = None,  # noqa: D102 - importlib protocol
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if path is not None or fullname not in self.names:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.site])

    @classmethod
    def install(cls, site: Path, roots: Iterable[str] = SERVED_DISTRIBUTIONS) -> tuple[str, ...]:
        """Put a finder for ``site`` first on ``sys.meta_path``; return the names it serves.

        Served: :func:`served_modules` of ``roots``, less :data:`QGIS_OWNED` and anything already
        imported (a loaded module cannot be swapped). Idempotent per folder.
        """
        loaded = {name.split(".")[0] for name in sys.modules}
        names = sorted(served_modules(site, roots) - QGIS_OWNED - loaded)
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not (isinstance(f, cls) and f.site == str(site))]
        sys.meta_path.insert(0, cls(site, names))
        return tuple(names)


def _holds(path: Path, module: str) -> bool:
    """True when folder ``path`` holds top-level package or module ``module``."""
    return (path / module).is_dir() or (path / f"{module}.py").is_file()


def origin(module: str) -> str:
    """Where ``module`` would be imported from, or ``?`` (nothing is imported)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return "?"
    return str(spec.origin) if spec and spec.origin else "?"


def shell_hint() -> str:
    """The shell command that installs the private environment."""
    return f"python3 {PLUGIN_ROOT / 'dms2f_plugin' / 'deps.py'} install"
