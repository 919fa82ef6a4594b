"""Quick-look PNG: decimated, pseudocolor, transparent nodata."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import write_geotiff
from osgeo import gdal

from dms2f_had.dms2f_plugin.engine.errors import InputError, OutputError
from dms2f_had.dms2f_plugin.engine.products.quicklook import colour_lut, write_quicklook


def test_quicklook_png(tmp_path):
    score = np.linspace(0, 1, 300 * 200, dtype=np.float32).reshape(300, 200)
    score[:10, :10] = np.nan
    path = write_geotiff(tmp_path / "s.tif", score, nodata=float("nan"))
    out = write_quicklook(path, tmp_path / "s.png", max_size=150)
    ds = gdal.Open(str(out))
    assert ds.GetDriver().ShortName == "PNG"
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (100, 150, 4)
    rgba = ds.ReadAsArray()  # (4, h, w)
    assert rgba[3, 0, 0] == 0 and rgba[3, -1, -1] == 255
    lut = colour_lut()
    np.testing.assert_array_equal(rgba[:3, -1, -1], lut[-1])  # brightest colour at the top
    assert rgba[:3].reshape(3, -1).sum(axis=0)[-1] > rgba[:3, 50, 0].sum()


def test_quicklook_errors(tmp_path):
    path = write_geotiff(tmp_path / "e.tif", np.full((5, 5), np.nan, np.float32))
    with pytest.raises(InputError, match="no valid score"):
        write_quicklook(path, tmp_path / "e.png")
    with pytest.raises(OutputError, match=r"must end with \.png"):
        write_quicklook(path, tmp_path / "e.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.tif"]
