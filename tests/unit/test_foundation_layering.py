"""Dependencies point one way: models -> torch; engine -> numpy, GDAL, models; only qgis/ -> QGIS.

Every shipped ``.py`` file (the plugin folder less tests, scripts, benchmarks and the venv) is
parsed with ``ast``; imports inside functions count too.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {".venv", "build", "tests", "scripts", "benchmarks", ".git", ".ci"}
QGIS_MODULES = {"qgis", "processing", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip"}
QGIS_LAYER = ROOT / "dms2f_plugin" / "qgis"
MODELS = ROOT / "models"
ENGINE = ROOT / "dms2f_plugin" / "engine"
#: What models/ may import besides the standard library: torch, and safetensors (torch's
#: pickle-free weight files, a required dependency; see models/checkpoint.py).
TORCH_STACK = {"torch", "safetensors"}
#: Optional accelerators models/ may import only inside ``try: ... except ImportError``.
MODELS_OPTIONAL = {"numba", "mamba_ssm", "causal_conv1d"}
#: numba's array library: allowed (guarded) only in a file that imports numba guarded too.
NUMBA_COMPANION = "numpy"
STDLIB = set(sys.stdlib_module_names)


@dataclass(frozen=True)
class Import:
    """One import statement: the top-level module (``""`` for a relative one) and its level."""

    file: Path
    line: int
    top: str
    level: int
    guarded: bool

    def __str__(self) -> str:
        where = self.file.relative_to(ROOT)
        return f"{where}:{self.line}: {'.' * self.level}{self.top}"


def shipped_files() -> list[Path]:
    """Every ``.py`` file of the plugin folder, pruning what is not shipped (and ``.venv``)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        if Path(folder) == ROOT:
            dirs[:] = [d for d in dirs if d not in NOT_SHIPPED]
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        found += [Path(folder) / name for name in files if name.endswith(".py")]
    return sorted(found)


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True inside ``try: ... except ImportError`` (or ModuleNotFoundError / Exception)."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            for handler in parent.handlers:
                names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError",
                                                            "Exception"} for n in names):
                    return True
        node = parent
    return False


def imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(path, node.lineno, alias.name.split(".")[0], 0,
                                    _guarded(node, parents)))
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            found.append(Import(path, node.lineno, top, node.level, _guarded(node, parents)))
    return found


ALL = [imp for path in shipped_files() for imp in imports(path)]


def _under(path: Path, folder: Path) -> bool:
    return folder == path.parent or folder in path.parents


def test_files_were_found():
    names = {path.relative_to(ROOT).as_posix() for path in shipped_files()}
    assert {"__init__.py", "dms2f_plugin/deps.py", "dms2f_plugin/private_env.py",
            "dms2f_plugin/metadata.py"} <= names


def test_qgis_only_in_qgis_layer():
    bad = [str(i) for i in ALL if i.level == 0 and i.top in QGIS_MODULES
           and not _under(i.file, QGIS_LAYER) and i.file != ROOT / "__init__.py"]
    assert not bad, "QGIS/Qt imported outside dms2f_plugin/qgis/:\n" + "\n".join(bad)


def test_qt_only_through_qgis_pyqt():
    bad = [str(i) for i in ALL if i.level == 0 and i.top in QGIS_MODULES - {"qgis", "processing"}]
    assert not bad, "import Qt through qgis.PyQt (Qt5 and Qt6):\n" + "\n".join(bad)


def test_models_import_only_torch_and_stdlib():
    bad = []
    numba_files = {i.file for i in ALL if i.top == "numba" and i.level == 0 and i.guarded}
    for imp in ALL:
        if not _under(imp.file, MODELS):
            continue
        optional = MODELS_OPTIONAL | ({NUMBA_COMPANION} if imp.file in numba_files else set())
        if imp.level >= 2 or (imp.level == 0 and imp.top == "dms2f_had"):
            bad.append(f"{imp} (models must not import the engine or the plugin)")
        elif imp.level == 0 and imp.top not in STDLIB | TORCH_STACK:
            if not (imp.top in optional and imp.guarded):
                bad.append(f"{imp} (only {sorted(TORCH_STACK)}, the standard library and "
                           f"guarded optional {sorted(MODELS_OPTIONAL)}; numpy only beside numba)")
    assert not bad, "\n".join(bad)


def test_engine_never_imports_qgis_nor_a_second_gdal():
    """Inside QGIS the engine reads and writes through osgeo.gdal: no rasterio's bundled GDAL."""
    bad = [str(i) for i in ALL if _under(i.file, ENGINE) and i.level == 0
           and i.top in QGIS_MODULES | {"rasterio", "fiona"}]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["deps.py", "diagnostics.py", "private_env.py", "metadata.py"])
def test_foundation_modules_are_stdlib_only(module):
    """They run before torch is found, and deps.py also as a plain script with QGIS's Python
    (hence its absolute imports of its siblings ``private_env`` and ``diagnostics``)."""
    path = ROOT / "dms2f_plugin" / module
    siblings = {"deps.py": {"private_env", "diagnostics"},
                "diagnostics.py": {"private_env"}}.get(module, set())
    bad = [str(i) for i in imports(path) if i.level == 0 and i.top not in STDLIB | siblings]
    assert not bad, "\n".join(bad)


def test_root_init_has_only_class_factory():
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    defined = [node for node in tree.body if not isinstance(node, ast.Expr)]
    assert [type(node) for node in defined] == [ast.FunctionDef]
    assert defined[0].name == "classFactory"


def test_guard_detection_itself():
    """The guard check used above recognises ``try/except ImportError`` and nothing else."""
    src = "try:\n    import numba\nexcept ImportError:\n    numba = None\nimport mamba_ssm\n"
    tree = ast.parse(src)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = {n.names[0].name: _guarded(n, parents) for n in ast.walk(tree) if isinstance(n, ast.Import)}
    assert found == {"numba": True, "mamba_ssm": False}
