"""The diagnostics report users paste into bug reports: Python, packages, CUDA, the private env.

Standard library only, so that it works whatever is (not) installed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import re
import sys
from pathlib import Path

try:
    from . import private_env
except ImportError:  # imported by ``deps.py`` run as a plain script
    import private_env  # type: ignore[no-redef]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_file(module: str) -> str | None:
    """The file ``module`` was imported from, or would be (the private env's finder included)."""
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__file__", None):
        return str(loaded.__file__)
    origin = private_env.origin(module)
    return None if origin == "?" else origin


def _version_beside(file: str, module: str, dist: str) -> str | None:
    """The version in the ``.dist-info``/``.egg-info`` of ``dist`` in the folder holding ``file``."""
    path = Path(file)
    site = path.parent.parent if path.name.startswith("__init__.") else path.parent
    if not (path.name.startswith("__init__.") or path.stem.split(".")[0] == module):
        return None
    for entry in site.glob("*-info"):
        if entry.is_dir() and entry.suffix in (".dist-info", ".egg-info") \
                and _normalise(entry.name.split("-")[0]) == _normalise(dist):
            version = importlib.metadata.PathDistribution(entry).metadata["Version"]
            if version:
                return str(version)
    return None


def loaded_version(module: str, dist: str) -> str:
    """The version of the copy of ``module`` this process loads (or would load).

    Read from the distribution metadata beside that copy, else from the imported module's
    ``__version__``, else from the first distribution on ``sys.path``. The first one on
    ``sys.path`` alone can name another copy than the one imported: a package the private
    environment serves ahead of an older system copy (numba, say).
    """
    file = _module_file(module)
    if file is None:
        return "not installed"
    version = _version_beside(file, module, dist)
    if version:
        return version
    loaded_attr = getattr(sys.modules.get(module), "__version__", None)
    if isinstance(loaded_attr, str):
        return loaded_attr
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cuda_line() -> str:
    if not private_env.findable("torch"):
        return "CUDA: unknown (torch missing)"
    try:
        torch = importlib.import_module("torch")
        if torch.cuda.is_available():
            return f"CUDA: available, {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
        return "CUDA: not available (CPU only)"
    except Exception as err:  # noqa: BLE001 - a report must never fail
        return f"CUDA: torch import failed: {err!r}"


#: (label, import name, distribution name) of each package in the report.
_REPORTED = (
    ("numpy", "numpy", "numpy"),
    ("gdal", "osgeo", "GDAL"),
    ("torch", "torch", "torch"),
    ("numba", "numba", "numba"),
    ("safetensors", "safetensors", "safetensors"),
    ("threadpoolctl", "threadpoolctl", "threadpoolctl"),
    ("mamba_ssm", "mamba_ssm", "mamba_ssm"),
    ("causal_conv1d", "causal_conv1d", "causal_conv1d"),
    ("dask", "dask", "dask"),
    ("distributed", "distributed", "distributed"),
)


def diagnostics_report() -> str:
    """Return a plain-text report of the Python environment that users can paste in an issue."""
    activation = private_env.LAST_ACTIVATION
    lines = [
        "DMS2F-HAD diagnostics",
        f"python: {sys.version.split()[0]} ({sys.executable})",
        f"platform: {platform.platform()}",
        f"plugin folder: {private_env.PLUGIN_ROOT}",
        f"private env lookup: {', '.join(str(p) for p in private_env.candidate_envs())}",
        f"private env active: {activation.message if activation else 'not activated yet'}",
    ]
    for label, module, dist in _REPORTED:
        where = _module_file(module) or "-"
        lines.append(f"{label}: {loaded_version(module, dist)} ({where})")
    lines.append(_cuda_line())
    missing = private_env.missing_dependencies()
    lines.append(f"missing required: {', '.join(missing) if missing else 'none'}")
    return "\n".join(lines)
