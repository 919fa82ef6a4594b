"""Parameters shared by several algorithms, so each one is declared and read in one place."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication

from ...engine.detectors.local_background import DEFAULT_LOCAL_WINDOW
from .. import settings

INPUT = "INPUT"
OUTPUT = "OUTPUT"
BANDS = "BANDS"
DEVICE = "DEVICE"
THREADS = "THREADS"
TILE_SIZE = "TILE_SIZE"
LOCAL_WINDOW = "LOCAL_WINDOW"

#: Default edge of the square processing tiles, in pixels.
DEFAULT_TILE_SIZE = 512
#: Upper bounds of typed numbers (a value above them is a typo, not a wish).
MAX_THREADS = 1024
MAX_SEED = 2**31 - 1
MAX_STEPS = 1_000_000
MAX_WINDOW = 1001
MAX_OBJECT_SIZE = 100_000_000


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fAlgorithm", text)


def input_raster() -> QgsProcessingParameterRasterLayer:
    """``INPUT``: the hyperspectral raster (any GDAL format: GeoTIFF, ENVI, HDF5 subdataset...)."""
    return QgsProcessingParameterRasterLayer(INPUT, _tr("Hyperspectral raster"))


def bands() -> QgsProcessingParameterString:
    """``BANDS``: optional 1-based band selection such as ``1-10,15``; empty uses every band."""
    return QgsProcessingParameterString(
        BANDS, _tr("Bands (e.g. 1-10,15; empty = all good bands)"), optional=True)


def device(default: settings.ProviderSettings) -> QgsProcessingParameterEnum:
    """``DEVICE``: auto / cpu / cuda, defaulting to the provider setting."""
    return QgsProcessingParameterEnum(
        DEVICE, _tr("Device"),
        options=[_tr("Auto (CUDA when available)"), _tr("CPU"), _tr("CUDA GPU")],
        defaultValue=default.device_index)


def threads(default: settings.ProviderSettings) -> QgsProcessingParameterNumber:
    """``THREADS``: CPU threads (0 = all cores), defaulting to the provider setting."""
    return QgsProcessingParameterNumber(
        THREADS, _tr("CPU threads (0 = all cores)"), QgsProcessingParameterNumber.Integer,
        defaultValue=default.threads, minValue=0)


def tile_size() -> QgsProcessingParameterNumber:
    """``TILE_SIZE``: edge of the square processing tiles in pixels (memory vs. overhead)."""
    return QgsProcessingParameterNumber(
        TILE_SIZE, _tr("Tile size (pixels)"), QgsProcessingParameterNumber.Integer,
        defaultValue=DEFAULT_TILE_SIZE, minValue=32, maxValue=8192)


def local_window() -> QgsProcessingParameterNumber:
    """``LOCAL_WINDOW``: odd neighbourhood whose median score is subtracted from each score."""
    return QgsProcessingParameterNumber(
        LOCAL_WINDOW, _tr("Local background window (pixels, odd; 0 = off)"),
        QgsProcessingParameterNumber.Integer, defaultValue=DEFAULT_LOCAL_WINDOW, minValue=0,
        maxValue=1001)


#: The help text of ``LOCAL_WINDOW``, shared by the DMS2F algorithms.
LOCAL_WINDOW_HELP = (
    "<b>Local background window</b> (advanced): each score has the median score of this "
    "neighbourhood subtracted, which removes broad bright backgrounds (sensor-edge strips, large "
    "unusual fields) and keeps targets smaller than about half the window's area; 0 turns it "
    "off. Raise it for large targets.\n")


def score_output() -> QgsProcessingParameterRasterDestination:
    """``OUTPUT``: the float32 anomaly score raster (same grid, CRS and geotransform as the input)."""
    return QgsProcessingParameterRasterDestination(OUTPUT, _tr("Anomaly score"))


def bands_value(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                context: QgsProcessingContext) -> str | None:
    """The ``BANDS`` selection as the engine takes it, or None for every band."""
    text = alg.parameterAsString(parameters, BANDS, context).strip()
    return text or None


def device_value(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                 context: QgsProcessingContext) -> str:
    """The ``DEVICE`` choice as the engine takes it (``auto``, ``cpu`` or ``cuda``)."""
    return settings.DEVICES[alg.parameterAsEnum(parameters, DEVICE, context)]


def threads_value(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                  context: QgsProcessingContext) -> int | None:
    """The ``THREADS`` value as the engine takes it: None for all cores."""
    value = alg.parameterAsInt(parameters, THREADS, context)
    return value if value > 0 else None
