"""The global grid of I/O tiles: core windows anchored at pixel (0, 0), each read with a halo.

Core windows of ``tile_size`` x ``tile_size`` pixels, row-major, the last row/column of tiles
clipped to the raster. ``tile_size`` is rounded up to a multiple of ``align`` so that every core
starts on a scorer's own grid (8 for DMS2F's blocks). Each core is read with a ``halo`` (clipped
to the raster): the context a scorer needs to score the core's pixels exactly as it would in a
whole-image run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from .window import Window


@dataclasses.dataclass(frozen=True)
class Tile:
    """One I/O tile: ``core`` is scored and written, ``read`` = core + halo is read."""

    index: int
    core: Window
    read: Window


class TileGrid:
    """The global tile grid of a ``width`` x ``height`` raster (see the module docstring)."""

    def __init__(self, width: int, height: int, tile_size: int, *, halo: int = 0,
                 align: int = 1) -> None:
        """Lay the grid over a raster.

        Args:
            width: raster columns.
            height: raster rows.
            tile_size: requested core edge; rounded up to a multiple of ``align``.
            halo: context pixels read on each side of a core.
            align: alignment of core origins.

        Raises:
            ValueError: non-positive ``tile_size``/``align`` or negative ``halo``.
        """
        if tile_size < 1 or align < 1 or halo < 0:
            raise ValueError(f"need tile_size >= 1, align >= 1, halo >= 0; got {tile_size}, "
                             f"{align}, {halo}")
        self.width, self.height, self.halo, self.align = width, height, halo, align
        self.tile_size = -(-tile_size // align) * align

    def __iter__(self) -> Iterator[Tile]:
        index = 0
        for row in range(0, self.height, self.tile_size):
            for col in range(0, self.width, self.tile_size):
                core = Window(col, row, min(self.tile_size, self.width - col),
                              min(self.tile_size, self.height - row))
                yield Tile(index, core, core.expand(self.halo, self.width, self.height))
                index += 1

    def __len__(self) -> int:
        return -(-self.width // self.tile_size) * -(-self.height // self.tile_size)


def iter_windows(width: int, height: int, size: int) -> Iterator[Window]:
    """Plain non-overlapping windows of ``size`` x ``size`` covering a raster, row-major."""
    for tile in TileGrid(width, height, size):
        yield tile.core
