"""The global grid: tiled scores equal whole-image scores (RX, LRX, 16x16/8 blocks), edges too."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import Recorder, synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine.detectors.blocks import (
    BlockAccumulator,
    accumulate_blocks,
    extract_blocks,
    grid_block_origins,
)
from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer, LocalRxScorer
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_array
from dms2f_had.dms2f_plugin.engine.io.raster import Window, open_raster
from dms2f_had.dms2f_plugin.engine.io.tiles import TileGrid


class BlockScorer:
    """A stand-in for DMS2F: 'reconstruct' each block by a nonlinear function of the whole
    block, overlap-average, score the residual norm. Depends on every pixel of every block."""

    halo = 16
    align = 8

    def __init__(self, height, width):
        self.height, self.width = height, width

    def __call__(self, cube, valid, read_window, core):
        origins = grid_block_origins(core, self.height, self.width)
        blocks = extract_blocks(cube, origins, read_window)  # (n, C, 16, 16)
        recon = np.tanh(blocks / 1000.0) * blocks.mean(axis=(2, 3), keepdims=True)
        acc = BlockAccumulator(core, cube.shape[0])
        for start in range(0, len(origins), 7):  # batches, as the real scorer feeds them
            acc.add(recon[start:start + 7], origins[start:start + 7])
        rows, cols = core.slices_in(read_window)
        residual = acc.result() - cube[:, rows, cols]
        return np.sqrt((residual ** 2).sum(axis=0))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """45 x 37 pixels (not multiples of 8 or 16), a few nodata pixels."""
    cube, _ = synthetic_scene(bands=7, height=37, width=45, seed=3)
    cube[:, 0, 44] = -1.0
    cube[:, 20, 9] = -1.0
    path = tmp_path_factory.mktemp("tiling") / "scene.tif"
    return write_geotiff(path, cube, nodata=-1.0)


def test_grid_rounds_tile_size_to_alignment_and_clips_halo():
    grid = TileGrid(45, 37, 10, halo=16, align=8)
    tiles = list(grid)
    assert grid.tile_size == 16 and len(tiles) == len(grid) == 9
    assert all(t.core.col_off % 8 == 0 and t.core.row_off % 8 == 0 for t in tiles)
    last = tiles[-1]
    assert last.core == Window(32, 32, 13, 5)
    assert last.read == Window(16, 16, 29, 21)


def test_block_origins_cover_an_odd_sized_raster():
    origins = grid_block_origins(Window(0, 0, 45, 37), 37, 45)
    rows, cols = np.unique(origins[:, 0]), np.unique(origins[:, 1])
    assert list(rows) == [0, 8, 16, 24] and list(cols) == [0, 8, 16, 24, 32]
    assert (origins % 8 == 0).all()
    small = grid_block_origins(Window(0, 0, 10, 9), 9, 10)  # smaller than one block
    assert small.tolist() == [[0, 0]]


def test_side_by_side_blocks_cover_each_pixel_once():
    origins = grid_block_origins(Window(0, 0, 45, 37), 37, 45, stride=16)
    assert sorted(set(origins[:, 0])) == [0, 16, 32] and sorted(set(origins[:, 1])) == [0, 16, 32]
    cover = np.zeros((37 + 16, 45 + 16), dtype=int)
    for r, c in origins:
        cover[r:r + 16, c:c + 16] += 1
    assert (cover[:37, :45] == 1).all()
    core = Window(16, 16, 16, 16)  # a tile core on the stride: only its own block touches it
    assert grid_block_origins(core, 37, 45, stride=16).tolist() == [[16, 16]]
    with pytest.raises(ValueError, match="must divide"):
        grid_block_origins(core, 37, 45, stride=12)


def test_extract_pads_zeros_past_the_edge_and_accumulate_averages():
    cube = np.arange(2 * 20 * 21, dtype=np.float32).reshape(2, 20, 21) + 1
    window = Window(0, 0, 21, 20)
    origins = grid_block_origins(window, 20, 21)
    blocks = extract_blocks(cube, origins, window)
    assert blocks.shape == (len(origins), 2, 16, 16)
    last = blocks[-1]  # origin (8, 8): rows 8..23, cols 8..23, zero past row 20 / col 21
    np.testing.assert_array_equal(last[:, :12, :13], cube[:, 8:20, 8:21])
    assert (last[:, 12:, :] == 0).all() and (last[:, :, 13:] == 0).all()
    np.testing.assert_allclose(accumulate_blocks(blocks, origins, window), cube)


def _overlap_mean_reference(values, origins, core):
    """The plain per-block, per-pixel overlap average the accumulator's strips must equal."""
    total = np.zeros((values.shape[1], core.height, core.width))
    count = np.zeros(core.shape)
    for block, (r, c) in zip(values, origins):
        for i in range(16):
            for j in range(16):
                y, x = r + i - core.row_off, c + j - core.col_off
                if 0 <= y < core.height and 0 <= x < core.width:
                    total[:, y, x] += block[:, i, j]
                    count[y, x] += 1
    return total / count


