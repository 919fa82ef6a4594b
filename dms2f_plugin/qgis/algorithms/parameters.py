"""Parameters shared by several algorithms, so each one is declared and read in one place."""

from __future__ import annotations

from typing import Any, TypeVar

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication

from ...engine.bounds import (
    LOCAL_WINDOW_MAX,
    MIN_SIZE_MAX,
    SEED_MAX,
    STEPS_MAX,
    TILE_SIZE_MAX,
    TILE_SIZE_MIN,
    usable_cores,
)
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
SEED = "SEED"
STEPS = "STEPS"

P = TypeVar("P", bound=QgsProcessingParameterDefinition)

#: Default edge of the square processing tiles, in pixels.
DEFAULT_TILE_SIZE = 512
#: Upper bounds of typed numbers: the engine's (``engine.bounds``), so the dialog and the run
#: refuse the same values. QGIS's integer widgets hold 32-bit values, hence the seed's cap.
MAX_SEED = min(SEED_MAX, 2**31 - 1)
MAX_STEPS = STEPS_MAX
MAX_WINDOW = LOCAL_WINDOW_MAX
MAX_OBJECT_SIZE = MIN_SIZE_MAX


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fAlgorithm", text)


def _with_help(parameter: P, text: str) -> P:
    """Give ``parameter`` its tooltip in the algorithm dialog (the help panel has the long text)."""
    parameter.setHelp(_tr(text))
    return parameter


#: Where the provider's settings are, as the menus of QGIS 3.22 to 3.40 name them.
SETTINGS_PATH = "Settings > Options > Processing > Providers > DMS2F-HAD"

#: Help panel paragraphs of the shared parameters.
BANDS_HELP = "<b>Bands</b>: optional 1-based selection such as 1-10,15; empty uses all good bands.\n"
DEVICE_HELP = ("<b>Device</b>: Auto uses a CUDA GPU when one is available, else the CPU (default "
               f"from {SETTINGS_PATH}).\n")
THREADS_HELP = ("<b>CPU threads</b> (advanced): how many CPU cores the network may use; 0 uses "
                f"all of them (default from {SETTINGS_PATH}). Lower it to keep QGIS responsive "
                "while a detection runs.\n")
TILE_SIZE_HELP = ("<b>Tile size</b> (advanced): the raster is read, scored and written in square "
                  "tiles of this many pixels; smaller tiles use less memory, larger ones a little "
                  "less time. The result is the same for every tile size.\n")
LOCAL_WINDOW_HELP = (
    "<b>Local background window</b> (advanced): what scores high over a broad area (a bright "
    "strip along a sensor edge, a large field of an unusual material) is background, not a "
    "target, and is subtracted. Empty (the default) uses the automatic correction: the largest "
    "of four line medians (row, column, both diagonals) of 45 pixels, which removes structures "
    "longer than about 22 pixels in one direction and keeps compact targets up to about 22 "
    "pixels across (several hundred pixels), so the target size need not be known for "
    "most targets; larger ones are lowered where RX does not see them (set 0 for targets "
    "known to be larger). The automatic correction is then fused with global RX: each "
    "score is put in units of its own map's spread (median and median absolute "
    "deviation) and the larger one is kept, so what RX sees well (targets the network learns "
    "to reconstruct: large ones, scenes with few bands) is not lost. 0 turns the correction "
    "and the fusion off (the network's score alone). An odd number N subtracts the median of "
    "the N x N neighbourhood instead, without the fusion: it removes more textured background "
    "but also every target larger than about half its area (N x N / 2 pixels); use it only "
    "when your targets are known to be that small. The log says how much of the scene the "
    "correction lowered a lot and where RX decided.\n")


def input_raster() -> QgsProcessingParameterRasterLayer:
    """``INPUT``: the hyperspectral raster (any GDAL format: GeoTIFF, ENVI, HDF5 subdataset...)."""
    return _with_help(QgsProcessingParameterRasterLayer(INPUT, _tr("Hyperspectral raster")),
                      "Any multi-band raster read by GDAL (GeoTIFF, ENVI, HDF5 subdataset, ...).")


def bands() -> QgsProcessingParameterString:
    """``BANDS``: optional 1-based band selection such as ``1-10,15``; empty uses every band."""
    return _with_help(QgsProcessingParameterString(
        BANDS, _tr("Bands (e.g. 1-10,15; empty = all good bands)"), optional=True),
        "1-based band numbers and ranges, e.g. 1-10,15; empty uses all good bands.")


def device(default: settings.ProviderSettings) -> QgsProcessingParameterEnum:
    """``DEVICE``: auto / cpu / cuda, defaulting to the provider setting."""
    return _with_help(QgsProcessingParameterEnum(
        DEVICE, _tr("Device"),
        options=[_tr("Auto (CUDA when available)"), _tr("CPU"), _tr("CUDA GPU")],
        defaultValue=default.device_index),
        "Auto uses a CUDA GPU when one is available, else the CPU.")


