"""A memory estimate of a detection run, split by the setting that drives each part.

Memory is bounded by what one tile and the fit's sampled blocks need, never by the scene (see
:mod:`.tiled` and :mod:`.fitting`); but the settings that bound it are the user's: the tile
size, the band selection, the local background window, the local RX windows. This module adds
up, per setting, the largest arrays a run allocates at once, so that a run that cannot fit in
the machine's memory is refused before any work, naming the setting that actually causes it
(instead of an out-of-memory error halfway through that blames the tile size).

The estimate is a deliberately generous sum of the big arrays (bytes per value times values),
not a measurement: it exists to stop settings that would need several times the machine's
memory, so it errs on the high side by small factors and never by orders of magnitude.

The same estimate sizes a Dask worker's memory limit for a campaign
(:func:`estimate_detect_memory`, :func:`worker_memory_limit`): it never reads pixels, so it can
be made for hundreds of scenes before a campaign starts.
"""

from __future__ import annotations

import dataclasses
import math

from .blocks import BLOCK_SIZE, BLOCK_STRIDE
from .local_background import LINE_LENGTH

#: Setting -> how the message names it and how to fix it.
SETTINGS = {
    "tile_size": ("the tiles of {tile} x {tile} pixels and {bands} bands",
                  "use a smaller tile size (the default is 512)"),
    "bands": ("the {bands} bands of the sampled blocks",
              "select fewer bands (the band list)"),
    "local_window": ("the local background window of {local_window} pixels",
                     "use a smaller local background window (the default is 15), or 0 to turn "
                     "it off"),
    "outer_window": ("local RX's outer window of {outer_window} pixels",
                     "use a smaller outer window (the default is 21)"),
    "network": ("the network and the libraries",
                "close other programs or use a machine with more memory"),
}
MIB = 2**20
#: Python, numpy, GDAL, scipy and a Dask worker's own machinery.
PROCESS_BASE = 256 * MIB
#: torch (its CUDA build maps more libraries than the CPU one), the numba kernels and the
#: network's working memory at the fast preset's sizes. A Dask worker whose memory limit is
#: derived from this estimate is paused by Dask above 80 % of it, so this errs on the high side.
TORCH_RUNTIME = 768 * MIB
#: Extra training workspace of the paper preset (a wider, deeper network) over the fast one.
PAPER_WORKSPACE = 768 * MIB
_NAN_CHUNK = 16384  # pixels per chunk of the local median's NaN-aware path
_LRX_COMPONENTS = 20
_LRX_STRIP = 16


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs at its peak, by the setting that drives each part.

    Attributes:
        parts: setting (a key of :data:`SETTINGS`) -> bytes.
        context: values the messages quote (tile, bands, windows).
    """

    parts: dict[str, int]
    context: dict[str, int]

    @property
    def total(self) -> int:
        """All parts together."""
        return sum(self.parts.values())

    def largest(self) -> str:
        """The setting whose part is largest (what a refusal names)."""
        return max(self.parts, key=lambda key: self.parts[key])


def _footprint(local_window: int | None) -> tuple[int, int]:
    """(edge, pixels) of the background correction's footprint: None is the line correction."""
    if local_window is None:
        return LINE_LENGTH, 4 * LINE_LENGTH
    return local_window, local_window**2


