"""Helpers for the Dask tests: small scenes on disk, a user's own cluster, a task that kills its worker.

Helpers, not tests. Functions here run on Dask workers, so the tests register this module to be
pickled by value (``cloudpickle.register_pickle_by_value``): workers need not import it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from engine_fixtures import synthetic_scene, write_geotiff
from osgeo import gdal

#: Environment variable naming the folder where ``killing_task`` keeps its attempt markers.
MARKER_DIR = "DMS2F_TEST_MARKERS"


def write_scenes(folder: Path, count: int, *, bands: int = 12, height: int = 40, width: int = 48,
                 prefix: str = "scene") -> list[Path]:
    """``count`` seeded synthetic GeoTIFF scenes in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        cube, _ = synthetic_scene(bands=bands, height=height, width=width, seed=i)
        paths.append(write_geotiff(folder / f"{prefix}{i}.tif", cube))
    return paths


def read_raster(path: Path) -> np.ndarray:
    """Band 1 of a raster."""
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def assert_same_raster(a: Path, b: Path) -> None:
    """Bit-identical pixels (NaN where NaN), same size."""
    x, y = read_raster(a), read_raster(b)
    assert x.shape == y.shape and x.dtype == y.dtype
    assert x.tobytes() == y.tobytes(), f"{a.name} and {b.name} differ"


def killing_task(job, cancel_event: str):
    """The campaign's task, except that a scene named ``victim*`` kills its worker on the first try.

    Each attempt appends a line to ``<markers>/<scene>.attempts`` first, so the test can see
    that the first attempt ran (and died) and that Dask ran it again.
    """
    from dms2f_had.dms2f_plugin.engine.app.batch import scene_on_worker

    marker = Path(os.environ.get(MARKER_DIR, job.outputs.score.parent)) / f"{job.name}.attempts"
    first = not marker.exists()
    with marker.open("a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    if job.name.startswith("victim") and first:
        os._exit(1)  # the worker process dies mid-task, as on a segfault or the OOM killer
    return scene_on_worker(job, cancel_event)


@contextlib.contextmanager
def user_cluster(workers: int = 2) -> Iterator[str]:
    """A LocalCluster of ``workers`` processes started as a user would; yields its address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster:
        yield cluster.scheduler_address
