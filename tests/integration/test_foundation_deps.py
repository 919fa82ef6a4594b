"""How the plugin finds torch & co: private environments appended to sys.path (no QGIS)."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from dms2f_had.dms2f_plugin import deps, diagnostics, private_env

FAKE = "dms2f_fake_torch_pkg"
DEP = "dms2f_fake_sympy_pkg"
PYVER = f"{sys.version_info.major}.{sys.version_info.minor}"


def add_package(site: Path, name: str, value: object, requires: tuple[str, ...] = ()) -> None:
    """Package ``name`` with its distribution metadata (as pip installs it) in ``site``."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(f"VALUE = {value!r}\n", encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (info / "top_level.txt").write_text(f"{name}\n", encoding="utf-8")


def make_env(root: Path, version: str = PYVER, module: str | None = FAKE,
             requires: tuple[str, ...] = ()) -> Path:
    """A fake virtual environment holding package ``module`` for Python ``version``."""
    root.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}.2\n", encoding="utf-8")
    if sys.platform.startswith("win"):
        site = root / "Lib" / "site-packages"
    else:
        site = root / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    if module:
        add_package(site, module, 42, requires)
    return root


@pytest.fixture
def clean_path(monkeypatch):
    """Restore sys.path and the import caches after a test that appends to them."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield
    for name in (FAKE, DEP):
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def test_site_packages_for_running_python(tmp_path):
    env = make_env(tmp_path / "env")
    assert private_env.site_packages(env) is not None
    assert private_env.site_packages(env).is_dir()


def test_env_of_other_python_version_is_ignored(tmp_path):
    env = make_env(tmp_path / "env", version="3.2")
    assert private_env.site_packages(env) is None


def test_folder_without_pyvenv_cfg_is_not_an_env(tmp_path):
    assert private_env.site_packages(tmp_path) is None


def test_activate_appends_never_prepends(tmp_path, clean_path):
    env = make_env(tmp_path / "env")
    first = sys.path[0]
    result = private_env.activate_private_env([tmp_path / "missing", env], module=FAKE)
    assert result.action == "appended"
    assert result.env == env
    assert sys.path[-1] == str(result.site_packages)
    assert sys.path[0] == first
    assert importlib.import_module(FAKE).VALUE == 42
    assert private_env.LAST_ACTIVATION is result


def test_activate_is_idempotent(tmp_path, clean_path):
    env = make_env(tmp_path / "env")
    private_env.activate_private_env([env], module=FAKE)
    length = len(sys.path)
    again = private_env.activate_private_env([env], module=FAKE)
    assert again.action == "importable"
    assert len(sys.path) == length


def test_activate_skips_env_without_the_module(tmp_path, clean_path):
    empty = make_env(tmp_path / "empty", module=None)
    full = make_env(tmp_path / "full")
    result = private_env.activate_private_env([empty, full], module=FAKE)
    assert result.env == full


def test_activate_does_nothing_when_importable(tmp_path, clean_path):
    env = make_env(tmp_path / "env", module="json")
    before = list(sys.path)
    result = private_env.activate_private_env([env], module="json")
    assert result.action == "importable"
    assert sys.path == before


def test_activate_not_found_says_how_to_install(tmp_path, clean_path):
    before = list(sys.path)
    result = private_env.activate_private_env([tmp_path / "nothing"], module=FAKE)
    assert result.action == "not-found"
    assert "deps.py install" in result.message
    assert str(tmp_path / "nothing") in result.message
    assert sys.path == before


def test_missing_dependencies_does_not_import():
    assert private_env.missing_dependencies(["json", FAKE + "_absent"]) == [FAKE + "_absent"]
    assert FAKE + "_absent" not in sys.modules


def test_candidate_order_env_var_first(monkeypatch, tmp_path):
    monkeypatch.setenv(private_env.ENV_VAR, str(tmp_path / "mine"))
    envs = private_env.candidate_envs()
    assert envs[0] == tmp_path / "mine"
    assert envs[1] == private_env.PLUGIN_ROOT / ".venv"
    assert envs[2] == private_env.default_private_env()


def test_candidates_without_env_var(monkeypatch):
    monkeypatch.delenv(private_env.ENV_VAR, raising=False)
    expected = [private_env.PLUGIN_ROOT / ".venv", private_env.default_private_env()]
    assert private_env.candidate_envs() == expected


@pytest.mark.parametrize(
    ("plat", "expected"),
    [
        ("linux", Path("home/.local/share/dms2f_had")),
        ("darwin", Path("home/Library/Application Support/dms2f_had")),
        ("win32", Path("appdata/dms2f_had")),
    ],
)
def test_user_data_dir_per_platform(monkeypatch, tmp_path, plat, expected):
    monkeypatch.setattr(sys, "platform", plat)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    assert private_env.user_data_dir() == tmp_path / expected


def test_xdg_data_home_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert private_env.default_private_env() == tmp_path / "xdg" / "dms2f_had" / "venv"


def test_base_python_when_executable_is_qgis(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis")
    exe = deps.base_python()
    assert exe.is_file()
    assert exe.name.startswith("python")
    out = subprocess.run(  # noqa: S603 - fixed argument list
        [str(exe), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == str(sys.version_info[:2])


def test_commands_are_argument_lists(tmp_path):
    env = tmp_path / "env"
    venv = deps.venv_command(env)
    assert venv[1:] == ["-m", "venv", "--system-site-packages", str(env)]
    pip = deps.install_command(env, tmp_path / "c.txt")
    assert pip[0] == str(deps.env_python(env))
    assert pip[1:4] == ["-m", "pip", "install"]
    assert ["-r", str(deps.REQUIREMENTS)] == pip[pip.index("-r"):pip.index("-r") + 2]
    assert pip[-2:] == ["-c", str(tmp_path / "c.txt")]


def test_requirements_file_ships_and_never_names_numpy():
    text = deps.REQUIREMENTS.read_text(encoding="utf-8")
    names = [line.split("==")[0].strip().lower() for line in text.splitlines()
             if line.strip() and not line.startswith("#")]
    assert set(private_env.REQUIRED) <= set(names)
    assert set(private_env.CLUSTER) <= set(names), "campaigns install with the rest"
    assert "numpy" not in names and "gdal" not in names


def test_protected_constraints_pin_running_numpy():
    import numpy

    assert f"numpy=={numpy.__version__}" in deps.protected_constraints().splitlines()


def test_diagnostics_report_names_everything():
    report = diagnostics.diagnostics_report()
    for word in ("python:", "platform:", "numpy:", "gdal:", "torch:", "numba:", "safetensors:",
                 "mamba_ssm:", "dask:", "distributed:", "CUDA:", "private env"):
        assert word in report


@pytest.mark.slow
def test_install_private_env_keeps_system_numpy(tmp_path, monkeypatch, clean_path):
    """A real venv + pip run: numpy requested, but QGIS's numpy is kept (nothing installed)."""
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n", encoding="utf-8")
    monkeypatch.setattr(deps, "REQUIREMENTS", req)
    lines: list[str] = []
    build = deps.TorchBuild("default", None, None, "Installing torch from PyPI (test).")
    env = deps.install_private_env(lines.append, env=tmp_path / "venv", build=build)
    assert lines[0] == build.message, "the build and its size are said before anything starts"
    assert deps.env_python(env).is_file()
    assert any("venv" in line for line in lines if line.startswith("$ "))
    site = private_env.site_packages(env)
    assert site is not None
    assert not (site / "numpy").exists(), "pip installed a second numpy into the private env"


