"""Campaign and tile-parallel speed-ups on a 2-worker Dask LocalCluster (issue: campaigns on Dask).

1. **Campaign**: the first ``--count`` development scenes of ``--scenes`` (``*.mat``, else
   ``*.tif``), run by ``dms2f-had batch`` once ``--serial`` (one scene after the other in one
   process, torch's default threads) and once on a local cluster of ``--workers`` processes of
   one thread each.
2. **One large raster**: a synthetic ``--size`` x ``--size`` x 100 GeoTIFF (the generator of
   ``scale.py``), run by ``dms2f-had detect`` once in one process and once with ``--workers``
   (fit in the client, tiles scored by the workers).

Each run is a fresh ``dms2f-had`` process; wall time is measured around it, CPU time is the
user + system time of it and its children (the workers included). Prints the CPU model, every
run, and as the LAST line::

    campaign_speedup_2_workers=<serial wall / cluster wall> tile_speedup_2_workers=<...>

Target: campaign speed-up >= 1.7 on 2 idle cores. Usage::

    .venv/bin/python benchmarks/campaign.py [--scenes ../shared/data/had] [--count 8]
        [--method dms2f] [--steps N] [--size 2000] [--tile-method dms2f] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess  # nosec B404 - fixed argument lists, no shell
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SCENES = HERE.parent.parent / "shared" / "data" / "had"


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def child(argv: list[str]) -> int:
    """Run the CLI in this process (its Dask workers re-import this guarded script)."""
    from dms2f_had.dms2f_plugin.engine.app.cli import main

    return main(argv)


def timed(args: list[str], label: str) -> tuple[float, float]:
    """Run ``dms2f-had args`` in a fresh process; print and return (wall s, CPU s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", *args],  # nosec B603
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    print(f"{label}: wall_s={wall:.1f} cpu_s={cpu:.1f}", flush=True)
    return wall, cpu


def scenes(folder: Path, count: int) -> list[Path]:
    """The first ``count`` scenes of ``folder`` (sorted ``.mat`` files, else ``.tif``)."""
    found = sorted(folder.glob("*.mat")) or sorted(folder.glob("*.tif"))
    if len(found) < count:
        sys.exit(f"need {count} scenes in {folder}, found {len(found)}")
    return found[:count]


def main() -> int:
    """Run both comparisons and print the numbers."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, default=DEFAULT_SCENES)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--method", default="dms2f", choices=("dms2f", "rx", "lrx"))
    parser.add_argument("--steps", type=int, help="DMS2F fitting steps (default: the preset's)")
    parser.add_argument("--size", type=int, default=2000, help="edge of the large raster")
    parser.add_argument("--tile-method", default="dms2f", choices=("dms2f", "rx", "lrx"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    steps = ["--steps", str(args.steps)] if args.steps else []
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"campaign: {args.count} scenes of {args.scenes}, method {args.method}"
          + (f", {args.steps} fitting steps" if args.steps else ""), flush=True)
    inputs = [str(p) for p in scenes(args.scenes, args.count)]
    with tempfile.TemporaryDirectory(prefix="dms2f_campaign_") as tmp:
        folder = Path(tmp)
        common = ["batch", *inputs, "--method", args.method, *steps]
        serial, _ = timed([*common, "-o", str(folder / "serial"), "--serial"],
                          "campaign serial (one process)")
        cluster, _ = timed([*common, "-o", str(folder / "cluster"), "--workers", str(args.workers)],
                           f"campaign cluster ({args.workers} workers x 1 thread)")
        sys.path.insert(0, str(HERE))
        from scale import BANDS, write_scene

        big = folder / f"synthetic_{args.size}x{args.size}x{BANDS}.tif"
        write_scene(big, args.size)
        detect = ["detect", str(big), "--method", args.tile_method, *steps]
        print(f"large raster: {args.size}x{args.size}x{BANDS}, method {args.tile_method}",
              flush=True)
        one, _ = timed([*detect[:2], str(folder / "one.tif"), *detect[2:]],
                       "large raster, one process")
        many, _ = timed([*detect[:2], str(folder / "many.tif"), *detect[2:], "--workers",
                         str(args.workers)], f"large raster, {args.workers} workers x 1 thread")
    print(f"campaign_speedup_2_workers={serial / cluster:.2f} "
          f"tile_speedup_2_workers={one / many:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
