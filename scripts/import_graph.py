"""Draw the imports between the plugin's layers and the engine's subpackages.

Usage: ``python scripts/import_graph.py [--dot]``. Prints a Mermaid flowchart (or Graphviz DOT
with ``--dot``): one node per layer (``qgis``, ``models``) and engine part (``app``, ``detectors``,
``products``, ``io``, the foundation modules), one arrow per pair that imports, labelled with the
number of module-to-module imports. It reads the same import graph as the layering tests
(``tests/unit/test_architecture.py``: every shipped module parsed with ``ast``, lazy imports
included), so the drawing and the tests cannot disagree.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from test_architecture import ENGINE, GRAPH, RANKS  # noqa: E402

PLUGIN = "dms2f_had.dms2f_plugin"


def node(module: str) -> str | None:
    """The drawing's node of a module: an engine part, a layer, or None (left out)."""
    if module.startswith(ENGINE + "."):
        part = module[len(ENGINE) + 1:].split(".")[0]
        return "foundation" if RANKS.get(part) == 0 else part
    if module.startswith(PLUGIN + ".qgis"):
        return "qgis"
    if module.startswith("dms2f_had.models"):
        return "models"
    return None


def edges() -> dict[tuple[str, str], int]:
    """(importer node, imported node) -> number of module imports between them."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for module, targets in GRAPH.items():
        source = node(module)
        for target in targets:
            destination = node(target)
            if source and destination and source != destination:
                counts[(source, destination)] += 1
    return dict(sorted(counts.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dot", action="store_true", help="Graphviz DOT instead of Mermaid")
    args = parser.parse_args()
    found = edges()
    if args.dot:
        print("digraph imports {\n  rankdir=TB;")
        for (source, target), count in found.items():
            print(f'  "{source}" -> "{target}" [label="{count}"];')
        print("}")
    else:
        print("flowchart TD")
        for (source, target), count in found.items():
            print(f"  {source} -->|{count}| {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
