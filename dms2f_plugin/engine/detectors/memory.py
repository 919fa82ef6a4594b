"""How much memory one detection needs: the estimate that sizes a Dask worker's memory limit.

The estimate is an upper-bound style sum of the allocations that scale with the raster, plus
fixed costs of the runtime. It never reads pixels, so it can be made for hundreds of scenes
before a campaign starts. In bytes, with ``B`` selected bands and ``f32 = 4``, ``f64 = 8``:

``PROCESS_BASE``
    the interpreter with numpy, GDAL, scipy and a Dask worker's own machinery;
``+ TORCH_RUNTIME`` (DMS2F-HAD only)
    torch and the compiled numba kernels;
``+ input copy`` (``.mat`` scenes only)
    ``H * W * B * f64 * 2``: a benchmark scene is loaded whole and held as an in-memory GeoTIFF;
``+ scoring``
    ``Rh * Rw * B * f32 * copies``, where ``Rh = min(H, tile + 2 halo)`` (likewise ``Rw``) is the
    read window of one tile and ``copies`` the arrays a scorer keeps of it
    (:data:`SCORE_COPIES`: the raw cube, the normalised cube, the overlap accumulator, the
    residual and the scores of the grown core for DMS2F-HAD; the cube and two float64 chunks for
    RX); local RX adds its strip of integral images, ``(1 + k + k (k + 1) / 2) * (16 + outer) *
    Rw * f64`` with ``k = 20`` components;
``+ fitting`` (DMS2F-HAD ``detect`` only; scoring a shipped model skips it)
    ``n_fit * B * 256 * f32 * 2`` for the sampled 16 x 16 blocks and their tensor copy
    (``n_fit = min(max_blocks, grid blocks)``), ``n_cal * 256 * B * f64 * 3`` for the
    calibration's residuals (``n_cal = min(256, n_fit)``) and the preset's fixed training
    workspace (:data:`FIT_WORKSPACE`: activations of one batch kept for the backward pass,
    optimiser state).

Memory is bounded by the tile and by ``max_blocks``, never by the scene, except for the
``.mat`` copy; so is the estimate.
"""

from __future__ import annotations

import math

from .blocks import BLOCK_SIZE, BLOCK_STRIDE

MIB = 1024 * 1024
#: Interpreter, numpy, GDAL, scipy and a Dask worker's own machinery.
PROCESS_BASE = 256 * MIB
#: torch and the numba kernels, loaded by DMS2F-HAD only.
TORCH_RUNTIME = 384 * MIB
#: Fixed training workspace of each preset (one batch's activations, optimiser state).
FIT_WORKSPACE = {"fast": 256 * MIB, "paper": 1024 * MIB}
#: Float32 copies of a tile's read window that each method holds at once.
SCORE_COPIES = {"dms2f": 5, "rx": 3, "lrx": 3}
#: Most blocks the residual calibration uses.
CALIBRATION_BLOCKS = 256
#: Principal components of local RX.
LRX_COMPONENTS = 20
_F32, _F64 = 4, 8
_BLOCK_PIXELS = BLOCK_SIZE * BLOCK_SIZE


def _grid_blocks(height: int, width: int) -> int:
    """Blocks of the global 16 x 16 / 8 grid over a ``height`` x ``width`` raster."""
    rows = max(0, -(-(height - BLOCK_SIZE) // BLOCK_STRIDE)) + 1
    cols = max(0, -(-(width - BLOCK_SIZE) // BLOCK_STRIDE)) + 1
    return rows * cols


def scorer_halo(method: str, *, local_window: int = 15, outer_window: int = 21) -> int:
    """The halo a method's tile scorer reads around each tile core (see ``detectors.tiled``)."""
    if method == "dms2f":
        margin = -(-(local_window // 2) // BLOCK_STRIDE) * BLOCK_STRIDE if local_window else 0
        return BLOCK_SIZE + margin
    if method == "lrx":
        return outer_window // 2
    return 0


def estimate_detect_memory(*, method: str, width: int, height: int, bands: int,
                           tile_size: int = 512, preset: str = "fast", fit: bool = True,
                           max_blocks: int = 1024, local_window: int = 15,
                           outer_window: int = 21, in_memory_input: bool = False) -> int:
    """Peak memory of one detection in one process, in bytes (the module docstring's formula).

    Args:
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        width: raster columns.
        height: raster rows.
        bands: selected bands.
        tile_size: I/O tile edge of the scoring pass.
        preset: DMS2F-HAD preset (its training workspace).
        fit: DMS2F-HAD only: include fitting (False for a worker that only scores tiles of a
            model fitted elsewhere).
        max_blocks: most blocks the fit samples.
        local_window: DMS2F-HAD local background window (0 = off): widens the halo.
        outer_window: local RX outer window: its halo and strip height.
        in_memory_input: the input is loaded whole (a ``.mat`` scene).

    Returns:
        The estimate in bytes.

    Raises:
        ValueError: an unknown method or preset, or a non-positive size.
    """
    if method not in SCORE_COPIES:
        raise ValueError(f"unknown method {method!r}")
    if min(width, height, bands, tile_size) < 1:
        raise ValueError(f"sizes must be positive, got {width}x{height}x{bands}, tile {tile_size}")
    halo = scorer_halo(method, local_window=local_window, outer_window=outer_window)
    read_h, read_w = min(height, tile_size + 2 * halo), min(width, tile_size + 2 * halo)
    total = PROCESS_BASE + read_h * read_w * bands * _F32 * SCORE_COPIES[method]
    if in_memory_input:
        total += height * width * bands * _F64 * 2
    if method == "lrx":
        k = LRX_COMPONENTS
        total += (1 + k + k * (k + 1) // 2) * (16 + outer_window) * read_w * _F64
    if method == "dms2f":
        if preset not in FIT_WORKSPACE:
            raise ValueError(f"unknown preset {preset!r}")
        total += TORCH_RUNTIME
        if fit:
            n_fit = min(max_blocks, _grid_blocks(height, width))
            n_cal = min(CALIBRATION_BLOCKS, n_fit)
            total += n_fit * bands * _BLOCK_PIXELS * _F32 * 2
            total += n_cal * _BLOCK_PIXELS * bands * _F64 * 3
            total += FIT_WORKSPACE[preset]
    return int(total)


def worker_memory_limit(estimate: int, *, headroom: float = 1.5, granule: int = 256 * MIB) -> int:
    """A worker's memory limit for tasks estimated at ``estimate`` bytes.

    ``headroom`` times the estimate, rounded up to a multiple of ``granule``: Dask's nanny
    restarts a worker that passes 95 % of its limit, so the limit must sit well above the peak.
    """
    return int(math.ceil(estimate * headroom / granule) * granule)
