"""A raster source held in memory: the engine's fitting and scoring on a numpy cube, without GDAL.

:class:`ArraySource` offers what the detectors read from a :class:`~.raster.RasterSource` (size,
band selection, windows of valid spectra, cached statistics), for cubes that are already in
memory: benchmark scenes, synthetic implants, and machines without GDAL (the GPU check).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..progress import Progress
from .statistics import SceneStatistics, refreshed_statistics
from .window import Window


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """The part of :class:`~.rasterinfo.RasterInfo` the detectors use."""

    band_count: int
    nodata: tuple[float | None, ...]
    ignore_value: float | None = None


class ArraySource:
    """A cube in memory with the reading interface of :class:`~.raster.RasterSource`.

    Attributes:
        path: a name for messages.
        info: band count and (absent) nodata values.
        band_indices: 1-based bands, all of them.
    """

    def __init__(self, cube: np.ndarray, *, valid: np.ndarray | None = None,
                 name: str = "<array>", wavelengths_nm: tuple[float, ...] | None = None) -> None:
        """Wrap ``cube``.

        Args:
            cube: ``(bands, height, width)``; converted to float32.
            valid: ``(height, width)`` validity; default: every pixel whose bands are all finite.
            name: shown in messages.
            wavelengths_nm: band centres, when known.
        """
        self._cube = np.asarray(cube, dtype=np.float32)  # (C, H, W)
        finite = np.isfinite(self._cube).all(axis=0)  # (H, W)
        self._valid = finite if valid is None else np.asarray(valid, dtype=bool) & finite
        self.path = name
        bands = self._cube.shape[0]
        self.info = ArrayInfo(band_count=bands, nodata=(None,) * bands)
        self.band_indices = tuple(range(1, bands + 1))
        self.wavelengths_nm = wavelengths_nm
        self._stats: SceneStatistics | None = None

    @property
    def width(self) -> int:
        """Columns."""
        return int(self._cube.shape[2])

    @property
    def height(self) -> int:
        """Rows."""
        return int(self._cube.shape[1])

    @property
    def band_count(self) -> int:
        """Bands."""
        return int(self._cube.shape[0])

    @property
    def full_window(self) -> Window:
        """The whole cube."""
        return Window(0, 0, self.width, self.height)

    def read_window(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """``(cube (bands, h, w) float32 with 0.0 at invalid pixels, valid (h, w))`` of ``window``."""
        rows, cols = window.slices_in(self.full_window)
        valid = self._valid[rows, cols].copy()  # (h, w)
        cube = self._cube[:, rows, cols].copy()  # (C, h, w)
        cube[:, ~valid] = 0.0
        return cube, valid

    def statistics(self, *, covariance: bool = False, progress: Progress | None = None,
                   tile_size: int = 512,
                   visit: Callable[[np.ndarray, np.ndarray, Window], None] | None = None,
                   margin: int = 0) -> SceneStatistics:
        """Streaming statistics of the valid pixels, cached (as :meth:`.RasterSource.statistics`)."""
        self._stats = refreshed_statistics(self, self._stats,  # type: ignore[arg-type]
                                           covariance=covariance, progress=progress,
                                           tile_size=tile_size, visit=visit, margin=margin)
        return self._stats

    def close(self) -> None:
        """Nothing to release (the context-manager protocol of a raster source)."""

    def __enter__(self) -> ArraySource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
