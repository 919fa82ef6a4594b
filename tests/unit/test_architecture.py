"""The engine's subpackages import one way, and no module of the plugin imports itself round a cycle.

Every shipped ``.py`` file is parsed with ``ast``; imports inside functions count (a lazy import
is still a dependency), imports under ``if TYPE_CHECKING:`` do not (they never run).

Order inside ``dms2f_plugin/engine``: the foundation modules (``errors``, ``progress``,
``types``, ``bounds``) < ``io`` < ``detectors`` and ``products`` (peers that never import each
other) < ``app``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_foundation_layering import ROOT, shipped_files

PACKAGE = "dms2f_had"
ENGINE = "dms2f_had.dms2f_plugin.engine"
#: Rank of each engine part; a module may import parts of lower rank and its own part (the
#: foundation modules, rank 0, also each other).
RANKS = {"errors": 0, "progress": 0, "types": 0, "bounds": 0, "io": 1, "detectors": 2,
         "products": 2, "app": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and node in parent.body and \
                ast.unparse(parent.test).endswith("TYPE_CHECKING"):
            return True
        node = parent
    return False


def internal_imports(path: Path, known: set[str]) -> set[str]:
    """Plugin modules ``path`` imports (``from . import x`` counts module ``x``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{alias.name}" for alias in node.names] + [target]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith(PACKAGE + "."):
                found.add(target)
    return found


FILES = shipped_files()
MODULES = {module_name(path) for path in FILES}
GRAPH = {module_name(path): internal_imports(path, MODULES) for path in FILES}


def _part(module: str) -> str | None:
    if not module.startswith(ENGINE + "."):
        return None
    return module[len(ENGINE) + 1:].split(".")[0]


def test_engine_has_the_documented_parts():
    parts = {_part(m) for m in MODULES} - {None}
    assert parts == set(RANKS), f"engine parts {sorted(parts)} differ from {sorted(RANKS)}"


def test_engine_parts_import_one_way():
    bad = []
    for module, targets in GRAPH.items():
        part = _part(module)
        if part is None:
            continue
        for target in targets:
            other = _part(target)
            if other is None or other == part:
                continue
            if RANKS[other] > RANKS[part] or (RANKS[other] == RANKS[part] and RANKS[part] > 0):
                bad.append(f"{module} -> {target} ({part} may not import {other})")
    assert not bad, "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    # A package importing its own submodules (an __init__ re-exporting them) is not a cycle.
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in GRAPH.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_itself():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
