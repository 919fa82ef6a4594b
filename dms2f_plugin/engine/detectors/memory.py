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
"""

from __future__ import annotations

import dataclasses

from .blocks import BLOCK_SIZE, BLOCK_STRIDE

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
_BASE = 150 * 2**20  # Python, numpy, GDAL
_TORCH = 400 * 2**20  # torch and the network's working memory at the presets' sizes
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


def _grown(edge: int, margin: int, size: int) -> int:
    return min(size, edge + 2 * margin)


def estimate_detection(method: str, *, bands: int, width: int, height: int, tile_size: int,
                       local_window: int = 0, outer_window: int = 21, fitting: bool = False,
                       max_blocks: int = 1024, batch_size: int = 64) -> MemoryEstimate:
    """Estimate the peak memory of detecting (and, with ``fitting``, fitting) on a raster.

    Args:
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        bands: selected bands.
        width: raster columns.
        height: raster rows.
        tile_size: I/O tile edge.
        local_window: DMS2F's local background window (0 = off).
        outer_window: local RX's outer window.
        fitting: DMS2F only: the run also fits the network on the scene.
        max_blocks: most blocks a fit samples.
        batch_size: blocks per scoring batch.

    Returns:
        The estimate, by setting.
    """
    core_w, core_h = min(tile_size, width), min(tile_size, height)
    parts = {"network": _BASE + (_TORCH if method == "dms2f" else 0)}
    context = {"tile": tile_size, "bands": bands, "local_window": local_window,
               "outer_window": outer_window}
    if method == "dms2f":
        margin = -(-(local_window // 2) // BLOCK_STRIDE) * BLOCK_STRIDE if local_window else 0
        halo = BLOCK_SIZE + margin
        read = _grown(core_w, halo, width) * _grown(core_h, halo, height)
        # raw samples (<= 8 bytes), float32 cube, normalised copy, accumulator, residual and a
        # float64 chunk of the calibrated score; one batch of blocks with its reconstruction
        parts["tile_size"] = bands * read * 32 + batch_size * bands * BLOCK_SIZE**2 * 12
        if local_window:
            grown = _grown(core_w, margin, width) * _grown(core_h, margin, height)
            parts["local_window"] = grown * 48 + min(_NAN_CHUNK, grown) * local_window**2 * 8
        if fitting:
            grid = (-(-max(1, height - BLOCK_SIZE) // BLOCK_STRIDE) + 1) \
                * (-(-max(1, width - BLOCK_SIZE) // BLOCK_STRIDE) + 1)
            blocks = min(max_blocks, grid)
            # the sampled blocks (and their concatenation), the calibration's residuals in
            # float64 and the covariance of the residuals
            parts["bands"] = (blocks * bands * BLOCK_SIZE**2 * 12
                              + min(blocks, 256) * bands * BLOCK_SIZE**2 * 28 + bands**2 * 32)
    else:
        halo = outer_window // 2 if method == "lrx" else 0
        read = _grown(core_w, halo, width) * _grown(core_h, halo, height)
        parts["tile_size"] = bands * read * 12 + bands * 32768 * 16 + bands**2 * 32
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
