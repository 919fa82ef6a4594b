"""Background correction: each score minus a robust estimate of the background around it.

What scores high over a broad area is background the network or the calibration got wrong there
(a bright strip along a sensor edge, a field of an unusual material, a band of haze), not a
target. Two estimates of that background, both medians of the pixel's neighbours:

- **lines** (the automatic default): the largest of the medians along four straight lines of
  ``length`` pixels through the pixel (row, column, both diagonals). A structure at least
  ``length / 2`` long in one of those directions (a strip, a road, a field) is its own median
  and is removed; a compact target up to about ``length / 2`` pixels across in every direction
  is not, whatever its area. No target size has to be known.
- **square** (``window``): the median of the ``window x window`` neighbourhood. It also removes
  targets whose area passes about half the window (about ``window^2 / 2`` pixels): for analysts
  who know their targets are small, it removes more of a textured background.

Tiling: the wrapped scorer scores the core grown by a margin of at least the footprint's radius,
the median is taken there (mirrored at the raster's edges, where the grown window is clipped)
and the core is cut out, so the result equals a whole-image run whatever the tile size. Writing a
raster, :func:`.tiled.score_raster` does not score the margins twice: it writes the inner scores
of every tile to a temporary raster first and corrects in a second pass over it. What the
correction did (how much of the scene it lowered a lot) is summed over the tiles and logged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..bounds import check_local_window
from .line_medians import line_medians
from .median_filters import footprint_median, lines, square

if TYPE_CHECKING:
    from ..io.window import Window
    from .tiled import TileScorer

LOGGER = logging.getLogger(__name__)

#: The correction used when none is asked for: None, the line medians. Chosen with the rule fixed
#: in ``benchmarks/select_defaults.py`` (implant benchmark first, then leave-one-scene-out).
DEFAULT_LOCAL_WINDOW: int | None = None
#: Length of the line medians of the automatic correction (pixels, odd): a structure covering more
#: than about half of any one of the four lines through a pixel is taken for background there.
LINE_LENGTH = 45
#: A correction lowers a score "a lot" when by more than this, in the score's robust units.
LARGE_CORRECTION = 3.0


@dataclasses.dataclass(frozen=True)
class Background:
    """A background estimate: the footprints whose medians are combined (by their maximum).

    Attributes:
        name: how the log and the score's metadata name it.
        footprints: bool ``(k, k)`` footprints, k odd.
        fast: an equal computation of the same background (None where it is unavailable and
            :meth:`reference` runs); None: the reference only.
    """

    name: str
    footprints: tuple[np.ndarray, ...]
    fast: Callable[[np.ndarray], np.ndarray | None] | None = None

    @property
    def radius(self) -> int:
        """Pixels of context needed on each side."""
        return max(fp.shape[0] for fp in self.footprints) // 2

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """The background of every pixel of ``scores`` ``(h, w)`` (NaN where it is NaN)."""
        found = self.fast(scores) if self.fast is not None else None
        return self.reference(scores) if found is None else found

    def reference(self, scores: np.ndarray) -> np.ndarray:
        """The plain computation: the largest of the footprints' medians (float64 ``(h, w)``)."""
        return np.maximum.reduce([footprint_median(scores, fp) for fp in self.footprints])


def line_background(length: int = LINE_LENGTH) -> Background:
    """The automatic correction: the largest of four line medians of ``length`` pixels."""
    return Background(f"line medians of {length} pixels in 4 directions", lines(length),
                      fast=functools.partial(line_medians, length=length))


def square_background(window: int) -> Background:
    """The median of the ``window x window`` neighbourhood."""
    return Background(f"median of {window} x {window} pixels", (square(window),))


def background_for(window: int | None, height: int = 0, width: int = 0) -> Background | None:
    """The correction a ``local_window`` value asks for: None automatic, 0 none, N a square.

    Args:
        window: the user's value.
        height: raster rows (0: unknown); a square may not exceed the raster's smaller side.
        width: raster columns.

    Raises:
        InputError: an invalid window, or one larger than the raster (:mod:`..bounds`).
    """
    value = check_local_window(window, width or None, height or None, default=DEFAULT_LOCAL_WINDOW)
    if value is None:
        return line_background()
    if value == 0:
        return None
    return square_background(value)


