"""Names of the layers the algorithms load: the method and the input layer, as QGIS's own do.

A score layer is called "DMS2F-HAD score: san_diego_sample" (or "Global RX score: ..."); the
mask and the detections made from it take the same method and input:
"DMS2F-HAD detections: san_diego_sample". When the score layer carries no such name (a file
opened by hand, a step inside a model), the method and input are read from the metadata the
engine writes into every score GeoTIFF.
"""

from __future__ import annotations

import re
from pathlib import Path

from osgeo import gdal
from qgis.core import QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication

#: Engine method (score metadata ``method``) -> how the layer names call it.
METHOD_TITLES = {"dms2f": "DMS2F-HAD", "rx": "Global RX", "lrx": "Local RX"}

_SCORE_NAME = re.compile(r"^(?P<method>.+?) score(?: \([^)]*\))?: (?P<input>.+)$")


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fAlgorithm", text)


def score_metadata(path: str) -> dict[str, str]:
    """The dataset metadata of the score raster at ``path`` (empty when it cannot be read).

    Works whether or not the process has enabled GDAL exceptions.
    """
    try:
        dataset = gdal.OpenEx(path, gdal.OF_RASTER)
    except RuntimeError:
        return {}
    if dataset is None:
        return {}
    return dict(dataset.GetMetadata() or {})


def product_name(kind: str, score: QgsRasterLayer | None) -> str:
    """The name of a layer made from ``score``.

    Args:
        kind: ``"mask"`` or ``"detections"``.
        score: the score layer the product was made from.

    Returns:
        "<method> <kind>: <input>" when the method and input are known, else "Anomaly mask:
        <score layer>" or "Detections: <score layer>"; empty without a layer.
    """
    if score is None:
        return ""
    words = {"mask": _tr("mask"), "detections": _tr("detections")}[kind]
    match = _SCORE_NAME.match(score.name())
    if match:
        return f"{match.group('method')} {words}: {match.group('input')}"
    titles = layer_titles(score.source().split("|", 1)[0])
    if titles:
        return titles[kind]
    generic = {"mask": _tr("Anomaly mask"), "detections": _tr("Detections")}[kind]
    return f"{generic}: {score.name()}"


def layer_titles(score_path: str) -> dict[str, str]:
    """Layer names of a score file and of the mask and detections made from it.

    Returns:
        ``{"score": "DMS2F-HAD score: <input>", "mask": ..., "detections": ...}`` from the score's
        metadata, or an empty dict when it does not name its method and input.
    """
    metadata = score_metadata(score_path)
    method, source = METHOD_TITLES.get(metadata.get("method", "")), metadata.get("input")
    if not (method and source):
        return {}
    words = {"score": _tr("score"), "mask": _tr("mask"), "detections": _tr("detections")}
    return {kind: f"{method} {word}: {Path(source).stem}" for kind, word in words.items()}
