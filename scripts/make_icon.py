"""Render ``resources/icon.svg`` to ``resources/icon.png`` (64 x 64) with Qt's SVG renderer.

Usage: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_icon.py``. The PNG is committed;
``metadata.txt`` names it because the plugin repository's web pages show PNG icons.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QGuiApplication, QImage, QPainter
from qgis.PyQt.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841 - Qt needs an application to paint
    image = QImage(64, 64, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(RESOURCES / "icon.svg")).render(painter)
    painter.end()
    ok = image.save(str(RESOURCES / "icon.png"))
    print(RESOURCES / "icon.png" if ok else "failed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
