"""Peak memory and time of detection versus scene size (memory bounded by tiles, speed of scoring).

Writes synthetic 100-band tiled GeoTIFFs of 500 x 500 and 2000 x 2000 pixels into a temporary
folder, runs the detection on each in a FRESH subprocess (so each peak RSS is that run's own),
and prints per size the peak RSS, wall and CPU time, the fitting time, the scoring time after the
fit and the scoring throughput (pixels per second), then as the LAST line::

    rss_ratio_2000_vs_500=<r> time_ratio=<t>

Targets: rss ratio <= 1.5 (memory bounded by the tile size), time ratio <= 20 (16x the pixels:
linear). Usage::

    .venv/bin/python benchmarks/scale.py [--method rx|lrx|dms2f] [--keep DIR] [--sizes 500,2000]
"""

from __future__ import annotations

import argparse
import subprocess  # nosec B404 - fixed argument lists, no shell
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

#: Detector benchmarked by default. RX until DMS2F fitting + scoring is fast enough on the CPU
#: for a 2000 x 2000 scene; then switch to "dms2f" (the issue's target is about DMS2F).
DEFAULT_METHOD = "dms2f"
SIZES = (500, 2000)
BANDS = 100
STRIP = 50  # rows generated and written at a time: the generator's memory stays small


def write_scene(path: Path, size: int, bands: int = BANDS, seed: int = 0) -> None:
    """A smooth mixed-endmember int16 cube with noise and a few targets, written by strips."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    members = np.stack([2000 + 800 * np.sin(3 * x + k) for k in range(4)])  # (4, bands)
    target = 2500 + 900 * np.cos(11 * x)  # (bands,)
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), size, size, bands, gdal.GDT_Int16,
        ["TILED=YES", "INTERLEAVE=PIXEL", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=IF_SAFER"])
    ds.SetGeoTransform((300000.0, 5.0, 0.0, 4000000.0, 0.0, -5.0))
    for row in range(0, size, STRIP):
        rows = min(STRIP, size - row)
        abundance = rng.dirichlet(np.ones(4), size=rows * size).astype(np.float32)  # (n, 4)
        strip = abundance @ members.astype(np.float32)  # (n, bands)
        strip += rng.normal(0, 15, (rows * size, bands)).astype(np.float32)
        hits = rng.random(rows * size) < 2e-4
        strip[hits] = 0.5 * strip[hits] + 0.5 * target
        cube = np.moveaxis(strip.reshape(rows, size, bands), 2, 0).astype(np.int16)
        ds.WriteArray(cube, 0, row)  # (bands, rows, size)
    ds.FlushCache()
    ds = None


def peak_rss_kb() -> int:
    """This process's peak RSS (VmHWM, kB).

    Not ``getrusage``: Linux carries ``ru_maxrss`` over fork + exec, so a child would report
    the parent's peak (the parent writes the scenes); VmHWM belongs to the new address space.
    """
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(argv: list[str]) -> int:
    """Detect in this process; report fit and scoring seconds, CPU seconds and the peak RSS."""
    import resource

    from dms2f_had.dms2f_plugin.engine.app import jobs

    path, out, method, steps = argv
    result = jobs.detect(path, out, method=method, steps=int(steps) or None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    fit_s = result.fit_seconds or 0.0
    print(f"fit_s={fit_s:.2f} score_s={result.seconds - fit_s:.2f} "
          f"cpu_s={usage.ru_utime + usage.ru_stime:.1f} peak_rss_kb={peak_rss_kb()}", flush=True)
    return 0


def run(path: Path, out: Path, method: str, steps: int) -> dict[str, float]:
    """Detect in a fresh subprocess; returns its numbers (and the wall time, ``wall_s``)."""
    command = [sys.executable, __file__, "--child", str(path), str(out), method, str(steps)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"detection failed on {path.name}:\n{proc.stderr}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("fit_s=")][-1]
    numbers = {key: float(value) for key, value in (item.split("=") for item in line.split())}
    numbers["wall_s"] = seconds
    return numbers


def main() -> int:
    """Write the scenes, run each size, print the numbers."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    from dms2f_had.dms2f_plugin.engine.app.bench import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=("dms2f", "rx", "lrx"))
    parser.add_argument("--keep", type=Path, help="write the scenes here and keep them")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="two scene edges, small then large (default 500,2000)")
    parser.add_argument("--steps", type=int, default=0, help="fitting steps (0: the preset's)")
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    print(f"{machine_info().get('cpu_model', '?')}, {machine_info().get('cpus')} cores, "
          f"method {args.method}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dms2f_scale_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {}
        for size in (small, large):
            scene = folder / f"synthetic_{size}x{size}x{BANDS}.tif"
            if not scene.exists():
                write_scene(scene, size)
            r = run(scene, folder / f"score_{size}.tif", args.method, args.steps)
            results[size] = r
            print(f"{args.method} {size}x{size}x{BANDS}: peak_rss_mb={r['peak_rss_kb'] / 1024:.0f} "
                  f"wall_s={r['wall_s']:.1f} cpu_s={r['cpu_s']:.1f} fit_s={r['fit_s']:.1f} "
                  f"score_s={r['score_s']:.1f} score_px_per_s={size * size / r['score_s']:.0f}",
                  flush=True)
    ratio_rss = results[large]["peak_rss_kb"] / results[small]["peak_rss_kb"]
    ratio_t = results[large]["wall_s"] / results[small]["wall_s"]
    print(f"rss_ratio_{large}_vs_{small}={ratio_rss:.2f} time_ratio={ratio_t:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
