"""The tiled scoring driver: a :class:`TileScorer` applied tile by tile on the global tile grid.

Tiles come from :class:`~..io.tiles.TileGrid`; each core is read with the scorer's ``halo`` and
on its ``align`` grid. A scorer whose score at a pixel depends
only on pixels within ``halo`` of it (and on global statistics computed beforehand) therefore
gives the same map for every tile size; the tests check this for RX, local RX and the block grid.

A scorer with a background correction (:class:`~.local_background.LocalBackgroundScorer`) is
written in two passes: the inner scores of every tile into a temporary raster beside the output,
then the correction tile by tile over that single band, so no pixel is scored twice for the
correction's margins (with 512-pixel tiles and a 32-pixel margin, a fifth of the work).
A fusion with global RX (:class:`~.rx_fusion.RxFusedScorer`) scores both maps from one read of
each tile into temporary rasters, corrects the network's, takes each map's robust scale, then
fuses them tile by tile into the output.

Memory is bounded by two read windows (the tile being scored and the next one, read meanwhile),
``bands x (tile_size + 2 halo)^2`` float32 each, plus what the scorer allocates for one; never
by the scene size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import OutputError
from ..io.raster import open_raster
from ..io.raster_writer import score_writer
from ..io.tiles import Tile, TileGrid
from ..io.window import Window
from ..io.writer import Outputs
from ..progress import NullProgress, Progress, SubProgress, check_cancel
from .local_background import LocalBackgroundScorer
from .rx_fusion import (
    PairedScorer,
    RobustScale,
    RxFusedScorer,
    fuse,
    fuse_arrays,
    fusion_terms,
    log_fusion,
    rx_share,
    sample_step,
    sampled,
)

if TYPE_CHECKING:
    from ..io.raster import RasterSource

__all__ = ["ScoreSummary", "TileExecutor", "TileScorer", "score_array", "score_raster",
           "score_tile"]

LOGGER = logging.getLogger(__name__)


class TileScorer(Protocol):
    """Scores the core of one tile from the tile's read window (core + halo).

    Attributes:
        halo: pixels of context needed on each side of a core.
        align: core origins must be multiples of this (1 = any).
    """

    halo: int
    align: int

    def __call__(self, cube: np.ndarray, valid: np.ndarray, read_window: Window,
                 core_window: Window, /) -> np.ndarray:
        """Return the scores of ``core_window``.

        Args:
            cube: float32 ``(bands, h, w)`` of ``read_window``, 0.0 at invalid pixels.
            valid: bool ``(h, w)``.
            read_window: where ``cube`` lies in the raster.
            core_window: the pixels to score, inside ``read_window``.

        Returns:
            float32 ``(core_h, core_w)``; values at invalid pixels are ignored (written as
            nodata by the driver).
        """
        ...


@dataclasses.dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_raster` did."""

    path: Path | None
    tiles: int
    tile_size: int
    valid_pixels: int
    seconds: float


def _grid(source: RasterSource, scorer: TileScorer, tile_size: int) -> TileGrid:
    """The tile grid ``scorer`` needs over ``source``."""
    return TileGrid(source.width, source.height, tile_size, halo=scorer.halo, align=scorer.align)


class TileExecutor(Protocol):
    """Scores the tiles of a grid elsewhere (other processes, other machines).

    The plain reference is the serial loop of :func:`score_raster`; an executor must give every
    tile exactly the score :func:`score_tile` gives it in this process, in any order.
    """

    def scored_tiles(self, source: RasterSource, scorer: TileScorer, grid: TileGrid,
                     progress: Progress) -> Iterator[tuple[Tile, np.ndarray, int]]:
        """Yield ``(tile, score, valid count)`` for every tile of ``grid`` as each finishes.

        Progress goes to ``progress``; a cancel raises :class:`~..errors.CancelledError`.
        """
        ...


def score_tile(source: RasterSource, scorer: TileScorer, tile: Tile) -> tuple[np.ndarray, int]:
    """Score one tile: ``(core score, NaN at invalid pixels; number of valid core pixels)``.

    The score is ``(h, w)``, or ``(k, h, w)`` for a scorer of several maps at once.
    """
    cube, valid = source.read_window(tile.read)  # (bands, rh, rw), (rh, rw)
    return _score_read(scorer, tile, cube, valid)


