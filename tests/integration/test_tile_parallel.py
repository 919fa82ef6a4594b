"""One raster across Dask workers: the tile-parallel map is bit-identical to the serial one.

Checked for global RX, local RX, DMS2F-HAD with the local background (whose halo is the
largest) and the default (line medians fused with RX: each task scores both maps), on a raster
whose size is no multiple of the tile, with tiles small enough that every halo crosses tiles;
also through ``dms2f-had detect --workers``, with a cancel, and the bounds.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from cluster_support import assert_same_raster, read_raster
from engine_fixtures import CancelAfter, synthetic_scene, write_geotiff

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.app.cli import main
from dms2f_had.dms2f_plugin.engine.app.cluster import ClusterRequest, plan_cluster
from dms2f_had.dms2f_plugin.engine.app.tile_parallel import DaskTileExecutor
from dms2f_had.dms2f_plugin.engine.errors import CancelledError

RUNS = {  # method -> detect options; tile 32 with halos of 0, 10 and 24 pixels
    "rx": {"method": "rx"},
    "lrx": {"method": "lrx", "inner_window": 3, "outer_window": 21},
    "dms2f": {"method": "dms2f", "steps": 2, "local_window": 15},
    "dms2f-fused": {"method": "dms2f", "steps": 2},  # the default: both maps from one read
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    cube, _ = synthetic_scene(bands=24, height=75, width=70, seed=5)
    cube[:, 3, 66] = -1.0  # a nodata pixel near a tile edge
    return write_geotiff(tmp_path_factory.mktemp("tile") / "scene.tif", cube, nodata=-1.0)


@pytest.fixture(scope="module")
def executor():
    assert (os.cpu_count() or 1) >= 2, "the cluster tests need 2 cores"
    plan = plan_cluster(ClusterRequest(workers=2, threads=1), 2**30)
    with DaskTileExecutor(plan) as shared:
        yield shared


@pytest.mark.parametrize("run", sorted(RUNS))
def test_tile_parallel_map_is_bit_identical_to_the_serial_map(scene, executor, tmp_path, run):
    options = {**RUNS[run], "tile_size": 32, "threads": 1}
    serial = jobs.detect(scene, tmp_path / "serial.tif", **options)
    parallel = jobs.detect(scene, tmp_path / "parallel.tif", executor=executor, **options)
    assert parallel.tiles == serial.tiles == 9 and parallel.valid_pixels == serial.valid_pixels
    assert_same_raster(tmp_path / "serial.tif", tmp_path / "parallel.tif")
    assert np.isnan(read_raster(tmp_path / "parallel.tif")[3, 66])
    assert executor.session is not None and len(executor.session.client.nthreads()) == 2


def test_cli_detect_with_workers_equals_detect_with_one_thread(scene, tmp_path, capsys):
    """With a cluster --threads defaults to 1 (fit and tiles): the map of 'detect --threads 1'."""
    args = ["detect", str(scene), "--method", "dms2f", "--steps", "2", "--tile-size", "32"]
    assert main([*args[:2], str(tmp_path / "a.tif"), *args[2:], "--threads", "1"]) == 0
    assert main([*args[:2], str(tmp_path / "b.tif"), *args[2:], "--workers", "2"]) == 0
    assert_same_raster(tmp_path / "a.tif", tmp_path / "b.tif")
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--workers", "0"], "--workers must be between 1"),
    (["--workers", "512"], "--workers must be between 1"),
    (["--memory-limit", "2GiB"], "add --workers N"),
    (["--workers", "1", "--memory-limit", "12"], "between 256MiB"),
    (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "drop --scheduler"),
])
def test_cli_refuses_bad_cluster_numbers_before_work(scene, tmp_path, capsys, extra, words):
    code = main(["detect", str(scene), str(tmp_path / "x.tif"), "--method", "rx", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "x.tif").exists()


def test_an_unreachable_scheduler_is_one_clear_line(scene, tmp_path, capsys):
    code = main(["detect", str(scene), str(tmp_path / "x.tif"), "--method", "rx", "--scheduler",
                 "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, "one line, before the statistics pass's warnings"
    assert err[0].startswith("dms2f-had: error: Cannot reach the Dask scheduler at "
                             "'tcp://127.0.0.1:9'")


def test_cancel_leaves_no_output_and_no_temporary_file(scene, executor, tmp_path):
    with pytest.raises(CancelledError):
        jobs.detect(scene, tmp_path / "x.tif", method="lrx", tile_size=16, executor=executor,
                    progress=CancelAfter(3))
    assert list(tmp_path.iterdir()) == []
