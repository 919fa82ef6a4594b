"""``make demo``: the main job through real headless QGIS on the shipped sample scene.

1. ``qgis_process run dms2f:detect_anomalies`` on ``resources/sample/san_diego_sample.tif``
   -> ``build/demo/score.tif`` (float32 anomaly score, the sample's CRS and geotransform);
2. ``qgis_process run dms2f:threshold_anomalies`` -> ``build/demo/mask.tif`` and
   ``build/demo/detections.gpkg``;
3. the engine's PNG quicklook of the score -> ``build/demo/quicklook.png``;

then prints the paths and the runtime. ``qgis_process`` loads the plugin from the checkout
(``.venv/plugins/dms2f_had``) with a profile of its own under ``build/`` and no environment
variable beyond the plugin folder: the plugin finds torch in the checkout's ``.venv`` by itself.
Usage: ``.venv/bin/python scripts/demo.py [--out DIR] [--detector dms2f|rx] [PARAM=VALUE ...]``
(extra parameters go to the detection algorithm; ``--detector rx`` runs ``dms2f:rx_detector``
instead, a quick check of the whole pipeline that needs no torch).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import qgis_headless

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "resources" / "sample" / "san_diego_sample.tif"
OUT = REPO / "build" / "demo"
DETECTORS = {"dms2f": ("dms2f:detect_anomalies", "Detect anomalies"),
             "rx": ("dms2f:rx_detector", "RX anomaly detector")}
PROFILE = REPO / "build" / "qgis-profile"
PLUGINS = REPO / ".venv" / "plugins"


def step(title: str, args: list[str], env: dict[str, str]) -> float:
    """Run one qgis_process command, streaming its output; return its duration in seconds."""
    print(f"\n== {title}\n$ qgis_process {' '.join(args)}", flush=True)
    start = time.perf_counter()
    proc = qgis_headless.run(args, env, timeout=3600, capture=False)
    if proc.returncode != 0:
        raise SystemExit(f"demo failed: qgis_process exited with {proc.returncode} in '{title}'")
    return time.perf_counter() - start


def quicklook(score: Path, png: Path) -> float:
    """Write the PNG quicklook of ``score`` with the engine; return the duration."""
    from dms2f_had.dms2f_plugin.engine.products.quicklook import write_quicklook

    print(f"\n== Quicklook\n{score} -> {png}", flush=True)
    start = time.perf_counter()
    write_quicklook(str(score), str(png))
    return time.perf_counter() - start


def check_score(score: Path) -> str:
    """Check the score is float32 on the sample's grid (CRS and geotransform); describe it."""
    from osgeo import gdal

    src, out = gdal.Open(str(SAMPLE)), gdal.Open(str(score))
    band = out.GetRasterBand(1)
    problems = []
    if band.DataType != gdal.GDT_Float32:
        problems.append(f"type {gdal.GetDataTypeName(band.DataType)}, expected Float32")
    if out.GetGeoTransform() != src.GetGeoTransform():
        problems.append(f"geotransform {out.GetGeoTransform()} != {src.GetGeoTransform()}")
    if not out.GetSpatialRef() or not out.GetSpatialRef().IsSame(src.GetSpatialRef()):
        problems.append("CRS differs from the sample's")
    if (out.RasterXSize, out.RasterYSize) != (src.RasterXSize, src.RasterYSize):
        problems.append("size differs from the sample's")
    if problems:
        raise SystemExit("demo failed: score raster " + "; ".join(problems))
    srs = out.GetSpatialRef()
    crs = f"{srs.GetAuthorityName(None)}:{srs.GetAuthorityCode(None)}"
    return f"Float32 {out.RasterXSize}x{out.RasterYSize}, {crs}, same grid as the sample"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DMS2F-HAD demo through qgis_process")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (emptied first)")
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="dms2f",
                        help="detection algorithm (default: DMS2F-HAD)")
    args, extra = parser.parse_known_args(argv)
    out_dir = args.out.resolve()
    if not (PLUGINS / qgis_headless.PLUGIN).exists():
        raise SystemExit(f"{PLUGINS / qgis_headless.PLUGIN} is missing: run 'make demo', not this script")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    score, mask, gpkg, png = (out_dir / name for name in
                              ("score.tif", "mask.tif", "detections.gpkg", "quicklook.png"))
    env = qgis_headless.headless_env(PLUGINS, PROFILE)
    start = time.perf_counter()
    qgis_headless.enable_plugin(env)
    alg, title = DETECTORS[args.detector]
    detect = step(f"{title} ({alg})", ["run", alg, "--", f"INPUT={SAMPLE}", f"OUTPUT={score}", *extra], env)
    threshold = step("Threshold (dms2f:threshold_anomalies)",
                     ["run", "dms2f:threshold_anomalies", "--", f"INPUT={score}", f"OUTPUT={mask}",
                      f"DETECTIONS={gpkg}"], env)
    look = quicklook(score, png)
    total = time.perf_counter() - start
    missing = [str(p) for p in (score, mask, gpkg, png) if not p.is_file()]
    if missing:
        raise SystemExit(f"demo failed: outputs missing: {', '.join(missing)}")
    described = check_score(score)
    print("\nDMS2F-HAD demo outputs")
    print(f"  anomaly score: {_show(score)} ({described})")
    print(f"  detections:    {_show(gpkg)} (polygons), {_show(mask)} (mask)")
    print(f"  quicklook:     {_show(png)}")
    print(f"runtime: {total:.1f} s (detect {detect:.1f} s, threshold {threshold:.1f} s, "
          f"quicklook {look:.1f} s, QGIS start-up included)")
    return 0


def _show(path: Path) -> str:
    """``path`` relative to the checkout when inside it."""
    return str(path.relative_to(REPO)) if REPO in path.parents else str(path)


if __name__ == "__main__":
    raise SystemExit(main())
