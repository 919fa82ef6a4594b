"""The global grid of 16 x 16 blocks on which DMS2F-HAD fits and reconstructs a scene.

Grid: block origins are ``(s i, s j)`` for ``i = 0 .. ceil((H - 16) / s)`` (at least one row of
blocks) and likewise for columns, with the stride ``s`` a divisor of 16; the last blocks may run
past the bottom/right edge, where they are zero padded, exactly as in the reference code. With
``s = 8`` (the reference's grid, :data:`BLOCK_STRIDE`; fitting always samples it) interior pixels
are covered by 4 blocks (2 along each axis), the first 8 rows/columns by fewer; with ``s = 16``
(the ``fast`` preset's scoring) every pixel by exactly one.

Why tiling does not change the result: the grid is anchored at pixel (0, 0) of the raster, never
at a tile. A tile's core window starts on a multiple of ``s`` (``align = s``), so the blocks that
touch the core start at most ``16 - s`` pixels before it and end at most ``16 - s`` pixels after
it (or past the raster edge, which is zero padded in both cases). Reading the core with a halo of
one whole block (16) therefore gives every block exactly the same pixels as a whole-image run,
and each pixel averages the same reconstructions in the same order (origins sorted row-major), so
the tiled score equals the whole-image score.
"""

from __future__ import annotations

import numpy as np

from ..io.window import Window

BLOCK_SIZE = 16
BLOCK_STRIDE = 8


def _axis_origins(start: int, stop: int, size: int, stride: int) -> np.ndarray:
    """Block origins along one axis (raster length ``size``) overlapping ``[start, stop)``."""
    last = max(0, -(-(size - BLOCK_SIZE) // stride)) * stride
    first = max(0, -(-(start - BLOCK_SIZE + 1) // stride) * stride)
    end = min(stop - 1, last)
    return np.arange(first, end + 1, stride, dtype=np.int64)


def grid_block_origins(core: Window, height: int, width: int, stride: int = BLOCK_STRIDE) -> np.ndarray:
    """Global ``(row, col)`` origins of every grid block overlapping ``core``, row-major.

    Args:
        core: the window to cover (the whole raster gives the whole grid).
        height: raster rows.
        width: raster columns.
        stride: pixels between block origins (8: the grid of the module docstring; 16: blocks
            that do not overlap, each pixel reconstructed once). A divisor of the block size.

    Returns:
        int64 ``(n, 2)``.
    """
    if stride <= 0 or BLOCK_SIZE % stride:
        raise ValueError(f"block stride {stride} must divide the block size {BLOCK_SIZE}")
    rows = _axis_origins(core.row_off, core.row_end, height, stride)  # (nr,)
    cols = _axis_origins(core.col_off, core.col_end, width, stride)  # (nc,)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)  # (nr, nc, 2)
    return grid.reshape(-1, 2)


def extract_blocks(cube: np.ndarray, origins: np.ndarray, cube_window: Window) -> np.ndarray:
    """Cut grid blocks out of a cube, zero padded where they run past the cube's bottom/right.

    Args:
        cube: ``(bands, h, w)`` covering ``cube_window`` (a tile's read window, halo included).
        origins: global ``(n, 2)`` block origins from :func:`grid_block_origins`.
        cube_window: where ``cube`` lies in the raster.

    Returns:
        ``(n, bands, 16, 16)`` array of the cube's dtype.

    Raises:
        ValueError: a block starts above/left of the cube (the halo is too small).
    """
    bands, h, w = cube.shape
    local = origins - np.array([cube_window.row_off, cube_window.col_off])  # (n, 2)
    if len(local) and local.min() < 0:
        raise ValueError("a block starts outside the read window: the halo is too small "
                         "(need at least the block stride, with cores aligned to the stride)")
    blocks = np.zeros((len(local), bands, BLOCK_SIZE, BLOCK_SIZE), dtype=cube.dtype)
    for k, (r, c) in enumerate(local):
        rh, cw = min(BLOCK_SIZE, h - r), min(BLOCK_SIZE, w - c)
        if rh > 0 and cw > 0:
            blocks[k, :, :rh, :cw] = cube[:, r:r + rh, c:c + cw]  # (bands, rh, cw)
    return blocks


class BlockAccumulator:
    """Overlap-averages block values (reconstructions) back onto a core window.

    Feed it in batches with :meth:`add`; :meth:`result` gives the per-pixel mean. Block parts
    outside the core are ignored, so it can be fed every block of a tile.
    """

    def __init__(self, core: Window, channels: int) -> None:
        """Start an empty accumulator.

        Args:
            core: the window to fill.
            channels: values per pixel (bands of the reconstruction).
        """
        self.core = core
        self._sum = np.zeros((channels, core.height, core.width), dtype=np.float32)  # (C, h, w)
        self._count = np.zeros(core.shape, dtype=np.float32)  # (h, w)

    def add(self, values: np.ndarray, origins: np.ndarray) -> None:
        """Add ``values`` ``(n, C, 16, 16)`` of the blocks at global ``origins`` ``(n, 2)``."""
        for block, (r, c) in zip(values, origins):
            r0, c0 = max(r, self.core.row_off), max(c, self.core.col_off)
            r1 = min(r + BLOCK_SIZE, self.core.row_end)
            c1 = min(c + BLOCK_SIZE, self.core.col_end)
            if r1 <= r0 or c1 <= c0:
                continue
            dst = (slice(r0 - self.core.row_off, r1 - self.core.row_off),
                   slice(c0 - self.core.col_off, c1 - self.core.col_off))
            self._sum[(slice(None),) + dst] += block[:, r0 - r:r1 - r, c0 - c:c1 - c]
            self._count[dst] += 1.0

    def result(self) -> np.ndarray:
        """Per-pixel mean ``(C, h, w)`` float32, computed in place: call it once, at the end.

        Raises:
            ValueError: some core pixel received no block (blocks missing from the feed).
        """
        if (self._count == 0).any():
            raise ValueError("some pixels of the core received no block; feed every block "
                             "from grid_block_origins(core, ...)")
        self._sum /= self._count
        return self._sum


def accumulate_blocks(values: np.ndarray, origins: np.ndarray, core: Window) -> np.ndarray:
    """One-shot overlap average: ``(n, C, 16, 16)`` block values -> ``(C, core_h, core_w)``."""
    acc = BlockAccumulator(core, values.shape[1])
    acc.add(values, origins)
    return acc.result()
