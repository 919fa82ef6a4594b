"""Parameters shared by several algorithms, so each one is declared and read in one place."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication

from ...engine.bounds import LOCAL_WINDOW_MAX, TILE_SIZE_MAX, TILE_SIZE_MIN, usable_cores
from ...engine.detectors.local_background import DEFAULT_LOCAL_WINDOW
from .. import settings

INPUT = "INPUT"
OUTPUT = "OUTPUT"
BANDS = "BANDS"
DEVICE = "DEVICE"
THREADS = "THREADS"
TILE_SIZE = "TILE_SIZE"
LOCAL_WINDOW = "LOCAL_WINDOW"
KEEP_ALL_BANDS = "KEEP_ALL_BANDS"

#: Default edge of the square processing tiles, in pixels.
DEFAULT_TILE_SIZE = 512


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
    """``THREADS``: CPU threads (0 = all cores, at most the cores), defaulting to the setting."""
    cores = usable_cores()
    return QgsProcessingParameterNumber(
        THREADS, _tr("CPU threads (0 = all cores)"), QgsProcessingParameterNumber.Integer,
        defaultValue=min(default.threads, cores), minValue=0, maxValue=cores)


def tile_size() -> QgsProcessingParameterNumber:
    """``TILE_SIZE``: edge of the square processing tiles in pixels (memory vs. overhead)."""
    return QgsProcessingParameterNumber(
        TILE_SIZE, _tr("Tile size (pixels)"), QgsProcessingParameterNumber.Integer,
        defaultValue=DEFAULT_TILE_SIZE, minValue=TILE_SIZE_MIN, maxValue=TILE_SIZE_MAX)


def local_window() -> QgsProcessingParameterNumber:
    """``LOCAL_WINDOW``: odd neighbourhood whose median score is subtracted from each score."""
    return QgsProcessingParameterNumber(
        LOCAL_WINDOW, _tr("Local background window (pixels, odd; 0 = off)"),
        QgsProcessingParameterNumber.Integer, defaultValue=DEFAULT_LOCAL_WINDOW, minValue=0,
        maxValue=LOCAL_WINDOW_MAX)


#: The help text of ``LOCAL_WINDOW``, shared by the DMS2F algorithms.
LOCAL_WINDOW_HELP = (
    "<b>Local background window</b> (advanced): each score has the median score of this "
    "neighbourhood subtracted, which removes broad bright backgrounds (sensor-edge strips, large "
    "unusual fields) and keeps targets smaller than about half the window's area; 0 turns it "
    "off. Raise it for large targets.\n")


def keep_all_bands() -> QgsProcessingParameterBoolean:
    """``KEEP_ALL_BANDS``: keep every band of the file (no water-vapour or bad-band removal)."""
    return QgsProcessingParameterBoolean(
        KEEP_ALL_BANDS, _tr("Keep every band (no water-vapour band removal)"), defaultValue=False)


#: The help text of ``KEEP_ALL_BANDS``, shared by the detection algorithms.
KEEP_ALL_BANDS_HELP = (
    "<b>Keep every band</b> (advanced): with Bands empty, the bands a file's bad-band list flags "
    "are dropped, and a file with wavelengths but no such list loses the bands in the "
    "atmospheric water-vapour windows (1340-1460 nm, 1790-1960 nm, beyond 2450 nm), which hold "
    "sensor noise; the log names them. Tick to keep every band. A Bands list always wins.\n")


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