def threads(default: settings.ProviderSettings) -> QgsProcessingParameterNumber:
    """``THREADS``: CPU threads (0 = all cores, at most the cores), defaulting to the setting."""
    cores = usable_cores()
    return _with_help(QgsProcessingParameterNumber(
        THREADS, _tr("CPU threads (0 = all cores)"), QgsProcessingParameterNumber.Integer,
        defaultValue=min(default.threads, cores), minValue=0, maxValue=cores),
        "How many CPU cores the computation may use; 0 uses all of them.")


def seed() -> QgsProcessingParameterNumber:
    """``SEED``: the DMS2F-HAD fit's random seed."""
    return QgsProcessingParameterNumber(
        SEED, _tr("Random seed"), QgsProcessingParameterNumber.Integer, defaultValue=0,
        minValue=0, maxValue=MAX_SEED)


def steps() -> QgsProcessingParameterNumber:
    """``STEPS``: fitting steps instead of the preset's fixed number (0 keeps the preset's)."""
    return QgsProcessingParameterNumber(
        STEPS, _tr("Fitting steps (0: the preset's)"), QgsProcessingParameterNumber.Integer,
        defaultValue=0, minValue=0, maxValue=MAX_STEPS)


def tile_size() -> QgsProcessingParameterNumber:
    """``TILE_SIZE``: edge of the square processing tiles in pixels (memory vs. overhead)."""
    return _with_help(QgsProcessingParameterNumber(
        TILE_SIZE, _tr("Tile size (pixels)"), QgsProcessingParameterNumber.Integer,
        defaultValue=DEFAULT_TILE_SIZE, minValue=TILE_SIZE_MIN, maxValue=TILE_SIZE_MAX),
        "Edge of the square tiles the raster is processed in: smaller tiles use less memory; "
        "the result does not change.")


def local_window() -> QgsProcessingParameterNumber:
    """``LOCAL_WINDOW``: the background correction; empty = automatic, 0 = off, N = a square."""
    return _with_help(QgsProcessingParameterNumber(
        LOCAL_WINDOW, _tr("Local background window (pixels, odd; empty = automatic, 0 = off)"),
        QgsProcessingParameterNumber.Integer, defaultValue=DEFAULT_LOCAL_WINDOW, optional=True,
        minValue=0, maxValue=MAX_WINDOW),
        "Empty: the automatic correction (line medians fused with global RX; keeps compact targets "
        "up to about 22 pixels across); 0 turns it "
        "off; an odd N subtracts the median score of the N x N neighbourhood.")


def local_window_value(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                       context: QgsProcessingContext) -> int | None:
    """The ``LOCAL_WINDOW`` value as the engine takes it: None (empty) for the automatic one."""
    raw = parameters.get(LOCAL_WINDOW, DEFAULT_LOCAL_WINDOW)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return alg.parameterAsInt(parameters, LOCAL_WINDOW, context)


def local_window_problem(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                         context: QgsProcessingContext) -> str | None:
    """Why the ``LOCAL_WINDOW`` value cannot be used, in the dialog's words, or None."""
    window = local_window_value(alg, parameters, context)
    if window is None or window == 0 or (window >= 3 and window % 2 == 1):
        return None
    label = alg.parameterDefinition(LOCAL_WINDOW).description()
    return _tr("'{label}' must be empty (automatic), 0 (off) or an odd number of at least 3, "
               "not {window}; e.g. 31.").format(label=label, window=window)


def keep_all_bands() -> QgsProcessingParameterBoolean:
    """``KEEP_ALL_BANDS``: keep every band of the file (no water-vapour or bad-band removal)."""
    return _with_help(QgsProcessingParameterBoolean(
        KEEP_ALL_BANDS, _tr("Keep every band (no water-vapour band removal)"), defaultValue=False),
        "Keep the bands a bad-band list flags and those in the water-vapour windows.")


#: The help text of ``KEEP_ALL_BANDS``, shared by the detection algorithms.
KEEP_ALL_BANDS_HELP = (
    "<b>Keep every band</b> (advanced): with Bands empty, the bands a file's bad-band list flags "
    "are dropped, and a file with wavelengths but no such list loses the bands in the "
    "atmospheric water-vapour windows (1340-1460 nm, 1790-1960 nm, beyond 2450 nm), which hold "
    "sensor noise; the log names them. Tick to keep every band. A Bands list always wins.\n")


def score_output() -> QgsProcessingParameterRasterDestination:
    """``OUTPUT``: the float32 anomaly score raster (same grid, CRS and geotransform as the input)."""
    return _with_help(QgsProcessingParameterRasterDestination(OUTPUT, _tr("Anomaly score")),
                      "Float32 GeoTIFF on the input's grid; higher is more anomalous.")


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