def local_median(scores: np.ndarray, window: int) -> np.ndarray:
    """Median of the valid scores in the ``window x window`` neighbourhood of every pixel.

    Args:
        scores: ``(h, w)`` scores, NaN where invalid.
        window: odd neighbourhood edge.

    Returns:
        float64 ``(h, w)``, NaN where ``scores`` is NaN (mirrored at the array's edges).
    """
    return footprint_median(scores, square(window))


class LocalBackgroundScorer:
    """A ``TileScorer`` that subtracts a :class:`Background` from another scorer's scores.

    Attributes:
        halo: the inner scorer's halo plus the margin.
        align: the inner scorer's alignment.
        background: the estimate subtracted.
    """

    def __init__(self, inner: TileScorer, background: Background, raster_height: int,
                 raster_width: int) -> None:
        """Wrap ``inner``.

        Args:
            inner: the scorer whose scores are corrected.
            background: what to subtract.
            raster_height: rows of the whole raster.
            raster_width: columns of the whole raster.
        """
        self.inner = inner
        self.background = background
        self.height = raster_height
        self.width = raster_width
        # The margin is a multiple of the inner alignment, so grown cores stay on its grid.
        self.margin = -(-background.radius // inner.align) * inner.align
        self.halo = inner.halo + self.margin
        self.align = inner.align
        self._valid = self._lowered = 0

    def __call__(self, cube: np.ndarray, valid: np.ndarray, read_window: Window,
                 core: Window) -> np.ndarray:
        """Score ``core``: inner scores minus their background (float32, NaN where invalid)."""
        grown = self.grown(core)
        scores = self.inner(cube, valid, read_window, grown).astype(np.float64)  # (gh, gw)
        scores[~valid[grown.slices_in(read_window)]] = np.nan  # kept out of the medians
        return self.correct(scores, grown, core)

    def grown(self, core: Window) -> Window:
        """The window whose inner scores the correction of ``core`` needs (clipped to the raster)."""
        return core.expand(self.margin, self.width, self.height)

    def correct(self, scores: np.ndarray, grown: Window, core: Window) -> np.ndarray:
        """The corrected scores of ``core`` from the inner scores of :meth:`grown`.

        Args:
            scores: float64 inner scores ``(gh, gw)`` of ``grown``, NaN where invalid.
            grown: ``self.grown(core)``.
            core: the pixels to correct.

        Returns:
            float32 ``(h, w)``, NaN where invalid; the share lowered a lot is counted.
        """
        background = self.background(scores)  # (gh, gw)
        rows, cols = core.slices_in(grown)
        core_background = background[rows, cols]  # (h, w)
        finite = np.isfinite(core_background)
        self._valid += int(finite.sum())
        self._lowered += int((core_background[finite] > LARGE_CORRECTION).sum())
        return (scores[rows, cols] - core_background).astype(np.float32)

    def summary(self) -> str:
        """One line for the log: the correction and the share of the scene it lowered a lot."""
        share = self._lowered / self._valid if self._valid else 0.0
        return (f"Background correction ({self.background.name}) lowered {share:.1%} of the "
                f"scored pixels by more than {LARGE_CORRECTION:g} background spreads")


def with_local_background(scorer: TileScorer, window: int | None, raster_height: int,
                          raster_width: int) -> TileScorer:
    """``scorer`` with the correction ``window`` asks for (see :func:`background_for`).

    Raises:
        InputError: an invalid window.
    """
    background = background_for(window, raster_height, raster_width)
    if background is None:
        LOGGER.info("No background correction (local window 0): the score is the network's "
                    "alone, not fused with global RX")
        return scorer
    if window is not None:  # the analyst's square: no fusion (it goes with the automatic one)
        LOGGER.info("Local window %d: the score is corrected by the median of %d x %d pixels "
                    "and not fused with global RX (only the automatic correction is)",
                    window, window, window)
    return LocalBackgroundScorer(scorer, background, raster_height, raster_width)
