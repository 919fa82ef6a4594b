"""Sizing a local Dask cluster and checking every user-typed number before work starts."""

from __future__ import annotations

import sys

import pytest

from dms2f_had.dms2f_plugin.engine.app.cluster import (
    ClusterRequest,
    import_distributed,
    plan_cluster,
)
from dms2f_had.dms2f_plugin.engine.errors import DependencyError, InputError

GIB = 2**30


def plan(cores=8, memory=32 * GIB, estimate=GIB, **request):
    return plan_cluster(ClusterRequest(**request), estimate, cores=cores, memory=memory)


def test_default_fills_the_cores_with_one_thread_each_and_a_limit_from_the_estimate():
    p = plan()
    assert (p.workers, p.threads, p.memory_limit, p.scheduler) == (8, 1, 1.5 * GIB, None)
    assert "8 worker(s) x 1 thread" in p.describe()


def test_no_estimate_still_gives_a_usable_limit():
    assert plan(estimate=0).memory_limit == 256 * 2**20


def test_default_takes_fewer_workers_when_memory_is_short():
    p = plan(memory=4 * GIB)
    assert p.workers == 2 and p.memory_limit == 1.5 * GIB


def test_threads_per_worker_divide_the_cores():
    assert plan(threads=2).workers == 4


def test_explicit_sizes_are_kept():
    p = plan(workers=3, threads=2, memory_limit="2GiB")
    assert (p.workers, p.threads, p.memory_limit) == (3, 2, 2 * GIB)


@pytest.mark.parametrize("request_, words", [
    ({"workers": 0}, "between 1 and the 8 core"),
    ({"workers": 9}, "between 1 and the 8 core"),
    ({"threads": 0}, "at least 1"),
    ({"threads": 9}, "more than the 8 core"),
    ({"workers": 5, "threads": 2}, "exceed the 8 core"),
    ({"memory_limit": "lots"}, "is not a size"),
    ({"memory_limit": "10MB"}, "between 256MiB"),
    ({"memory_limit": "64GiB"}, "between 256MiB"),
    ({"workers": 8, "memory_limit": "8GiB"}, "at most --workers 4"),
    ({"scheduler": "tcp://h:8786", "workers": 2}, "drop --scheduler"),
    ({"scheduler": "tcp://h:8786", "memory_limit": "2GiB"}, "drop --scheduler"),
])
def test_numbers_out_of_bounds_are_refused_with_the_fix(request_, words):
    with pytest.raises(InputError, match=words):
        plan(**request_)


def test_a_task_larger_than_the_machine_is_refused():
    with pytest.raises(InputError, match="One task needs about"):
        plan(memory=GIB, estimate=4 * GIB)


def test_a_scheduler_sizes_itself():
    p = plan(scheduler="tcp://h:8786", threads=2)
    assert (p.scheduler, p.threads) == ("tcp://h:8786", 2)
    assert p.describe() == "Dask scheduler tcp://h:8786"


def test_missing_dask_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DependencyError, match="dask and distributed.*requirements.txt.*--serial"):
        import_distributed()
    with pytest.raises(DependencyError):
        plan()
