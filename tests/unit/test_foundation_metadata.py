"""metadata.txt is valid for QGIS and plugins.qgis.org, and the code reads its version from it."""

from __future__ import annotations

import re

import pytest

from dms2f_had.dms2f_plugin import metadata
from dms2f_had.dms2f_plugin.metadata import METADATA_PATH, plugin_metadata, plugin_version

REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "repository", "tracker", "hasProcessingProvider", "supportsQt6")


@pytest.fixture(scope="module")
def meta() -> dict[str, str]:
    return plugin_metadata()


@pytest.mark.parametrize("field", REQUIRED)
def test_required_field_present(meta, field):
    assert meta.get(field.lower(), "").strip(), f"metadata.txt lacks {field}"


def test_keys_keep_qgis_spelling():
    """QGIS reads keys case-sensitively from the file; configparser lower-cases them for us."""
    text = METADATA_PATH.read_text(encoding="utf-8")
    for field in REQUIRED:
        assert re.search(rf"^{field}=", text, re.MULTILINE), field


def test_values(meta):
    assert meta["qgisminimumversion"] == "3.22" and meta["qgismaximumversion"] == "3.40"
    assert meta["hasprocessingprovider"] == "yes"
    assert meta["supportsqt6"] == "True"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", meta["email"])
    for url in ("repository", "tracker", "homepage"):
        assert meta[url].startswith("https://"), url


def test_about_names_external_dependencies(meta):
    for dependency in ("torch", "numba", "safetensors"):
        assert dependency in meta["about"]


def test_version_is_read_from_metadata(meta):
    assert plugin_version() == meta["version"]
    assert metadata.plugin_name() == meta["name"]


def test_returned_dict_is_a_copy():
    plugin_metadata()["version"] = "changed"
    assert plugin_version() != "changed"


def test_icon_and_license_exist(meta):
    root = METADATA_PATH.parent
    assert (root / meta["icon"]).is_file()
    assert "GNU GENERAL PUBLIC LICENSE" in (root / "LICENSE").read_text(encoding="utf-8")


def test_plugin_imports_under_its_install_name():
    """Nothing depends on the clone folder's name: the package is ``dms2f_had``."""
    import dms2f_had

    assert dms2f_had.__name__ == "dms2f_had"
    assert callable(dms2f_had.classFactory)
    assert (METADATA_PATH.parent / "__init__.py").samefile(dms2f_had.__file__)
