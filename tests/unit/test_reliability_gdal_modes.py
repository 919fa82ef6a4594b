"""The engine gives the same results and the same one-line errors whatever GDAL's exceptions mode.

QGIS 3.40's Processing turns ``gdal.UseExceptions()`` on for the whole process; the command line
leaves it off. Every GDAL path of the engine runs here in both modes (the mode of this process
is restored afterwards), and a failure must never print GDAL's own messages.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from engine_fixtures import read_band, synthetic_scene, write_envi, write_geotiff
from osgeo import gdal, ogr, osr

from dms2f_had.dms2f_plugin.engine.app import jobs
from dms2f_had.dms2f_plugin.engine.errors import InputError, RasterReadError
from dms2f_had.dms2f_plugin.engine.products.quicklook import write_quicklook

UTM = osr.SpatialReference()
UTM.ImportFromEPSG(32611)
GT = (483000.0, 3.0, 0.0, 3620010.0, 0.0, -3.0)
MODULES = (gdal, ogr, osr)


def _set_modes(states):
    """Turn each module's exceptions on or off; GDAL stacks them, so off goes in reverse order."""
    for module, on in zip(MODULES, states):
        if on and not module.GetUseExceptions():
            module.UseExceptions()
    for module, on in reversed(list(zip(MODULES, states))):
        if not on and module.GetUseExceptions():
            module.DontUseExceptions()


@pytest.fixture(params=["exceptions off", "exceptions on"])
def gdal_mode(request):
    before = [bool(module.GetUseExceptions()) for module in MODULES]
    _set_modes([request.param == "exceptions on"] * len(MODULES))
    assert all(bool(m.GetUseExceptions()) == (request.param == "exceptions on") for m in MODULES)
    yield request.param
    _set_modes(before)


@pytest.fixture
def scene(tmp_path):
    cube, truth = synthetic_scene(bands=6, height=30, width=40)
    return (write_geotiff(tmp_path / "scene.tif", cube, crs_wkt=UTM.ExportToWkt(), geotransform=GT),
            write_geotiff(tmp_path / "truth.tif", truth, crs_wkt=UTM.ExportToWkt(), geotransform=GT),
            truth)


def _polygons(path, srs):
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("truth", srs=srs, geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        "POLYGON ((483030 3620001, 483039 3620001, 483039 3619992, 483030 3619992, "
        "483030 3620001))"))
    layer.CreateFeature(feature)
    ds = None
    return path


def test_reading_writing_and_products_in_both_modes(gdal_mode, scene, tmp_path, capfd):
    image, truth_path, truth = scene
    result = jobs.detect(image, tmp_path / "score.tif", method="rx")
    assert result.valid_pixels == 30 * 40
    th = jobs.threshold(tmp_path / "score.tif", tmp_path / "mask.tif", method="sigma", value=2.0,
                        vector_path=tmp_path / "det.gpkg")
    assert th.objects and (read_band(tmp_path / "mask.tif") == 1).sum() == th.anomaly_pixels
    by_raster = jobs.evaluate(tmp_path / "score.tif", truth_path)
    assert by_raster.anomaly_pixels == int(truth.sum()) and by_raster.auc > 0.9
    polygons = _polygons(tmp_path / "truth.gpkg", UTM)
    assert jobs.evaluate(tmp_path / "score.tif", polygons).anomaly_pixels == 9
    write_quicklook(tmp_path / "score.tif", tmp_path / "look.png")
    assert (tmp_path / "look.png").read_bytes()[:4] == b"\x89PNG"
    scipy.io.savemat(tmp_path / "scene.mat", {"data": np.moveaxis(read_band_all(image), 0, 2),
                                              "map": truth})
    imported = jobs.import_mat(tmp_path / "scene.mat", tmp_path / "cube.tif", tmp_path / "gt.tif")
    assert (imported.rows, imported.cols, imported.bands) == (30, 40, 6)
    assert jobs.detect(tmp_path / "scene.mat", tmp_path / "mat.tif", method="rx").bands == 6
    assert_no_gdal_messages(capfd.readouterr().err)


def assert_no_gdal_messages(err: str) -> None:
    """GDAL's own handler prints "ERROR 1: ..." or "Warning 1: ..."; none may reach stderr."""
    assert "ERROR 1" not in err and "Warning 1" not in err and "PROJ" not in err, err


def read_band_all(path):
    return gdal.Open(str(path)).ReadAsArray()


def test_failures_are_the_same_one_line_errors_in_both_modes(gdal_mode, scene, tmp_path, capfd):
    image, _, _ = scene
    with pytest.raises(RasterReadError, match="does not exist"):
        jobs.detect(tmp_path / "missing.tif", tmp_path / "o.tif", method="rx")
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + b"\xff" * 64)
    with pytest.raises(RasterReadError, match="Cannot open .*corrupt.tif' as a raster"):
        jobs.detect(tmp_path / "corrupt.tif", tmp_path / "o.tif", method="rx")
    cube, _ = synthetic_scene(bands=4, height=20, width=20)
    envi = write_envi(tmp_path / "cut.img", cube)
    envi.write_bytes(envi.read_bytes()[:3000])
    with pytest.raises(RasterReadError, match="shorter than its header says"):
        jobs.detect(envi, tmp_path / "o.tif", method="rx")
    jobs.detect(image, tmp_path / "score.tif", method="rx")
    nocrs = _polygons(tmp_path / "nocrs.gpkg", None)
    with pytest.raises(InputError, match="have no CRS"):
        jobs.evaluate(tmp_path / "score.tif", nocrs)
    with pytest.raises(RasterReadError):
        jobs.evaluate(tmp_path / "score.tif", tmp_path / "missing.gpkg")
    assert not (tmp_path / "o.tif").exists()
    assert_no_gdal_messages(capfd.readouterr().err)


def test_a_truncated_tile_is_a_read_error_in_both_modes(gdal_mode, tmp_path, capfd):
    cube, _ = synthetic_scene(bands=3, height=64, width=64)
    path = write_geotiff(tmp_path / "tiled.tif", cube, options=("TILED=YES", "BLOCKXSIZE=16",
                                                                 "BLOCKYSIZE=16"))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(RasterReadError, match="Reading .* failed .*truncated or corrupt"):
        jobs.detect(path, tmp_path / "o.tif", method="rx")
    assert not (tmp_path / "o.tif").exists()
    assert_no_gdal_messages(capfd.readouterr().err)


def test_the_command_line_hides_gdals_mode_warning_without_choosing_a_mode(scene, tmp_path):
    import warnings

    from dms2f_had.dms2f_plugin.engine.app import cli
    from dms2f_had.dms2f_plugin.engine.io.gdalutil import MODE_WARNING

    before = [module.GetUseExceptions() for module in MODULES]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["detect", str(scene[0]), str(tmp_path / "s.tif"), "--method", "rx"]) == 0
        warnings.warn("Neither gdal.UseExceptions() nor gdal.DontUseExceptions() has been "
                      "explicitly called. In GDAL 4.0, exceptions will be enabled by default.",
                      FutureWarning, stacklevel=1)
        warnings.warn("another future change", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another future change"]
    assert MODE_WARNING.startswith("Neither")
    assert [module.GetUseExceptions() for module in MODULES] == before
