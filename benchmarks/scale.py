"""Peak memory and time of detection versus scene size (engine issue: memory bounded by tiles).

Writes synthetic 100-band tiled GeoTIFFs of 500 x 500 and 2000 x 2000 pixels into a temporary
folder, runs ``dms2f-had detect`` on each in a FRESH subprocess (so each peak RSS is that run's
own), and prints peak RSS and wall time per size, then as the LAST line::

    rss_ratio_2000_vs_500=<r> time_ratio=<t>

Targets: rss ratio <= 1.5 (memory bounded by the tile size), time ratio <= 20 (16x the pixels:
linear). Usage::

    .venv/bin/python benchmarks/scale.py [--method rx|lrx|dms2f] [--keep DIR]
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
    """Run the CLI in this process and report this process's own peak RSS."""
    from dms2f_had.dms2f_plugin.engine.app.cli import main

    code = main(argv)
    print(f"peak_rss_kb={peak_rss_kb()}", flush=True)
    return code


def run(path: Path, out: Path, method: str) -> tuple[float, float]:
    """Detect in a fresh subprocess; returns (peak RSS MB, seconds)."""
    command = [sys.executable, __file__, "--child", "detect", str(path), str(out),
               "--method", method]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"detection failed on {path.name}:\n{proc.stderr}")
    peak = [line for line in proc.stdout.splitlines() if line.startswith("peak_rss_kb=")]
    return int(peak[-1].split("=")[1]) / 1024.0, seconds


def main() -> int:
    """Write the scenes, run each size, print the numbers."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=("dms2f", "rx", "lrx"))
    parser.add_argument("--keep", type=Path, help="write the scenes here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dms2f_scale_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {}
        for size in SIZES:
            scene = folder / f"synthetic_{size}x{size}x{BANDS}.tif"
            if not scene.exists():
                write_scene(scene, size)
            rss, seconds = run(scene, folder / f"score_{size}.tif", args.method)
            results[size] = (rss, seconds)
            print(f"{args.method} {size}x{size}x{BANDS}: peak_rss_mb={rss:.0f} "
                  f"seconds={seconds:.1f}", flush=True)
    (rss_small, t_small), (rss_big, t_big) = results[500], results[2000]
    print(f"rss_ratio_2000_vs_500={rss_big / rss_small:.2f} time_ratio={t_big / t_small:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
