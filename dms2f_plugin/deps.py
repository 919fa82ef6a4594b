"""Make the private environment that holds torch & co (standard library only).

Run with QGIS's own Python as a plain script, ``python3 <plugin folder>/dms2f_plugin/deps.py
install`` (or ``report``, which prints :mod:`.diagnostics`' report), or through the plugin's
*Install Python dependencies…* action. How the plugin finds and activates the environment, and
why it is private, is :mod:`.private_env`.

Which torch (:func:`choose_torch_build`): on Linux, PyPI's torch is the CUDA build, several
gigabytes with NVIDIA's libraries. Where no NVIDIA GPU is found, pip is pointed at PyTorch's CPU
wheel index (:data:`CPU_INDEX`) and pinned to its CPU build; when that index cannot be reached,
pip uses its usual index (PyPI or the user's configuration) and says so. With an NVIDIA GPU,
PyPI's CUDA build is installed. On Windows and macOS PyPI's torch is already the CPU build.
``DMS2F_HAD_TORCH=cpu|cuda`` overrides the detection.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess  # nosec B404 - argument lists only, never a shell
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
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

#: PyTorch's index of CPU-only wheels.
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: Environment variable that forces the torch build: ``cpu`` or ``cuda``.
TORCH_BUILD_VAR = "DMS2F_HAD_TORCH"
#: How long to wait for the CPU index before falling back to pip's usual index (seconds).
INDEX_TIMEOUT = 10.0

#: Rough sizes of the private environment per torch build (download, on disk), for the log.
SIZES = {
    "cpu": "about 0.3 GB to download, 1.1 GB on disk",
    "cuda": "about 2.8 GB to download, 4.8 GB on disk",
    "default": "about 0.3 GB to download, 1.1 GB on disk",
}


@dataclass(frozen=True)
class TorchBuild:
    """Which torch the installer asks pip for, and why.

    Attributes:
        kind: ``"cpu"`` (PyTorch's CPU index), ``"cuda"`` (PyPI's CUDA build on Linux) or
            ``"default"`` (whatever pip's usual index has: the CPU build on Windows and macOS, or
            the fallback when the CPU index cannot be reached).
        extra_index: an index pip searches besides its usual one, or None.
        constraint: an extra pip constraint line (the CPU build's exact version), or None.
        message: one sentence for the log: which build, why, and roughly how big.
    """

    kind: str
    extra_index: str | None
    constraint: str | None
    message: str


def pinned_torch() -> str:
    """The torch version pinned in :data:`REQUIREMENTS` (e.g. ``2.13.0``)."""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and name.strip().lower() == "torch":
            return version.split(";")[0].split("#")[0].strip()
    raise ValueError(f"{REQUIREMENTS} pins no torch version")


def has_nvidia_gpu() -> bool:
    """True when an NVIDIA GPU with its driver is present (nothing is imported or installed).

    Linux: the driver's ``/proc/driver/nvidia/version`` or a working ``nvidia-smi -L``; elsewhere
    a working ``nvidia-smi -L``.
    """
    if Path("/proc/driver/nvidia/version").is_file():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True,  # nosec B603
                              timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "GPU" in done.stdout


def index_reachable(url: str = CPU_INDEX, timeout: float = INDEX_TIMEOUT) -> bool:
    """True when ``url``'s torch page answers within ``timeout`` seconds."""
    request = urllib.request.Request(f"{url.rstrip('/')}/torch/", method="HEAD")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 # nosec B310
            return 200 <= response.status < 400
    except (OSError, ValueError, urllib.error.URLError):
        return False


def choose_torch_build(gpu: bool | None = None, reachable: bool | None = None,
                       platform: str | None = None) -> TorchBuild:
    """Decide which torch build to install here (see the module docstring).

    Args:
        gpu: whether an NVIDIA GPU is present; default :func:`has_nvidia_gpu` (or
            ``$DMS2F_HAD_TORCH``).
        reachable: whether :data:`CPU_INDEX` answers; default :func:`index_reachable`, asked only
            when the CPU build is wanted.
        platform: ``sys.platform`` by default.
    """
    platform = platform or sys.platform
    version = pinned_torch()
    forced = os.environ.get(TORCH_BUILD_VAR, "").strip().lower()
    if gpu is None:
        gpu = forced == "cuda" if forced in ("cpu", "cuda") else has_nvidia_gpu()
    if not platform.startswith("linux"):
        where = "macOS" if platform == "darwin" else "Windows"
        note = (" An NVIDIA GPU was found: for CUDA, install a CUDA build of torch "
                f"{version} from https://pytorch.org into this environment afterwards."
                if gpu and where == "Windows" else "")
        return TorchBuild("default", None, None,
                          f"Installing torch {version} from PyPI: the CPU build on {where}, "
                          f"{SIZES['default']}.{note}")
    if gpu:
        return TorchBuild("cuda", None, None,
                          f"An NVIDIA GPU was found: installing torch {version} with CUDA from "
                          f"PyPI, {SIZES['cuda']}.")
    if reachable is None:
        reachable = index_reachable()
    if reachable:
        return TorchBuild("cpu", CPU_INDEX, f"torch=={version}+cpu",
                          f"No NVIDIA GPU found: installing the CPU build of torch {version} from "
                          f"{CPU_INDEX}, {SIZES['cpu']}.")
    return TorchBuild("default", None, None,
                      f"No NVIDIA GPU found, but {CPU_INDEX} cannot be reached: installing torch "
                      f"{version} from pip's usual index (PyPI unless configured otherwise). On "
                      f"Linux PyPI's torch is the CUDA build, {SIZES['cuda']}; a CPU wheel in "
                      "pip's configured indexes or find-links is used instead when present.")


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


def install_command(env: Path | None = None, constraints: Path | None = None,
                    build: TorchBuild | None = None) -> list[str]:
    """Return the pip argument list that installs the pinned requirements into ``env``.

    Args:
        env: the private environment; defaults to :func:`.private_env.install_target`.
        constraints: a pip constraints file pinning :data:`PROTECTED` packages (and the torch
            build's own constraint).
        build: the torch build; its extra index is added. None: pip's usual index only.
    """
    env = env or private_env.install_target()
    cmd = [str(env_python(env)), "-m", "pip", "install", "--no-input", "-r", str(REQUIREMENTS)]
    if build is not None and build.extra_index:
        cmd += ["--extra-index-url", build.extra_index]
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


def install_private_env(progress: Log | None = None, env: Path | None = None,
                        build: TorchBuild | None = None) -> Path:
    """Create (or update) the private environment and pip-install the pinned requirements.

    The environment is made by the running Python (:func:`base_python`) with
    ``--system-site-packages``, and pip runs with QGIS's numpy/scipy/GDAL pinned to their running
    versions, so it never installs a second numpy. The torch build (:func:`choose_torch_build`)
    is logged, with its size, before anything is downloaded. Afterwards
    :func:`.private_env.activate_private_env` makes the packages importable in this session.
    Idempotent.

    Args:
        progress: receives each output line (e.g. ``feedback.pushInfo``); default: discard.
        env: target environment; defaults to :func:`.private_env.install_target`.
        build: the torch build; default :func:`choose_torch_build`.

    Returns:
        The environment folder.

    Raises:
        subprocess.CalledProcessError: when venv or pip fails (its output went to ``progress``).
    """
    log = progress or (lambda line: None)
    env = env or private_env.install_target()
    build = build or choose_torch_build()
    log(build.message)
    if not env_python(env).is_file():
        env.parent.mkdir(parents=True, exist_ok=True)
        _run(venv_command(env), log)
    with tempfile.TemporaryDirectory(prefix="dms2f_had_") as tmp:
        constraints = Path(tmp) / "protected.txt"
        extra = f"{build.constraint}\n" if build.constraint else ""
        constraints.write_text(protected_constraints() + extra, encoding="utf-8")
        _run(install_command(env, constraints, build), log)
    activation = private_env.activate_private_env([env])
    log(activation.message)
    return env


def _run(cmd: list[str], log: Log) -> None:
    """Run ``cmd`` (an argument list, no shell), streaming its output lines to ``log``."""
    log("$ " + " ".join(cmd))
    with subprocess.Popen(  # nosec B603 - fixed argument list built above
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:  # closes the pipe whatever happens
        assert proc.stdout is not None  # nosec B101 - set by PIPE above
        for line in proc.stdout:
            log(line.rstrip())
        returncode = proc.wait()
    if returncode != 0:
        raise subprocess.CalledProcessError(returncode, cmd)


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
