"""A BLAS linked by the host process (qgis_process links OpenBLAS) keeps to one thread in torch's sections.

Each case runs in a fresh Python that loads the system's OpenBLAS into the global namespace
before torch, as ``qgis_process`` does, and reads OpenBLAS's own thread count through its C call.
"""

from __future__ import annotations

import ctypes.util
import subprocess  # nosec B404 - fixed argument lists, no shell
import sys
import textwrap

import pytest

OPENBLAS = ctypes.util.find_library("openblas")
needs_openblas = pytest.mark.skipif(OPENBLAS is None, reason="the system has no OpenBLAS to load")

PRELUDE = """
import ctypes, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
host = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
host.openblas_set_num_threads(2)
import torch
torch.set_num_threads(2)
from dms2f_had.dms2f_plugin.engine.detectors import cpu_threads
"""


def run(body: str, prelude: str = PRELUDE, library: str | None = OPENBLAS) -> str:
    """Run ``prelude`` + ``body`` in a fresh Python; ``sys.argv[1]`` is ``library``."""
    code = textwrap.dedent(prelude) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code, str(library)],  # nosec B603
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_openblas
def test_a_cpu_section_keeps_the_host_blas_on_one_thread_and_restores_it():
    out = run("""
        with cpu_threads.parallel_slices("cpu", 2, always=True) as slices:
            inside = host.openblas_get_num_threads()
        print("slices", slices, "inside", inside, "after", host.openblas_get_num_threads())
        with cpu_threads.parallel_slices("cpu", 1) as slices:
            print("single", slices, host.openblas_get_num_threads())
    """)
    assert "slices 2 inside 1 after 2" in out
    assert "single 1 1" in out


@needs_openblas
def test_torch_products_in_a_section_equal_those_outside_it():
    out = run("""
        generator = torch.Generator().manual_seed(0)
        a, b = torch.rand(300, 200, generator=generator), torch.rand(200, 100, generator=generator)
        outside = a @ b
        with cpu_threads.parallel_slices("cpu", 2):
            inside = a @ b
        print("close", torch.allclose(inside, outside, rtol=1e-5, atol=1e-5))
    """)
    assert "close True" in out


@needs_openblas
def test_a_gpu_section_leaves_the_host_blas_alone():
    out = run("""
        with cpu_threads.parallel_slices("cuda", 2):
            print("inside", host.openblas_get_num_threads())
    """)
    assert "inside 2" in out


@needs_openblas
def test_without_threadpoolctl_the_section_runs_and_says_what_to_install():
    out = run("""
        sys.modules["threadpoolctl"] = None
        with cpu_threads.parallel_slices("cpu", 2, always=True) as slices:
            print("slices", slices, "inside", host.openblas_get_num_threads())
        with cpu_threads.parallel_slices("cpu", 2, always=True):
            pass
    """)
    assert "slices 2 inside 2" in out
    assert out.count("threadpoolctl is not installed") == 1


REFERENCE_BLAS = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"


@pytest.mark.skipif(not __import__("os").path.exists(REFERENCE_BLAS),
                    reason="Debian's reference BLAS is not installed")
def test_a_reference_blas_under_torch_is_named_with_the_fix_once():
    out = run("""
        print("found", host_blas.host_blas())
        for _ in range(2):
            with cpu_threads.parallel_slices("cpu", 2, always=True):
                pass
    """, """
        import ctypes, logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                            format="%(levelname)s %(message)s")
        ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
        import torch
        from dms2f_had.dms2f_plugin.engine.detectors import cpu_threads, host_blas
    """, REFERENCE_BLAS)
    assert "found /usr/lib/x86_64-linux-gnu/blas/libblas.so" in out
    warnings = [line for line in out.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "reference BLAS" in warnings[0]
    assert "apt install libopenblas0-pthread" in warnings[0]


@needs_openblas
def test_an_openblas_under_torch_is_found_and_not_warned_about():
    out = run("""
        from dms2f_had.dms2f_plugin.engine.detectors import host_blas
        print("found", host_blas.host_blas())
        with cpu_threads.parallel_slices("cpu", 2, always=True):
            pass
    """)
    assert "found " in out and "openblas" in out.split("found ", 1)[1].lower()
    assert "WARNING" not in out and "reference BLAS" not in out


def test_without_a_host_blas_torch_keeps_its_own():
    out = run("print('found', host_blas.host_blas())\n", """
        import torch
        from dms2f_had.dms2f_plugin.engine.detectors import host_blas
    """)
    assert "found None" in out