def test_install_target_follows_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv(private_env.ENV_VAR, raising=False)
    assert private_env.install_target() == private_env.default_private_env()
    monkeypatch.setenv(private_env.ENV_VAR, str(tmp_path / "mine"))
    assert private_env.install_target() == tmp_path / "mine"
    assert deps.install_command()[0] == str(deps.env_python(tmp_path / "mine"))


def test_top_level_modules(tmp_path):
    add_package(tmp_path, "pkg", "x")
    (tmp_path / "namespace_only").mkdir()
    (tmp_path / "mod.py").write_text("", encoding="utf-8")
    (tmp_path / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "pkg-1.0.dist-info").mkdir(exist_ok=True)
    (tmp_path / "some.pth").write_text("", encoding="utf-8")
    assert private_env.top_level_modules(tmp_path) == {"pkg", "mod", "_ext"}


def test_private_copy_wins_over_qgis_copy_that_is_too_old(tmp_path, clean_path):
    """Debian's sympy is too old for torch: pip put a newer one in the private env; it must win."""
    system = tmp_path / "system"
    add_package(system, DEP, "qgis-old")
    sys.path.insert(0, str(system))
    env = make_env(tmp_path / "env", requires=(f"{DEP}>=2",))
    add_package(private_env.site_packages(env), DEP, "private-new")
    result = private_env.activate_private_env([env], module=FAKE, roots=[FAKE])
    assert DEP in result.preferred and FAKE in result.preferred
    assert importlib.import_module(DEP).VALUE == "private-new"
    assert sys.path[-1] == str(result.site_packages), "still appended, never prepended"