def _score_read(scorer: TileScorer, tile: Tile, cube: np.ndarray,
                valid: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`score_tile` on the tile's read window, already read."""
    score = np.asarray(scorer(cube, valid, tile.read, tile.core), dtype=np.float32)
    if score.shape[-2:] != tile.core.shape or score.ndim not in (2, 3):  # (h, w) or (k, h, w)
        raise ValueError(f"scorer returned {score.shape} for core {tile.core}")
    core_valid = valid[tile.core.slices_in(tile.read)]  # (h, w)
    score = np.where(core_valid, score, np.float32(np.nan))  # (h, w)
    return score, int(core_valid.sum())


def _scored_tiles(source: RasterSource, scorer: TileScorer, grid: TileGrid,
                  progress: Progress) -> Iterator[tuple[Tile, np.ndarray, int]]:
    """Yield ``(tile, core score with NaN at invalid pixels, valid count)`` for each tile.

    The next tile is read on a second thread while this one is scored (GDAL decodes a window
    on one core; the scorer keeps the others busy). Reads stay one at a time and in order, so
    the dataset is never used by two threads at once, and a read error surfaces at its tile.
    """
    tiles = list(grid)
    total = len(tiles)
    if not tiles:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dms2f-read") as reader:
        ahead = reader.submit(source.read_window, tiles[0].read)
        for number, tile in enumerate(tiles, start=1):
            check_cancel(progress)
            cube, valid = ahead.result()  # (bands, rh, rw), (rh, rw)
            if number < total:
                ahead = reader.submit(source.read_window, tiles[number].read)
            score, n_valid = _score_read(scorer, tile, cube, valid)
            del cube, valid
            yield tile, score, n_valid
            progress.set_progress(100.0 * number / total)


def score_raster(source: RasterSource, output_path: str | Path,
                 scorer: TileScorer | RxFusedScorer, *,
                 tile_size: int = 512, progress: Progress | None = None,
                 metadata: dict[str, str] | None = None,
                 outputs: Outputs | None = None,
                 executor: TileExecutor | None = None) -> ScoreSummary:
    """Score a raster tile by tile into a float32 GeoTIFF on the same grid.

    Args:
        source: the raster to score (its band selection is what the scorer sees).
        output_path: the score GeoTIFF (validated beforehand by the caller); written under a
            temporary name and moved into place only when complete.
        scorer: a :class:`TileScorer`.
        tile_size: core edge in pixels (rounded up to a multiple of ``scorer.align``).
        progress: progress per tile; a cancel is honoured before each tile.
        metadata: dataset metadata written into the output.
        outputs: the run's transaction when the score is published together with other
            outputs (a model file); None publishes it as soon as it is complete.
        executor: scores the tiles elsewhere (e.g. Dask workers); this process still writes
            them. None scores them here, one after the other (the reference path).

    Returns:
        A :class:`ScoreSummary`.

    Raises:
        CancelledError: cancelled; no output file is left, an older file is untouched.
        RasterReadError, OutputError: reading or writing failed (same guarantee).
    """
    progress = progress or NullProgress()
    if isinstance(scorer, RxFusedScorer):
        return _score_then_fuse(source, Path(output_path), scorer, tile_size=tile_size,
                                progress=progress, metadata=metadata, outputs=outputs,
                                executor=executor)
    if isinstance(scorer, LocalBackgroundScorer):
        return _score_then_correct(source, Path(output_path), scorer, tile_size=tile_size,
                                   progress=progress, metadata=metadata, outputs=outputs,
                                   executor=executor)
    return _scores_to(source, scorer, (Path(output_path),), tile_size=tile_size,
                      progress=progress, executor=executor, metadata=metadata, outputs=outputs)


def _score_then_correct(source: RasterSource, output_path: Path, scorer: LocalBackgroundScorer, *,
                        tile_size: int, progress: Progress, metadata: dict[str, str] | None,
                        outputs: Outputs | None, executor: TileExecutor | None) -> ScoreSummary:
    """:func:`score_raster` for a corrected scorer: inner scores first, then the correction.

    The inner scores go to a temporary raster in a temporary folder beside the output (removed
    whatever happens); the second pass reads them with the correction's margin and writes the
    output. Progress: 0-90 % the first pass, the rest the second.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".dms2f-scores-", dir=output_path.parent) as scratch:
        inner_path = Path(scratch) / "inner.tif"
        quiet = Outputs(announce=False)  # an intermediate: the log names the user's files
        with _named_for_user(output_path, {inner_path: _BEFORE_CORRECTION}), quiet:
            first = _scores_to(source, scorer.inner, (inner_path,), tile_size=tile_size,
                               progress=SubProgress(progress, 0, 90), executor=executor,
                               outputs=quiet)
        _correct(source, inner_path, output_path, scorer, tile_size=first.tile_size,
                 progress=progress, sub=SubProgress(progress, 90, 100), metadata=metadata,
                 outputs=outputs)
    return dataclasses.replace(first, path=output_path, seconds=time.perf_counter() - start)


_BEFORE_CORRECTION = "its scores before the background correction"


def _correct(source: RasterSource, inner_path: Path, output_path: Path,
             scorer: LocalBackgroundScorer, *, tile_size: int, progress: Progress,
             sub: Progress, metadata: dict[str, str] | None, outputs: Outputs | None) -> None:
    """The correction pass: ``scorer``'s correction of the inner scores at ``inner_path``.

    Cancel is checked on ``progress`` before each tile; ``sub`` gets the pass's progress.
    """
    grid = TileGrid(source.width, source.height, tile_size, halo=scorer.margin,
                    align=scorer.align)
    with open_raster(inner_path, announce=False) as inner, \
            score_writer(output_path, source.info, metadata=metadata, outputs=outputs) as writer:
        for tile in grid:
            check_cancel(progress)
            scores = _map_scores(inner, tile.read)  # (gh, gw)
            writer.write(tile.core, scorer.correct(scores, tile.read, tile.core))
            sub.set_progress(100.0 * (tile.index + 1) / len(grid))
        LOGGER.info("%s", scorer.summary())  # before the writer publishes (and says so)


def _scores_to(source: RasterSource, scorer: TileScorer, paths: tuple[Path, ...], *,
               tile_size: int, progress: Progress, executor: TileExecutor | None,
               metadata: dict[str, str] | None = None,
               outputs: Outputs | None = None) -> ScoreSummary:
    """Score every tile once into rasters: band ``k`` of the tiles' scores into ``paths[k]``.

    ``scorer`` returns ``(len(paths), h, w)`` per tile, or ``(h, w)`` for one path. Each file
    is written under a temporary name and published with ``outputs`` (None: when complete).
    """
    start = time.perf_counter()
    valid_total, tiles = 0, 0
    grid = _grid(source, scorer, tile_size)
    scored = _scored_tiles if executor is None else executor.scored_tiles
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(score_writer(path, source.info, metadata=metadata,
                                                    outputs=outputs)) for path in paths]
        for tile, score, n_valid in scored(source, scorer, grid, progress):
            for writer, band in zip(writers, score.reshape(len(paths), *tile.core.shape)):
                writer.write(tile.core, band)
            valid_total += n_valid
            tiles += 1
    seconds = time.perf_counter() - start
    LOGGER.info("Scored %d tile(s) of '%s' in %.1f s", tiles, source.path, seconds)
    return ScoreSummary(path=paths[0], tiles=tiles, tile_size=grid.tile_size,
                        valid_pixels=valid_total, seconds=seconds)


@contextlib.contextmanager
def _named_for_user(output_path: Path, what: dict[Path, str]) -> Iterator[None]:
    """A write error in a temporary raster names the user's file and what the raster held."""
    try:
        yield
    except OutputError as failure:
        message = str(failure)
        for path, held in what.items():
            message = message.replace(f"'{path}'", f"'{output_path}' ({held})")
        if output_path.exists():
            message = message.replace("no file was written", "the previous file was kept")
        raise OutputError(message) from None


def _score_then_fuse(source: RasterSource, output_path: Path, scorer: RxFusedScorer, *,
                     tile_size: int, progress: Progress, metadata: dict[str, str] | None,
                     outputs: Outputs | None, executor: TileExecutor | None) -> ScoreSummary:
    """:func:`score_raster` for a fusion with RX: both maps first, then their robust fusion.

    One read of the raster scores both: RX scores the core of the window the network read
    (:class:`~.rx_fusion.PairedScorer`). The network's background correction follows in a pass
    over its scores, then the scales and the fused map in a last one. Progress: 0-90 % the
    tiles, 90-95 % the correction, the rest the fusion.
    """
    start = time.perf_counter()
    network = scorer.network
    correction = network if isinstance(network, LocalBackgroundScorer) else None
    paired = PairedScorer(correction.inner if correction is not None else network, scorer.rx)
    with tempfile.TemporaryDirectory(prefix=".dms2f-fusion-", dir=output_path.parent) as scratch:
        raw, rx_path = Path(scratch) / "network-raw.tif", Path(scratch) / "rx.tif"
        network_path = Path(scratch) / "network.tif" if correction is not None else raw
        held = {raw: "its DMS2F-HAD scores before the background correction",
                rx_path: "its global RX scores before the fusion",
                network_path: "its DMS2F-HAD scores before the fusion with RX"}  # raw when equal
        with _named_for_user(output_path, held):
            quiet = Outputs(announce=False)  # intermediates: the log names the user's files
            with quiet:
                first = _scores_to(source, paired, (raw, rx_path), tile_size=tile_size,
                                   progress=SubProgress(progress, 0, 90), executor=executor,
                                   outputs=quiet)
            if correction is not None:
                quiet = Outputs(announce=False)
                with quiet:
                    _correct(source, raw, network_path, correction, tile_size=first.tile_size,
                             progress=progress, sub=SubProgress(progress, 90, 95),
                             metadata=None, outputs=quiet)
        grid = TileGrid(source.width, source.height, first.tile_size, halo=0, align=1)
        step = sample_step(source.width, source.height)
        with open_raster(network_path, announce=False) as network_map, \
                open_raster(rx_path, announce=False) as rx_map:
            maps = (network_map, rx_map)
            samples: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
            for tile in grid:  # the scales need every tile before the first fused one
                check_cancel(progress)
                for kept, scores in zip(samples, fusion_terms(*_tile_scores(maps, tile.core))):
                    kept.append(sampled(scores, tile.core.row_off, tile.core.col_off, step))
            network_scale, rx_scale = (RobustScale.of(np.concatenate(kept)) for kept in samples)
            rest, larger, valid = SubProgress(progress, 95, 100), 0, 0
            with score_writer(output_path, source.info, metadata=metadata,
                              outputs=outputs) as writer:
                for tile in grid:
                    check_cancel(progress)
                    a, b = fusion_terms(*_tile_scores(maps, tile.core))
                    writer.write(tile.core, fuse(a, b, network_scale, rx_scale))
                    counts = rx_share(a, b, network_scale, rx_scale)
                    larger, valid = larger + counts[0], valid + counts[1]
                    rest.set_progress(100.0 * (tile.index + 1) / len(grid))
                log_fusion(network_scale, rx_scale, (larger, valid))  # before "Wrote ..."
    return dataclasses.replace(first, path=output_path, seconds=time.perf_counter() - start)


def _tile_scores(maps: tuple[RasterSource, RasterSource], core: Window) -> list[np.ndarray]:
    """Each single-band map's scores over ``core``, float64 ``(h, w)``, NaN where invalid."""
    return [_map_scores(source, core) for source in maps]


def _map_scores(source: RasterSource, window: Window) -> np.ndarray:
    """A single-band score map's values over ``window``, float64 ``(h, w)``, NaN where invalid."""
    values, valid = source.read_window(window)  # (1, h, w), (h, w)
    return np.where(valid, values[0], np.nan).astype(np.float64)


def score_array(source: RasterSource, scorer: TileScorer | RxFusedScorer, *, tile_size: int = 512,
                progress: Progress | None = None) -> np.ndarray:
    """Like :func:`score_raster` but returns the whole score map ``(height, width)`` float32.

    Meant for small scenes (benchmarks, tests); NaN where the input is invalid.
    """
    progress = progress or NullProgress()
    if isinstance(scorer, RxFusedScorer):  # the in-memory reference of the tiled fusion
        network = score_array(source, scorer.network, tile_size=tile_size,
                              progress=SubProgress(progress, 0, 90))
        rx = score_array(source, scorer.rx, tile_size=tile_size,
                         progress=SubProgress(progress, 90, 100))
        return fuse_arrays(network, rx)
    out = np.full((source.height, source.width), np.nan, dtype=np.float32)  # (H, W)
    for tile, score, _ in _scored_tiles(source, scorer, _grid(source, scorer, tile_size),
                                        progress):
        out[tile.core.slices_in(source.full_window)] = score
    return out
