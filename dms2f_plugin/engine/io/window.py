"""Immutable pixel windows (``col_off, row_off, width, height``), as in GDAL's RasterIO."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Window:
    """A rectangle of pixels; offsets are 0-based, the end is exclusive.

    Attributes:
        col_off: first column.
        row_off: first row.
        width: number of columns.
        height: number of rows.
    """

    col_off: int
    row_off: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width < 0 or self.height < 0:
            raise ValueError(f"window size must be >= 0, got {self.width} x {self.height}")

    @property
    def col_end(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def row_end(self) -> int:
        """One past the last row."""
        return self.row_off + self.height

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the numpy shape of one band of the window."""
        return self.height, self.width

    def expand(self, margin: int, width: int, height: int) -> Window:
        """Grow by ``margin`` pixels on every side, clipped to a ``width`` x ``height`` raster."""
        col0 = max(0, self.col_off - margin)
        row0 = max(0, self.row_off - margin)
        col1 = min(width, self.col_end + margin)
        row1 = min(height, self.row_end + margin)
        return Window(col0, row0, col1 - col0, row1 - row0)

    def slices_in(self, outer: Window) -> tuple[slice, slice]:
        """Row and column slices selecting this window inside an array that covers ``outer``.

        Raises:
            ValueError: when this window is not inside ``outer``.
        """
        if (self.col_off < outer.col_off or self.row_off < outer.row_off
                or self.col_end > outer.col_end or self.row_end > outer.row_end):
            raise ValueError(f"{self} is not inside {outer}")
        r0 = self.row_off - outer.row_off
        c0 = self.col_off - outer.col_off
        return slice(r0, r0 + self.height), slice(c0, c0 + self.width)
