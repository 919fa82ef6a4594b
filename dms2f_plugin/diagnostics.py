"""The diagnostics report users paste into bug reports: Python, packages, CUDA, the private env.

Standard library only, so that it works whatever is (not) installed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys

try:
    from . import private_env
except ImportError:  # imported by ``deps.py`` run as a plain script
    import private_env  # type: ignore[no-redef]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


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
        where = private_env.origin(module) if private_env.findable(module) else "-"
        lines.append(f"{label}: {_version(dist)} ({where})")
    lines.append(_cuda_line())
    missing = private_env.missing_dependencies()
    lines.append(f"missing required: {', '.join(missing) if missing else 'none'}")
    return "\n".join(lines)