def test_qgis_owned_and_loaded_modules_never_come_from_private_env(tmp_path, clean_path):
    env = make_env(tmp_path / "env", requires=("numpy", "osgeo", "json"))
    site = private_env.site_packages(env)
    for name in ("numpy", "osgeo", "json"):
        add_package(site, name, "private")
    result = private_env.activate_private_env([env], module=FAKE, roots=[FAKE])
    assert not {"numpy", "osgeo", "json"} & set(result.preferred)
    import numpy

    spec = importlib.util.find_spec("numpy")
    assert not str(spec.origin).startswith(str(site))
    assert not hasattr(numpy, "VALUE")


def test_only_the_plugins_packages_and_their_dependencies_are_served(tmp_path, clean_path):
    """Test tools (or anything else) in the private env are never served; extras are not followed."""
    env = make_env(tmp_path / "env", requires=(f"{DEP}>=1; python_version >= '3'",
                                               "dms2f_fake_extra; extra == 'all'"))
    site = private_env.site_packages(env)
    add_package(site, DEP, "needed")
    add_package(site, "dms2f_fake_extra", "optional")
    add_package(site, "dms2f_fake_pytest", "test tool")
    result = private_env.activate_private_env([env], module=FAKE, roots=[FAKE])
    assert set(result.preferred) == {FAKE, DEP}


def test_real_environment_serves_torch_and_friends_but_not_test_tools():
    """The development venv holds the plugin's packages and pytest, ruff, mypy: only the first
    are served."""
    site = Path(importlib.util.find_spec("torch").origin).parents[1]
    served = private_env.served_modules(site)
    expected = {"torch", "numba", "llvmlite", "safetensors"}
    if any(site.glob("sympy-*.dist-info")):  # pip installs it where the system's is too old
        expected.add("sympy")
    assert expected <= served
    assert not {"pytest", "_pytest", "ruff", "mypy", "pluggy", "bandit"} & served


def test_requirements_are_all_served():
    text = deps.REQUIREMENTS.read_text(encoding="utf-8")
    names = [line.split("==")[0].strip().lower() for line in text.splitlines()
             if line.strip() and not line.startswith("#")]
    assert set(names) <= set(private_env.SERVED_DISTRIBUTIONS)


