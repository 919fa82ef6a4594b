"""The score writer: georeferencing kept, tiled compressed float32, atomic, validated paths."""

from __future__ import annotations

import os

import numpy as np
import pytest
from engine_fixtures import CUSTOM_WKT, ROTATED_GT, CancelAfter, synthetic_scene, write_geotiff
from osgeo import gdal, osr

from dms2f_had.dms2f_plugin.engine.detectors.rx import GlobalRxScorer
from dms2f_had.dms2f_plugin.engine.detectors.tiled import score_raster
from dms2f_had.dms2f_plugin.engine.errors import CancelledError, OutputError
from dms2f_had.dms2f_plugin.engine.io.raster import Window, open_raster
from dms2f_had.dms2f_plugin.engine.io.raster_writer import mask_writer, score_writer
from dms2f_had.dms2f_plugin.engine.io.writer import validate_output_path


@pytest.fixture
def georeferenced(tmp_path):
    cube, _ = synthetic_scene(bands=6, height=30, width=41)
    cube[:, 3, 4] = -1.0
    return write_geotiff(tmp_path / "in.tif", cube, crs_wkt=CUSTOM_WKT, geotransform=ROTATED_GT,
                         nodata=-1.0)


def _rx(src):
    return GlobalRxScorer.from_statistics(src.statistics(covariance=True))


def test_score_keeps_custom_crs_rotation_and_marks_nodata(georeferenced, tmp_path):
    out = tmp_path / "score.tif"
    with open_raster(georeferenced) as src:
        score_raster(src, out, _rx(src), tile_size=16)
    ds = gdal.Open(str(out))
    expected = osr.SpatialReference(wkt=CUSTOM_WKT)
    assert osr.SpatialReference(wkt=ds.GetProjection()).IsSame(expected)
    assert "Custom TM test" in ds.GetProjection()
    assert ds.GetGeoTransform() == pytest.approx(ROTATED_GT)
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Float32 and np.isnan(band.GetNoDataValue())
    assert band.GetBlockSize() == [256, 256]
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "3"
    values = band.ReadAsArray()
    assert np.isnan(values[3, 4]) and np.isfinite(np.delete(values.ravel(), 3 * 41 + 4)).all()


def test_mask_writer_uint8(georeferenced, tmp_path):
    with open_raster(georeferenced) as src:
        with mask_writer(tmp_path / "m.tif", src.info) as writer:
            writer.write(src.full_window, np.ones((30, 41), dtype=np.uint8))
    ds = gdal.Open(str(tmp_path / "m.tif"))
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Byte
    assert ds.GetRasterBand(1).GetNoDataValue() == 255
    assert ds.GetGeoTransform() == pytest.approx(ROTATED_GT)


def test_exception_midway_leaves_nothing_and_keeps_previous_file(georeferenced, tmp_path):
    out = tmp_path / "score.tif"
    out.write_bytes(b"previous result")
    with open_raster(georeferenced) as src:
        with pytest.raises(RuntimeError, match="boom"):
            with score_writer(out, src.info) as writer:
                writer.write(Window(0, 0, 5, 5), np.zeros((5, 5), np.float32))
                raise RuntimeError("boom")
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "score.tif"]


def test_cancel_leaves_no_file(georeferenced, tmp_path):
    out = tmp_path / "score.tif"
    progress = CancelAfter(2)
    with open_raster(georeferenced) as src:
        scorer = _rx(src)
        with pytest.raises(CancelledError, match="no output"):
            score_raster(src, out, scorer, tile_size=16, progress=progress)
    assert progress.checks == 3  # honoured at the first check after the request
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_output_validation(georeferenced, tmp_path):
    with pytest.raises(OutputError, match="is the input file"):
        validate_output_path(georeferenced, inputs=[georeferenced])
    link = tmp_path / "link.tif"
    os.symlink(georeferenced, link)
    with pytest.raises(OutputError, match="is the input file"):
        validate_output_path(link, inputs=[georeferenced])
    with pytest.raises(OutputError, match=r"must end with \.tif or \.tiff"):
        validate_output_path(tmp_path / "score.png")
    with pytest.raises(OutputError, match="does not exist"):
        validate_output_path(tmp_path / "missing" / "score.tif")
    folder = tmp_path / "dir.tif"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        validate_output_path(folder)
    assert validate_output_path(tmp_path / "ok.tif") == (tmp_path / "ok.tif").resolve()


def test_output_folder_not_writable(tmp_path):
    if os.geteuid() == 0:  # root writes anywhere it has permissions on; /sys refuses even root
        folder = "/sys"
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    with pytest.raises(OutputError, match="Cannot write into the folder .*writable"):
        validate_output_path(os.path.join(folder, "score.tif"))