@pytest.mark.parametrize("stride", [8, 16])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_accumulator_strips_equal_the_per_pixel_reference(stride, batch):
    core = Window(8 if stride == 8 else 16, 16, 29, 21)  # cut by the blocks on every side
    origins = grid_block_origins(core, 60, 70, stride)
    values = np.random.default_rng(stride + batch).normal(size=(len(origins), 3, 16, 16))
    values = values.astype(np.float32)
    acc = BlockAccumulator(core, 3)
    for start in range(0, len(origins), batch):  # batches split the grid rows anywhere
        acc.add(values[start:start + batch], origins[start:start + batch])
    np.testing.assert_allclose(acc.result(), _overlap_mean_reference(values, origins, core),
                               rtol=1e-5, atol=1e-6)


def test_block_scorer_tiled_equals_whole(scene):
    with open_raster(scene) as src:
        scorer = BlockScorer(src.height, src.width)
        whole = score_array(src, scorer, tile_size=1024)
        for size in (8, 16, 24):
            np.testing.assert_allclose(score_array(src, scorer, tile_size=size), whole,
                                       rtol=1e-6, atol=1e-6, equal_nan=True)
    assert np.isnan(whole[20, 9]) and np.isfinite(whole).sum() == 37 * 45 - 2


@pytest.mark.parametrize("make", [
    lambda st: GlobalRxScorer.from_statistics(st),
    lambda st: LocalRxScorer(st, inner_window=3, outer_window=9, components=5),
    lambda st: LocalRxScorer(st),
], ids=["rx", "lrx-3-9", "lrx-5-21"])
def test_rx_tiled_equals_whole(scene, make):
    with open_raster(scene) as src:
        scorer = make(src.statistics(covariance=True))
        whole = score_array(src, scorer, tile_size=4096)
        for size in (5, 16, 23):
            np.testing.assert_allclose(score_array(src, scorer, tile_size=size), whole,
                                       rtol=1e-5, atol=1e-6, equal_nan=True)


def test_progress_once_per_tile_and_monotonic(scene):
    progress = Recorder()
    with open_raster(scene) as src:
        score_array(src, GlobalRxScorer.from_statistics(src.statistics(covariance=True)),
                    tile_size=16, progress=progress)
    assert len(progress.values) == 9 and progress.values == sorted(progress.values)
    assert progress.values[-1] == pytest.approx(100.0)


class _WatchedReads:
    """Wraps a source's ``read_window``: records each read's thread and whether two overlapped."""

    def __init__(self, source):
        import threading

        self.read = source.read_window
        self.busy, self.overlapped, self.order, self.threads = threading.Lock(), False, [], set()
        source.read_window = self

    def __call__(self, window):
        import threading
        import time

        if not self.busy.acquire(blocking=False):
            self.overlapped = True
            self.busy.acquire()
        try:
            self.threads.add(threading.current_thread().name)
            self.order.append((window.row_off, window.col_off))
            time.sleep(0.01)  # a slow disk: the scorer runs meanwhile
            return self.read(window)
        finally:
            self.busy.release()


def test_the_next_tile_is_read_during_scoring_one_read_at_a_time_in_order(scene):
    import threading

    scored = []

    class Counting:
        halo, align = 0, 1

        def __call__(self, cube, valid, read_window, core):
            scored.append(core)
            return cube[0]

    with open_raster(scene) as src:
        whole = score_array(src, Counting(), tile_size=4096)
        scored.clear()
        watched = _WatchedReads(src)
        tiled = score_array(src, Counting(), tile_size=16)
    np.testing.assert_array_equal(tiled, whole)
    assert not watched.overlapped and watched.threads == {"dms2f-read_0"}
    grid_order = [(core.row_off, core.col_off) for core in scored]
    assert watched.order == grid_order  # each tile read once, in order
    assert not [t for t in threading.enumerate() if t.name.startswith("dms2f-read")]


def test_a_cancel_between_tiles_leaves_no_read_running(scene):
    import threading

    from engine_fixtures import CancelAfter

    from dms2f_had.dms2f_plugin.engine.errors import CancelledError

    with open_raster(scene) as src, pytest.raises(CancelledError):
        score_array(src, GlobalRxScorer.from_statistics(src.statistics(covariance=True)),
                    tile_size=16, progress=CancelAfter(3))
    assert not [t for t in threading.enumerate() if t.name.startswith("dms2f-read")]


def test_array_source_reads_like_a_geotiff(tmp_path):
    """The in-memory source gives the same windows and statistics as the file it came from."""
    from dms2f_had.dms2f_plugin.engine.io.array_source import ArraySource

    cube, _ = synthetic_scene(bands=5, height=21, width=17)
    path = write_geotiff(tmp_path / "scene.tif", cube)
    memory = ArraySource(np.asarray(cube, dtype=np.float32))
    with open_raster(path) as source:
        window = Window(3, 4, 9, 11)
        for got, expected in zip(memory.read_window(window), source.read_window(window)):
            np.testing.assert_array_equal(got, expected)
        a, b = memory.statistics(covariance=True), source.statistics(covariance=True)
        np.testing.assert_allclose(a.mean, b.mean)
        np.testing.assert_allclose(a.covariance, b.covariance)
        assert (memory.width, memory.height, memory.band_count) == \
            (source.width, source.height, source.band_count)
