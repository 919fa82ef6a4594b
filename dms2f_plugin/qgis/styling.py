"""Styles of the plugin's outputs: score heatmap, binary mask and detection outlines.

Two paths make an output open styled:

* a ``.qml`` sidecar written beside every output file, which QGIS loads as the layer's default
  style whenever the file is opened (also for ``qgis_process`` and batch outputs);
* a layer post-processor that applies the same style when Processing loads the output into the
  project at the end of a run.

The score style is data dependent (a 2-98 % cumulative-cut stretch of the file's own values, its
legend rounded to about three significant digits), so it is built here; the mask and detection
styles are static files in ``resources/styles`` (written by ``scripts/make_styles.py``: cyan,
which the magma ramp never uses, with a dark halo; rounded attribute values).
"""

from __future__ import annotations

import collections
import logging
import math
import shutil
from enum import Enum
from pathlib import Path

from qgis.core import (
    QgsBasicNumericFormat,
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)
from qgis.PyQt.QtXml import QDomDocument

from ..engine.errors import Dms2fError
from ..engine.io.destinations import write_failure
from ..engine.io.writer import atomic_output

LOGGER = logging.getLogger(__name__)

#: Folder of the static ``.qml`` styles shipped with the plugin.
STYLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "styles"

#: Colour ramp of the score heatmap (perceptually uniform, dark = background, bright = anomalous).
SCORE_RAMP = "Magma"

#: Cumulative-cut stretch of the score heatmap, as fractions of the pixel count.
SCORE_STRETCH = (0.02, 0.98)


class OutputKind(Enum):
    """What an output layer holds, which decides its style."""

    SCORE = "score"
    MASK = "mask"
    DETECTIONS = "detections"


_STATIC_STYLES = {
    OutputKind.MASK: STYLES_DIR / "anomaly_mask.qml",
    OutputKind.DETECTIONS: STYLES_DIR / "detections.qml",
}


def sidecar_path(output_path: str) -> Path:
    """The ``.qml`` file QGIS reads as the default style of ``output_path``."""
    return Path(output_path).with_suffix(".qml")


def apply_score_style(layer: QgsRasterLayer) -> None:
    """Give a score raster a pseudocolor ramp stretched to its 2-98 % cumulative cut.

    Args:
        layer: a valid single-band score layer; its renderer is replaced.
    """
    lower, upper = SCORE_STRETCH
    low, high = layer.dataProvider().cumulativeCut(1, lower, upper)
    if not high > low:  # a constant image: give the ramp a non-empty range
        high = low + 1.0
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    origin = QgsRasterMinMaxOrigin()
    origin.setLimits(QgsRasterMinMaxOrigin.CumulativeCut)
    origin.setCumulativeCutLower(lower)
    origin.setCumulativeCutUpper(upper)
    origin.setExtent(QgsRasterMinMaxOrigin.WholeRaster)
    renderer.setMinMaxOrigin(origin)
    renderer.createShader(QgsStyle.defaultStyle().colorRamp(SCORE_RAMP),
                          QgsColorRampShader.Interpolated, QgsColorRampShader.Continuous, 5)
    round_legend(renderer.shader().rasterShaderFunction(), legend_decimals(low, high))
    layer.setRenderer(renderer)


def legend_decimals(low: float, high: float) -> int:
    """Decimals that show a stretch from ``low`` to ``high`` with about three significant digits."""
    span = abs(high - low)
    if not math.isfinite(span) or span <= 0:
        return 2
    return min(6, max(0, 2 - math.floor(math.log10(span))))


def round_legend(shader: QgsColorRampShader, decimals: int) -> None:
    """Show the ramp's values rounded to ``decimals`` in the legend (the values stay exact)."""
    items = shader.colorRampItemList()
    for item in items:
        item.label = f"{item.value:.{decimals}f}"
    shader.setColorRampItemList(items)
    number_format = QgsBasicNumericFormat()
    number_format.setNumberDecimalPlaces(decimals)
    number_format.setShowTrailingZeros(True)
    settings = QgsColorRampLegendNodeSettings(shader.legendSettings())
    settings.setNumericFormat(number_format)
    shader.setLegendSettings(settings)