def test_diagnostics_name_the_version_of_the_copy_that_is_loaded(tmp_path, clean_path):
    """QGIS's Python holds an old copy (first on sys.path), the private env a newer one that the
    finder serves: the report names the newer one, as it is the one imported."""
    system = tmp_path / "system"
    add_package(system, DEP, "qgis-old")
    (system / f"{DEP}-1.0.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DEP}\nVersion: 0.61.2\n", encoding="utf-8")
    sys.path.insert(0, str(system))
    env = make_env(tmp_path / "env", requires=(DEP,))
    site = private_env.site_packages(env)
    add_package(site, DEP, "private-new")
    (site / f"{DEP}-1.0.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DEP}\nVersion: 0.68.0\n", encoding="utf-8")
    private_env.activate_private_env([env], module=FAKE, roots=[FAKE])
    assert importlib.metadata.version(DEP) == "0.61.2", "the first copy on sys.path is the old one"
    assert diagnostics.loaded_version(DEP, DEP) == "0.68.0"
    assert importlib.import_module(DEP).VALUE == "private-new"
    assert diagnostics.loaded_version(DEP, DEP) == "0.68.0"
    assert diagnostics.loaded_version("dms2f_absent_module", "absent") == "not installed"


def test_finder_installed_once_per_env(tmp_path, clean_path):
    env = make_env(tmp_path / "env")
    site = private_env.site_packages(env)
    private_env.PrivateEnvFinder.install(site)
    private_env.PrivateEnvFinder.install(site)
    mine = [f for f in sys.meta_path if isinstance(f, private_env.PrivateEnvFinder) and f.site == str(site)]
    assert len(mine) == 1


def test_pinned_torch_is_the_requirement():
    text = deps.REQUIREMENTS.read_text(encoding="utf-8")
    assert f"torch=={deps.pinned_torch()}" in text.splitlines()


def test_cpu_build_from_the_cpu_index_where_there_is_no_gpu(tmp_path):
    build = deps.choose_torch_build(gpu=False, reachable=True, platform="linux")
    assert build.kind == "cpu" and build.extra_index == deps.CPU_INDEX
    assert build.constraint == f"torch=={deps.pinned_torch()}+cpu"
    assert "CPU build" in build.message and deps.SIZES["cpu"] in build.message
    pip = deps.install_command(tmp_path / "env", tmp_path / "c.txt", build)
    assert pip[pip.index("--extra-index-url") + 1] == deps.CPU_INDEX


def test_pypi_when_the_cpu_index_cannot_be_reached(tmp_path):
    build = deps.choose_torch_build(gpu=False, reachable=False, platform="linux")
    assert build.kind == "default" and build.extra_index is None and build.constraint is None
    assert "cannot be reached" in build.message and deps.SIZES["cuda"] in build.message
    assert "--extra-index-url" not in deps.install_command(tmp_path / "env", None, build)


def test_cuda_build_where_there_is_an_nvidia_gpu():
    build = deps.choose_torch_build(gpu=True, reachable=True, platform="linux")
    assert build.kind == "cuda" and build.extra_index is None and deps.SIZES["cuda"] in build.message


@pytest.mark.parametrize("plat", ["win32", "darwin"])
def test_pypi_is_already_the_cpu_build_on_windows_and_macos(plat):
    build = deps.choose_torch_build(gpu=False, reachable=True, platform=plat)
    assert build.kind == "default" and build.extra_index is None


def test_the_build_can_be_forced(monkeypatch):
    monkeypatch.setenv(deps.TORCH_BUILD_VAR, "cuda")
    assert deps.choose_torch_build(reachable=True, platform="linux").kind == "cuda"
    monkeypatch.setenv(deps.TORCH_BUILD_VAR, "cpu")
    assert deps.choose_torch_build(reachable=True, platform="linux").kind == "cpu"


def test_index_reachable_asks_the_index(tmp_path):
    """A real HTTP server on this machine answers; a closed port does not."""
    import functools
    import http.server
    import socket
    import threading

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<html></html>", encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert deps.index_reachable(f"http://127.0.0.1:{server.server_port}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert not deps.index_reachable(f"http://127.0.0.1:{closed}", timeout=5)