def scorer_halo(method: str, *, local_window: int | None = 0, outer_window: int = 21) -> int:
    """The halo a method's tile scorer reads around each tile core (see :mod:`.tiled`).

    ``local_window`` None is the automatic line correction, 0 none, N a square window.
    """
    if method == "dms2f":
        edge = _footprint(local_window)[0]
        margin = -(-(edge // 2) // BLOCK_STRIDE) * BLOCK_STRIDE if edge else 0
        return BLOCK_SIZE + margin
    if method == "lrx":
        return outer_window // 2
    return 0


def _grown(edge: int, margin: int, size: int) -> int:
    return min(size, edge + 2 * margin)


def estimate_detection(method: str, *, bands: int, width: int, height: int, tile_size: int,
                       local_window: int | None = 0, outer_window: int = 21, fitting: bool = False,
                       max_blocks: int = 1024, batch_size: int = 64) -> MemoryEstimate:
    """Estimate the peak memory of detecting (and, with ``fitting``, fitting) on a raster.

    Args:
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        bands: selected bands.
        width: raster columns.
        height: raster rows.
        tile_size: I/O tile edge.
        local_window: DMS2F's local background window (0 = off, None = the line correction).
        outer_window: local RX's outer window.
        fitting: DMS2F only: the run also fits the network on the scene.
        max_blocks: most blocks a fit samples.
        batch_size: blocks per scoring batch.

    Returns:
        The estimate, by setting.
    """
    core_w, core_h = min(tile_size, width), min(tile_size, height)
    parts = {"network": PROCESS_BASE + (TORCH_RUNTIME if method == "dms2f" else 0)}
    edge, footprint = _footprint(local_window)
    context = {"tile": tile_size, "bands": bands, "local_window": edge,
               "outer_window": outer_window}
    if method == "dms2f":
        halo = scorer_halo(method, local_window=local_window)
        margin = halo - BLOCK_SIZE
        read = _grown(core_w, halo, width) * _grown(core_h, halo, height)
        # raw samples (<= 8 bytes), float32 cube, normalised copy, accumulator, residual and a
        # float64 chunk of the calibrated score, the next tile's cube (read meanwhile); one
        # batch of blocks with its reconstruction
        parts["tile_size"] = bands * read * 36 + batch_size * bands * BLOCK_SIZE**2 * 12
        if edge:
            grown = _grown(core_w, margin, width) * _grown(core_h, margin, height)
            parts["local_window"] = grown * 48 + min(_NAN_CHUNK, grown) * footprint * 8
        if fitting:
            grid = (-(-max(1, height - BLOCK_SIZE) // BLOCK_STRIDE) + 1) \
                * (-(-max(1, width - BLOCK_SIZE) // BLOCK_STRIDE) + 1)
            blocks = min(max_blocks, grid)
            # the sampled blocks (and their concatenation), the calibration's residuals in
            # float64 and the covariance of the residuals
            parts["bands"] = (blocks * bands * BLOCK_SIZE**2 * 12
                              + min(blocks, 256) * bands * BLOCK_SIZE**2 * 28 + bands**2 * 32)
    else:
        halo = scorer_halo(method, outer_window=outer_window)
        read = _grown(core_w, halo, width) * _grown(core_h, halo, height)
        # the cube as read and the next tile's (read meanwhile), their working copy
        parts["tile_size"] = bands * read * 16 + bands * 32768 * 16 + bands**2 * 32
        if method == "lrx":
            k = min(_LRX_COMPONENTS, bands)
            channels = 1 + k + k * (k + 1) // 2
            strip = min(height, _LRX_STRIP + 2 * halo) * _grown(core_w, halo, width)
            pixels = _LRX_STRIP * core_w
            parts["outer_window"] = channels * strip * 24 + pixels * (k * k * 24 + channels * 16)
    return MemoryEstimate(parts, context)


def refusal(estimate: MemoryEstimate, available: int) -> str | None:
    """The one-line refusal when ``estimate`` does not fit in ``available`` bytes, else None."""
    if estimate.total <= available:
        return None
    key = estimate.largest()
    what, fix = SETTINGS[key]
    return (f"This run needs about {_gib(estimate.total)} of memory, {_gib(estimate.parts[key])} "
            f"of it for {what.format(**estimate.context)}, but {_gib(available)} is available; "
            f"{fix}.")


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def estimate_detect_memory(*, method: str, width: int, height: int, bands: int,
                           tile_size: int = 512, preset: str = "fast", fit: bool = True,
                           max_blocks: int = 1024, local_window: int | None = 0,
                           outer_window: int = 21, in_memory_input: bool = False) -> int:
    """Peak memory of one detection in one process, in bytes, for sizing a worker.

    :func:`estimate_detection`'s total, plus the paper preset's larger training workspace and,
    for an input loaded whole (a ``.mat`` scene), its float64 copy and the in-memory GeoTIFF
    made of it (``H * W * B * 8 * 2``).

    Args:
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        width: raster columns.
        height: raster rows.
        bands: selected bands.
        tile_size: I/O tile edge of the scoring pass.
        preset: DMS2F-HAD preset.
        fit: DMS2F-HAD only: include fitting (False for a worker that only scores tiles of a
            model fitted elsewhere).
        max_blocks: most blocks the fit samples.
        local_window: DMS2F-HAD local background window (0 = off, None = the line correction).
        outer_window: local RX outer window.
        in_memory_input: the input is loaded whole (a ``.mat`` scene).

    Raises:
        ValueError: an unknown method or preset, or a non-positive size.
    """
    if method not in ("dms2f", "rx", "lrx"):
        raise ValueError(f"unknown method {method!r}")
    if preset not in ("fast", "paper"):
        raise ValueError(f"unknown preset {preset!r}")
    if min(width, height, bands, tile_size) < 1:
        raise ValueError(f"sizes must be positive, got {width}x{height}x{bands}, tile {tile_size}")
    estimate = estimate_detection(method, bands=bands, width=width, height=height,
                                  tile_size=tile_size, local_window=local_window,
                                  outer_window=outer_window, fitting=fit and method == "dms2f",
                                  max_blocks=max_blocks)
    total = estimate.total
    if method == "dms2f" and preset == "paper":
        total += PAPER_WORKSPACE
    if in_memory_input:
        total += height * width * bands * 8 * 2
    return int(total)


def worker_memory_limit(estimate: int, *, headroom: float = 1.5, granule: int = 256 * MIB) -> int:
    """A worker's memory limit for tasks estimated at ``estimate`` bytes.

    ``headroom`` times the estimate, rounded up to a multiple of ``granule``: Dask's nanny
    restarts a worker that passes 95 % of its limit, so the limit must sit well above the peak.
    """
    return int(math.ceil(estimate * headroom / granule) * granule)