def apply_style(layer: QgsMapLayer, kind: OutputKind) -> None:
    """Apply the style of ``kind`` to a loaded ``layer``."""
    if kind is OutputKind.SCORE:
        apply_score_style(layer)
    else:
        layer.loadNamedStyle(str(_STATIC_STYLES[kind]))
    layer.triggerRepaint()


def write_sidecar(output_path: str, kind: OutputKind) -> Path | None:
    """Write the ``.qml`` style beside ``output_path``, atomically, through the engine's writer.

    Args:
        output_path: a raster or vector file written by an algorithm.
        kind: what the file holds.

    Returns:
        The ``.qml`` path, or None when the output is not a plain file (e.g. a GeoPackage table
        URI) or could not be opened.

    Raises:
        OutputError: the style could not be written (the message names the OS's reason); an
            older ``.qml`` is kept and no temporary file is left.
    """
    path = Path(output_path)
    if not path.is_file():
        return None
    target = sidecar_path(output_path)
    layer = None
    if kind is OutputKind.SCORE:
        layer = QgsRasterLayer(str(path), path.stem, "gdal")
        if not layer.isValid():
            return None
        apply_score_style(layer)
    with atomic_output(target, sidecars=(), verify=_verify_qml) as temp:
        if layer is None:
            try:
                shutil.copyfile(_STATIC_STYLES[kind], temp)
            except OSError as exc:
                raise write_failure(target, exc, temp) from None
        else:
            message, ok = layer.saveNamedStyle(str(temp))
            if not ok:
                raise write_failure(target, message or "QGIS could not save the style", temp)
    return target


def _verify_qml(temp: Path) -> None:
    """A written style must parse as a whole XML document (a full disk leaves a cut-off file).

    Raises:
        ValueError: the file is not a complete XML document.
    """
    parsed = QDomDocument().setContent(temp.read_bytes())  # (ok, error, line, column) in PyQt5
    ok, error = (parsed[0], parsed[1]) if isinstance(parsed, tuple) else (parsed, "")
    if not ok:
        raise ValueError(f"the style is not a complete XML document ({error or 'unreadable'})")


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles an output when Processing loads it into the project at the end of a run."""

    # QGIS keeps only a C++ pointer to a post-processor; the Python object must stay referenced
    # until the run's layers are loaded (after the whole model, for a model's child algorithm),
    # so recent instances are kept here.
    _alive: collections.deque[StylePostProcessor] = collections.deque(maxlen=256)

    def __init__(self, kind: OutputKind) -> None:
        super().__init__()
        self.kind = kind

    @classmethod
    def create(cls, kind: OutputKind) -> StylePostProcessor:
        """Return a new post-processor for ``kind`` that stays referenced."""
        processor = cls(kind)
        cls._alive.append(processor)
        return processor

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> None:
        """Apply the style of :attr:`kind` to the freshly loaded ``layer``."""
        if layer is not None and layer.isValid():
            apply_style(layer, self.kind)


def style_output(output_path: str, kind: OutputKind, context: QgsProcessingContext) -> None:
    """Make an algorithm output open styled: sidecar ``.qml`` plus post-processor if loaded.

    The output itself is complete at this point, so a style that cannot be written is logged as
    a warning (the layer then opens with QGIS's default style) instead of failing the run.

    Args:
        output_path: the output file the engine wrote.
        kind: what the file holds.
        context: the algorithm's context (decides whether the layer is loaded on completion).
    """
    try:
        write_sidecar(output_path, kind)
    except Dms2fError as err:
        LOGGER.warning("The output is complete, but its style could not be saved: %s", err)
    if context.willLoadLayerOnCompletion(output_path):
        details = context.layerToLoadOnCompletionDetails(output_path)
        details.setPostProcessor(StylePostProcessor.create(kind))
