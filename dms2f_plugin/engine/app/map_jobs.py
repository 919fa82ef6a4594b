"""Jobs on finished score maps and benchmark scenes: threshold, evaluate, import a .mat scene.

Part of the :mod:`.jobs` facade (re-exported there; call them through ``jobs``). Same rules:
keyword-only options, outputs validated before any work, atomic writes, only
:class:`~.errors.Dms2fError` subclasses raised.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..bounds import check_min_size
from ..errors import InputError, user_errors
from ..io.raster import open_raster
from ..io.raster_writer import RasterWriter, mask_writer
from ..io.window import Window
from ..io.writer import Outputs, validate_output_path
from ..progress import NullProgress, Progress, SubProgress
from ..types import PathLike
from .preflight import check_threshold_options
from .results import EvaluationResult, ImportResult, ThresholdResult


@user_errors
def threshold(score_path: PathLike, mask_path: PathLike, *, method: str = "percentile",
              value: float | None = None, min_size: int = 1,
              vector_path: PathLike | None = None,
              progress: Progress | None = None) -> ThresholdResult:
    """Turn a score raster into a binary mask (and optionally detection polygons).

    Args:
        score_path: single-band score raster.
        mask_path: uint8 GeoTIFF to write (1 anomaly, 0 background, 255 nodata).
        method: ``"percentile"`` (default value 99.5: top 0.5 %), ``"sigma"`` (default 3:
            mean + 3 std), ``"otsu"`` (no value) or ``"value"`` (a score; required).
        value: the method's parameter.
        min_size: drop 8-connected objects smaller than this many pixels.
        vector_path: also write one polygon per object to this GeoPackage (.gpkg).
        progress: progress/cancel sink.

    Returns:
        A :class:`ThresholdResult`.

    Raises:
        InputError, RasterReadError, OutputError, CancelledError.
    """
    from ..io.tiles import iter_windows
    from ..products.polygons import write_detections
    from ..products.threshold import DEFAULT_VALUES, build_mask, compute_threshold

    started = time.perf_counter()
    progress = progress or NullProgress()
    value = check_threshold_options(method, value, min_size)
    mask_out = validate_output_path(mask_path, inputs=[score_path], what="mask")
    vector_out = None
    if vector_path is not None:
        vector_out = validate_output_path(vector_path, inputs=[score_path, mask_path],
                                          extensions=(".gpkg",), what="detections file")
    with open_raster(score_path, min_bands=1) as source:
        if source.info.band_count != 1:
            raise InputError(f"'{score_path}' has {source.info.band_count} bands; give the "
                             "single-band score raster written by 'dms2f-had detect'.")
        check_min_size(min_size, source.width * source.height)
        cut = compute_threshold(source, method, value, SubProgress(progress, 0, 40))
        mask = build_mask(source, cut, min_size=min_size, progress=SubProgress(progress, 40, 60))
        objects = None
        with Outputs() as outputs:
            with mask_writer(mask_out, source.info, metadata={"threshold": repr(cut),
                                                              "method": method},
                             outputs=outputs) as writer:
                for window in iter_windows(source.width, source.height, 1024):
                    writer.write(window, mask[window.slices_in(source.full_window)])
            if vector_out is not None:
                objects = write_detections(mask, source, vector_out,
                                           SubProgress(progress, 70, 100), outputs=outputs)
        if objects is None and min_size > 1:
            from scipy import ndimage

            from ..products.threshold import EIGHT_CONNECTED

            objects = int(ndimage.label(mask == 1, structure=EIGHT_CONNECTED)[1])
    used_value = None if method == "otsu" else (value if value is not None
                                                else DEFAULT_VALUES.get(method))
    progress.set_progress(100.0)
    return ThresholdResult(mask_path=mask_out, vector_path=vector_out, method=method,
                           value=used_value, threshold=cut,
                           anomaly_pixels=int((mask == 1).sum()), objects=objects,
                           seconds=time.perf_counter() - started)


@user_errors
def evaluate(score_path: PathLike, ground_truth_path: PathLike, *,
             plot_path: PathLike | None = None,
             report_path: PathLike | None = None) -> EvaluationResult:
    """Evaluate a score raster against ground truth (ROC AUC, AUC(D,tau), AUC(F,tau)).

    Args:
        score_path: single-band score raster.
        ground_truth_path: raster on the same grid (nonzero = anomaly) or polygons.
        plot_path: also draw the ROC curve into this PNG.
        report_path: also write an HTML report (numbers + ROC plot).

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        InputError, RasterReadError, OutputError, DependencyError (matplotlib for the plot).
    """
    from ..products.evaluate import evaluate_rasters
    from ..products.report import write_html_report, write_roc_plot

    started = time.perf_counter()
    inputs = [score_path, ground_truth_path]
    plot_out = None if plot_path is None else validate_output_path(
        plot_path, inputs=inputs, extensions=(".png",), what="ROC plot")
    report_out = None if report_path is None else validate_output_path(
        report_path, inputs=inputs, extensions=(".html", ".htm"), what="report")
    ev = evaluate_rasters(score_path, ground_truth_path)
    if plot_out is not None:
        write_roc_plot(ev, plot_out, title=Path(score_path).name)
    if report_out is not None:
        write_html_report(ev, report_out, score_path=score_path,
                          ground_truth_path=ground_truth_path)
    return EvaluationResult(auc=ev.auc, auc_d_tau=ev.auc_d_tau, auc_f_tau=ev.auc_f_tau,
                            auc_td=ev.auc_td, auc_bs=ev.auc_bs, auc_snpr=ev.auc_snpr,
                            anomaly_pixels=ev.anomaly_pixels,
                            background_pixels=ev.background_pixels, plot_path=plot_out,
                            report_path=report_out, seconds=time.perf_counter() - started)


@user_errors
def import_mat(mat_path: PathLike, cube_path: PathLike,
               gt_path: PathLike | None = None) -> ImportResult:
    """Convert a benchmark scene to a GeoTIFF cube (+ a uint8 ground-truth GeoTIFF).

    The cube is pixel-interleaved (all bands of a pixel together: fast spatial windows), tiled
    and DEFLATE-compressed, in the file's numeric type; neither output has a CRS (a local pixel
    grid). Outputs are written atomically.

    Args:
        mat_path: the .mat file.
        cube_path: output cube (.tif).
        gt_path: output ground truth (.tif), 1 = anomaly; needs a ground truth in the file.

    Returns:
        An :class:`~.results.ImportResult`.

    Raises:
        RasterReadError, InputError: unreadable file, no cube, no ground truth when asked for.
        OutputError: unwritable outputs, or an output equal to the input.
    """
    started = time.perf_counter()
    cube_out = validate_output_path(cube_path, inputs=[mat_path], what="cube output")
    gt_out = None
    if gt_path is not None:
        gt_out = validate_output_path(gt_path, inputs=[mat_path, cube_path],
                                      what="ground-truth output")
    from ..io.matfile import GT_KEYS, load_mat

    scene = load_mat(mat_path)
    if gt_out is not None and scene.ground_truth is None:
        raise InputError(f"'{mat_path}' has no ground truth (looked for {', '.join(GT_KEYS)}); "
                         "leave out the ground-truth output.")
    rows, cols, bands = scene.cube.shape
    with Outputs() as outputs:  # the cube and its ground truth are published together
        with RasterWriter(cube_out, width=cols, height=rows, dtype=scene.cube.dtype.name,
                          bands=bands, nodata=None, crs_wkt=None, geotransform=None,
                          outputs=outputs) as cube_writer:
            cube_writer.write(Window(0, 0, cols, rows), np.moveaxis(scene.cube, 2, 0))
        if gt_out is not None and scene.ground_truth is not None:
            with RasterWriter(gt_out, width=cols, height=rows, dtype="uint8", nodata=None,
                              crs_wkt=None, geotransform=None, outputs=outputs) as gt_writer:
                gt_writer.write(Window(0, 0, cols, rows), scene.ground_truth)
    anomalies = None if scene.ground_truth is None else int(scene.ground_truth.sum())
    return ImportResult(cube_path=cube_out, gt_path=gt_out, rows=rows, cols=cols, bands=bands,
                        anomaly_pixels=anomalies, seconds=time.perf_counter() - started)
