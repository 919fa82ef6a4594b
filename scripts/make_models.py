"""Write the packaged graphical models (resources/models/*.model3) from a headless QGIS.

Usage: .venv/bin/python scripts/make_models.py   (``make models``)

The ``dms2f`` provider is registered first: the models' steps must resolve in the Processing
registry, or a model file would lack its output definitions.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)  # noqa: F841 - must stay alive while QGIS runs
    app.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
    from dms2f_had.dms2f_plugin.qgis.model_builder import write_models
    from dms2f_had.dms2f_plugin.qgis.provider import Dms2fProvider

    provider = Dms2fProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    for path in write_models():
        print(path)
    QgsApplication.processingRegistry().removeProvider(provider)
    return 0


if __name__ == "__main__":
    sys.exit(main())
