"""``make package`` builds a zip the plugin repository accepts, and QGIS loads the unzipped plugin.

The zip is unzipped into a temporary plugin folder, then loaded (a) by ``qgis_process`` exactly as
a user's QGIS would (``QGIS_PLUGINPATH``, plugin enabled in a throw-away profile) and (b) through
``qgis.utils`` in QGIS's own Python (``/usr/bin/python3``, not the venv), in a subprocess so the
checkout's ``dms2f_had`` already imported by pytest cannot interfere.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import qgis_headless  # noqa: E402

ALGORITHMS = ("dms2f:detect_anomalies", "dms2f:threshold_anomalies")


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_foundation_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


package = _load_script("package")


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("dms2f_had-*.zip")
    return path


@pytest.fixture(scope="module")
def plugins_dir(zip_path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return folder


def test_zip_name_carries_metadata_version(zip_path):
    from dms2f_had.dms2f_plugin.metadata import plugin_version

    assert zip_path.name == f"dms2f_had-{plugin_version()}.zip"


def test_zip_passes_repository_rules(zip_path):
    assert package.problems(zip_path) == []
    assert zip_path.stat().st_size < 25 * 1024 * 1024


def test_zip_content(zip_path):
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert all(name.startswith("dms2f_had/") for name in names)
    for required in ("metadata.txt", "__init__.py", "LICENSE", "requirements.txt",
                     "dms2f_plugin/deps.py", "dms2f_plugin/private_env.py",
                     "dms2f_plugin/qgis/plugin.py",
                     "resources/sample/san_diego_sample.tif", "resources/sample/PROVENANCE.md"):
        assert f"dms2f_had/{required}" in names, required
    for banned in ("tests/", ".ci/", "scripts/", "benchmarks/", "Makefile", "__pycache__",
                   ".pyc", "pyproject.toml", "requirements-dev.txt", ".venv"):
        assert not [n for n in names if banned in n], banned


def test_problems_detects_bad_content(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("dms2f_had/tests/test_x.py", "")
        archive.writestr("dms2f_had/x/__pycache__/a.cpython-311.pyc", "")
        archive.writestr("dms2f_had/lib.so", "")
    found = "\n".join(package.problems(bad))
    for word in ("tests", "__pycache__", "lib.so", "metadata.txt is missing"):
        assert word in found


@pytest.mark.slow
def test_qgis_process_lists_algorithms_of_unzipped_plugin_without_torch(plugins_dir, tmp_path):
    """A fresh analyst machine: no private env yet; the plugin still loads and lists everything."""
    env = qgis_headless.headless_env(plugins_dir, tmp_path / "profile",
                                     {"HOME": str(tmp_path / "home"),
                                      "XDG_DATA_HOME": str(tmp_path / "home" / "data")})
    qgis_headless.enable_plugin(env)
    proc = qgis_headless.run(["list"], env)
    assert proc.returncode == 0, proc.stdout
    for alg in ALGORITHMS:
        assert alg in proc.stdout, proc.stdout[-3000:]


LOADER = r"""
import json, os, sys
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
sys.path.append("/usr/share/qgis/python/plugins")  # Processing, loaded by QGIS before plugins
from processing.core.Processing import Processing
Processing.initialize()
plugins = sys.argv[1]
sys.path.insert(0, plugins)
import qgis.utils as utils
utils.plugin_paths[:] = [plugins]
utils.updateAvailablePlugins()
registry = QgsApplication.processingRegistry()
out = {"available": "dms2f_had" in utils.available_plugins,
       "loaded": utils.loadPlugin("dms2f_had"),
       "started": utils.startProcessingPlugin("dms2f_had")}
import dms2f_had
from dms2f_had.dms2f_plugin import private_env
out["file"] = dms2f_had.__file__
out["activation"] = private_env.LAST_ACTIVATION.action if private_env.LAST_ACTIVATION else None
out["torch"] = private_env.missing_dependencies(["torch"]) == []
provider = registry.providerById("dms2f")
out["algorithms"] = sorted(a.id() for a in provider.algorithms()) if provider else []
out["unloaded"] = utils.unloadPlugin("dms2f_had")
out["provider_after_unload"] = registry.providerById("dms2f") is not None
print("RESULT " + json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


@pytest.mark.slow
def test_unzipped_plugin_loads_in_qgis_python(plugins_dir, tmp_path):
    """classFactory -> initProcessing -> unload as QGIS does, in QGIS's Python, private env found."""
    env = qgis_headless.headless_env(plugins_dir, tmp_path / "profile",
                                     {"DMS2F_HAD_VENV": str(ROOT / ".venv")})
    proc = subprocess.run(["/usr/bin/python3", "-c", LOADER, str(plugins_dir)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["available"] and result["loaded"] and result["started"], result
    assert Path(result["file"]).resolve().is_relative_to(plugins_dir.resolve())
    assert result["activation"] == "appended", "QGIS's Python should find torch in the private env"
    assert result["torch"]
    assert set(ALGORITHMS) <= set(result["algorithms"])
    assert result["unloaded"]
    assert not result["provider_after_unload"], "unload() must remove the provider"
