"""No silent wrong answers: misaligned ground truth, cut-off files, too few pixels, alpha and masks.

Each case is a real file that used to give a number or a map without a word; now it either gives
the right result (alpha and mask bands are validity masks) or one line that names the real cause.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import CUSTOM_WKT, read_band, synthetic_scene, write_envi, write_geotiff
from osgeo import gdal, ogr, osr

from dms2f_had.dms2f_plugin.engine.app import cli, jobs
from dms2f_had.dms2f_plugin.engine.errors import InputError, RasterReadError
from dms2f_had.dms2f_plugin.engine.io.raster import open_raster

UTM = osr.SpatialReference()
UTM.ImportFromEPSG(32611)
GT = (483000.0, 3.0, 0.0, 3620010.0, 0.0, -3.0)


@pytest.fixture
def maps(tmp_path):
    """A georeferenced score and its ground truth on the same grid."""
    score = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    truth = np.zeros((40, 50), np.uint8)
    truth[30:33, 40:43] = 1
    truth[5, 5] = 1
    return (write_geotiff(tmp_path / "score.tif", score, crs_wkt=UTM.ExportToWkt(), geotransform=GT,
                          nodata=float("nan")),
            write_geotiff(tmp_path / "truth.tif", truth, crs_wkt=UTM.ExportToWkt(), geotransform=GT),
            truth)


def _shifted(gt, dx=0.0, dy=0.0):
    return (gt[0] + dx, gt[1], gt[2], gt[3] + dy, gt[4], gt[5])


def test_the_aligned_ground_truth_is_evaluated(maps):
    score, truth, labels = maps
    assert jobs.evaluate(score, truth).anomaly_pixels == int(labels.sum())


def test_a_ground_truth_shifted_by_ten_pixels_is_refused(maps, tmp_path):
    score, _, labels = maps
    shifted = write_geotiff(tmp_path / "shifted.tif", labels, crs_wkt=UTM.ExportToWkt(),
                            geotransform=_shifted(GT, dx=30.0))
    with pytest.raises(InputError, match=r"on a grid shifted by 10 column\(s\) and 0 row\(s\) "
                                         r"from the score's.*gdalwarp -te 483000 3619890 483150"):
        jobs.evaluate(score, shifted)


def test_a_ground_truth_3_5_km_away_is_refused(maps, tmp_path):
    score, _, labels = maps
    far = write_geotiff(tmp_path / "far.tif", labels, crs_wkt=UTM.ExportToWkt(),
                        geotransform=_shifted(GT, dx=3500.0))
    with pytest.raises(InputError, match="does not overlap the score raster: it covers x 486500"):
        jobs.evaluate(score, far)


def test_a_ground_truth_in_another_crs_is_refused(maps, tmp_path):
    score, _, labels = maps
    other = write_geotiff(tmp_path / "other.tif", labels, crs_wkt=CUSTOM_WKT, geotransform=GT)
    with pytest.raises(InputError, match="is in Custom TM test but the score is in WGS 84 / UTM "
                                         r"zone 11N \(EPSG:32611\)"):
        jobs.evaluate(score, other)


def _polygons(path, srs, box):
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("truth", srs=srs, geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    x0, y0, x1, y1 = box
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"))
    layer.CreateFeature(feature)
    ds = None
    return path


def test_polygons_without_a_crs_get_one_clear_line_and_no_proj_flood(maps, tmp_path, capfd):
    score, _, _ = maps
    vector = _polygons(tmp_path / "nocrs.gpkg", None, (483120, 3619920, 483129, 3619911))
    code = cli.main(["evaluate", str(score), str(vector)])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if ": error:" in line]
    assert code == 1
    assert len(lines) == 1 and "have no CRS, but the score raster is in WGS 84 / UTM" in lines[0]
    assert "PROJ" not in err and "ERROR 1" not in err


def test_polygons_in_the_scores_crs_are_burnt_and_far_ones_refused(maps, tmp_path):
    score, _, _ = maps
    near = _polygons(tmp_path / "near.gpkg", UTM, (483120, 3619920, 483129, 3619911))
    assert jobs.evaluate(score, near).anomaly_pixels == 9
    far = _polygons(tmp_path / "far.gpkg", UTM, (583120, 3619920, 583129, 3619911))
    with pytest.raises(InputError, match="None of the ground-truth polygons .* covers a pixel"):
        jobs.evaluate(score, far)


def test_an_all_nan_score_blames_the_score(maps, tmp_path):
    _, truth, _ = maps
    empty = write_geotiff(tmp_path / "nan.tif", np.full((40, 50), np.nan, np.float32),
                          crs_wkt=UTM.ExportToWkt(), geotransform=GT, nodata=float("nan"))
    with pytest.raises(InputError, match="The score raster .*nan.tif' has no valid pixel"):
        jobs.evaluate(empty, truth)


def test_an_envi_file_cut_in_half_is_an_error(tmp_path):
    cube, _ = synthetic_scene(bands=5, height=40, width=50)
    image = write_envi(tmp_path / "cube.img", cube)
    data = image.read_bytes()
    image.write_bytes(data[:len(data) // 2])
    with pytest.raises(RasterReadError, match=r"shorter than its header says: .* holds 20000 bytes "
                                              r"but 50 x 40 pixels x 5 bands need 40000"):
        jobs.detect(image, tmp_path / "s.tif", method="rx")
    assert not (tmp_path / "s.tif").exists()


def test_rx_refuses_fewer_pixels_than_bands(tmp_path):
    cube = np.random.default_rng(0).random((50, 7, 7)).astype(np.float32)  # 49 pixels, 50 bands
    path = write_geotiff(tmp_path / "small.tif", cube)
    with pytest.raises(InputError, match=r"has 49 valid pixel\(s\) for 50 bands; RX needs more "
                                         r"pixels than bands \(at least 51\).*at most 48 bands"):
        jobs.detect(path, tmp_path / "s.tif", method="rx")
    assert jobs.detect(path, tmp_path / "s.tif", method="rx", bands="1-48").valid_pixels == 49


def test_a_raster_smaller_than_one_block_says_so(tmp_path):
    cube, _ = synthetic_scene(bands=12, height=10, width=10)
    path = write_geotiff(tmp_path / "tiny.tif", cube)
    with pytest.raises(InputError, match="is 10 x 10 pixels, smaller than the 16 x 16 pixel blocks"):
        jobs.detect(path, tmp_path / "s.tif", device="cpu")


def _rgba(path, cube, alpha):
    bands, height, width = cube.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands + 1,
                                              gdal.GDT_Float32, ["PHOTOMETRIC=RGB", "ALPHA=YES"])
    for i in range(bands):
        ds.GetRasterBand(i + 1).WriteArray(cube[i])
    ds.GetRasterBand(bands + 1).WriteArray(alpha.astype(np.float32))
    ds = None
    return path


def test_an_alpha_band_is_a_mask_not_a_spectrum(tmp_path):
    cube, _ = synthetic_scene(bands=3, height=20, width=20)
    alpha = np.full((20, 20), 255)
    alpha[:, :5] = 0
    path = _rgba(tmp_path / "rgba.tif", cube, alpha)
    with open_raster(path) as source:
        assert source.band_indices == (1, 2, 3)
        _, valid = source.read_window(source.full_window)
    assert not valid[:, :5].any() and valid[:, 5:].all()
    result = jobs.detect(path, tmp_path / "s.tif", method="rx")
    score = read_band(tmp_path / "s.tif")
    assert result.bands == 3 and np.isnan(score[:, :5]).all() and np.isfinite(score[:, 5:]).all()
    with pytest.raises(InputError, match="Band 4 of .* is its alpha \\(transparency\\) band"):
        jobs.detect(path, tmp_path / "s2.tif", method="rx", bands="1-4")


def test_an_internal_mask_band_marks_invalid_pixels(tmp_path):
    cube, _ = synthetic_scene(bands=4, height=20, width=20)
    path = write_geotiff(tmp_path / "masked.tif", cube)
    ds = gdal.Open(str(path), gdal.GA_Update)
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    try:
        ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    finally:
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
    mask = np.full((20, 20), 255, np.uint8)
    mask[3:6, 3:6] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    ds = None
    jobs.detect(path, tmp_path / "s.tif", method="rx")
    score = read_band(tmp_path / "s.tif")
    assert np.isnan(score[3:6, 3:6]).all() and np.isfinite(score).sum() == 400 - 9


def test_a_folder_given_as_the_model_says_it_is_a_folder(tmp_path):
    cube, _ = synthetic_scene(bands=12, height=20, width=20)
    path = write_geotiff(tmp_path / "scene.tif", cube)
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(Exception, match="is a folder, not a model file"):
        jobs.apply_model(folder, path, tmp_path / "s.tif")
