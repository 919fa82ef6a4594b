"""``make demo``'s pipeline through headless ``qgis_process``: score, detections, quicklook.

Runs ``scripts/demo.py --detector rx`` (seconds, no torch) into a temporary folder; the DMS2F-HAD
detector itself is covered by the algorithm tests, and ``make demo`` runs it for real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from osgeo import gdal, ogr

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample" / "san_diego_sample.tif"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--detector", "rx",
                           "--out", str(out)], capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out, proc.stdout


def test_demo_prints_paths_and_runtime(demo):
    out, stdout = demo
    for name in ("score.tif", "detections.gpkg", "mask.tif", "quicklook.png"):
        assert str(out / name) in stdout
    assert "runtime:" in stdout


def test_score_is_float32_on_sample_grid(demo):
    out, _ = demo
    src, score = gdal.Open(str(SAMPLE)), gdal.Open(str(out / "score.tif"))
    assert score.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert score.GetGeoTransform() == src.GetGeoTransform()
    assert score.GetSpatialRef().IsSame(src.GetSpatialRef())


def test_detections_layer_has_polygons_near_the_planes(demo):
    out, _ = demo
    ds = ogr.Open(str(out / "detections.gpkg"))
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() > 0
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32611"
    minx, maxx, miny, maxy = layer.GetExtent()
    assert 483_500 <= minx <= maxx <= 483_850 and 3_622_150 <= miny <= maxy <= 3_622_500


def test_quicklook_is_a_png(demo):
    out, _ = demo
    assert (out / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
