"""The engine's facade: one function per user-level task, called by the CLI and the QGIS layer.

``detect``, ``fit`` and ``apply_model`` live here; ``threshold``, ``evaluate`` and ``import_mat``
(tasks on finished maps and benchmark scenes) live in :mod:`.map_jobs` and are re-exported.

Every function takes keyword-only options, validates all outputs before any work starts, writes
files atomically (nothing is left behind on an error or a cancel), logs through
``logging.getLogger(__name__)`` and raises only :class:`~.errors.Dms2fError` subclasses for
anything a user can cause (bad input, unwritable output, missing dependency, cancel).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..detectors.local_background import DEFAULT_LOCAL_WINDOW, with_local_background
from ..detectors.model_file import check_model_path
from ..detectors.rx_fusion import FUSION_METADATA, RxFusedScorer
from ..detectors.tiled import TileExecutor, TileScorer, score_raster
from ..errors import InputError, ModelFileError, user_errors
from ..io.bands import format_band_list
from ..io.destinations import space_shortfall
from ..io.raster import BandSpec, RasterSource, open_raster
from ..io.statistics import SceneStatistics, check_usable
from ..io.writer import Outputs, validate_output_path
from ..progress import NullProgress, Progress, SubProgress
from ..types import PathLike
from .map_jobs import evaluate, import_mat, threshold
from .preflight import check_detect_options, check_raster_settings
from .results import DetectResult, EvaluationResult, FitResult, ImportResult, ThresholdResult

__all__ = ["DetectResult", "EvaluationResult", "FitResult", "ImportResult", "ThresholdResult",
           "METHODS", "apply_model", "detect", "evaluate", "fit", "import_mat", "threshold"]

LOGGER = logging.getLogger(__name__)
METHODS = ("dms2f", "rx", "lrx")
MIN_BANDS = 2
DEFAULT_BATCH_SIZE = 64


def _dms2f_scorer(scorer_cls: Any, fitted: Any, source: RasterSource, device: Any,
                  local_window: int | None) -> TileScorer:
    """The DMS2F-HAD scorer with the background correction ``local_window`` asks for."""
    scorer = scorer_cls(fitted, source.height, source.width, device=device,
                        batch_size=DEFAULT_BATCH_SIZE)
    return with_local_background(scorer, local_window, source.height, source.width)


def _with_rx_fusion(scorer: TileScorer, source: RasterSource, local_window: int | None,
                    progress: Progress, stats: SceneStatistics | None = None,
                    ) -> TileScorer | RxFusedScorer:
    """The automatic handling (``local_window`` None) fuses the corrected score with global RX.

    Args:
        scorer: the corrected DMS2F-HAD scorer.
        source: the raster being scored.
        local_window: the user's correction; only the automatic one (None) is fused.
        progress: the statistics pass's progress (when ``stats`` is None).
        stats: statistics of ``source`` with the covariance, when already computed.

    Returns:
        An :class:`~..detectors.rx_fusion.RxFusedScorer`, or ``scorer`` unchanged for another
        correction or a raster with too few pixels for RX (logged).
    """
    if local_window is not None:
        return scorer
    from ..detectors.rx import GlobalRxScorer, check_enough_pixels

    stats = stats if stats is not None else source.statistics(covariance=True, progress=progress)
    try:
        check_enough_pixels(stats, source.path)
    except InputError as exc:
        LOGGER.warning("The score is not fused with global RX: %s", exc)
        return scorer
    return RxFusedScorer(scorer, GlobalRxScorer.from_statistics(stats))


def _full_path(path: PathLike) -> str:
    """A file's absolute path; a GDAL name that is no file (``/vsizip/...``, ``NETCDF:...``) as is."""
    text = os.fspath(path)
    return os.path.abspath(text) if os.path.isfile(text) else text


def _correction_metadata(local_window: int | None,
                         scorer: TileScorer | RxFusedScorer) -> dict[str, str]:
    """What the score's metadata records of the correction and the fusion."""
    return {"local_window": "auto" if local_window is None else str(local_window),
            "rx_fusion": FUSION_METADATA if isinstance(scorer, RxFusedScorer) else "off"}


def _check_space(out: Path, source: RasterSource, method: str,
                 local_window: int | None) -> None:
    """Warn before any work when the score and its temporary maps may not fit beside ``out``.

    Each map is float32 on the raster's grid; the automatic DMS2F correction keeps three beside
    the score until it is written (the network's, RX's and the corrected scores), a square
    window one, anything else none.
    """
    if method != "dms2f" or local_window == 0:
        maps, what = 1, "the score"
    elif local_window is None:
        maps, what = 4, "the score and its 3 temporary maps"
    else:
        maps, what = 2, "the score and its temporary map"
    shortfall = space_shortfall(out, maps * 4 * source.width * source.height, what)
    if shortfall:
        LOGGER.warning("%s", shortfall)


def _usable_source(input_path: PathLike, bands: BandSpec, keep_all_bands: bool = False) -> RasterSource:
    """Open a detection input (>= MIN_BANDS bands); a missing CRS is allowed but warned.

    Without an explicit ``bands`` list, bad bands (``bbl``) or, without such a list, the
    water-vapour bands are dropped unless ``keep_all_bands``.
    """
    source = open_raster(input_path, bands=bands, min_bands=MIN_BANDS,
                         drop_bad_bands=not keep_all_bands)
    if not source.info.has_crs:
        LOGGER.warning("'%s' has no CRS: the outputs are on the same local pixel grid, without "
                       "georeferencing (assign a CRS to the input to georeference them).",
                       source.path)
    return source


def _dms2f_parts() -> tuple[Any, Any]:
    """The lead's fitting and scoring code, imported only when DMS2F is used (needs torch)."""
    from ..detectors.device import _torch

    _torch()  # a clear DependencyError when torch is missing
    from ..detectors.dms2f_scorer import Dms2fScorer
    from ..detectors.fitting import fit_scene

    return fit_scene, Dms2fScorer


def _save_model(fitted: Any, model_path: Path, outputs: Outputs | None = None) -> None:
    """Save through the engine's writer: the model file appears only complete and verified."""
    fitted.save(model_path, outputs=outputs)


@user_errors
def detect(input_path: PathLike, output_path: PathLike, *, method: str = "dms2f",
           bands: BandSpec = None, keep_all_bands: bool = False, preset: str = "fast",
           device: str = "auto", seed: int = 0, threads: int | None = None,
           steps: int | None = None, save_model: PathLike | None = None,
           local_window: int | None = DEFAULT_LOCAL_WINDOW,
           inner_window: int = 5, outer_window: int = 21, tile_size: int = 512,
           progress: Progress | None = None,
           executor: TileExecutor | None = None) -> DetectResult:
    """Detect anomalies in a raster and write a float32 score GeoTIFF on the same grid.

    Args:
        input_path: any GDAL raster or a benchmark .mat file.
        output_path: the score GeoTIFF (.tif); nodata (NaN) where the input is invalid.
        method: ``"dms2f"`` (fit DMS2F-HAD on this scene, then score), ``"rx"`` (global RX)
            or ``"lrx"`` (local dual-window RX).
        bands: band selection (``"1-10,15"`` or 1-based list); None = all but bad bands (the
            file's ``bbl``, or without one the water-vapour bands of a file with wavelengths).
        keep_all_bands: with ``bands`` None, keep every band of the file (no bad-band or
            water-vapour removal).
        preset: DMS2F fitting preset (``"fast"`` or ``"paper"``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (DMS2F only).
        seed: DMS2F seed (reproducible on the CPU).
        threads: CPU threads for torch (None = default).
        steps: DMS2F optimiser steps instead of the preset's (None = the preset's).
        save_model: also save the fitted DMS2F model here (written after detection succeeds).
        local_window: DMS2F only, the background correction (:mod:`..detectors.local_background`):
            None the automatic one (line medians: removes broad structures, keeps compact
            targets up to about 22 pixels across; then fused with global RX), 0 none, an odd
            N the N x N median (also removes targets over about N * N / 2 pixels).
        inner_window: LRX guard window (odd).
        outer_window: LRX outer window (odd, > inner).
        tile_size: I/O tile edge in pixels; bounds memory, never changes the result.
        progress: progress/cancel sink.
        executor: scores the tiles in other processes (``app.tile_parallel``) after fitting
            here; the map is the same as without it (None: every tile in this process).

    Returns:
        A :class:`DetectResult`.

    Raises:
        InputError, RasterReadError, OutputError, DependencyError, CancelledError.
    """
    check_detect_options(method=method, preset=preset, device=device, seed=seed,
                         threads=threads, steps=steps, local_window=local_window,
                         inner_window=inner_window, outer_window=outer_window, tile_size=tile_size)
    started = time.perf_counter()
    progress = progress or NullProgress()
    out = validate_output_path(output_path, inputs=[input_path])
    model_out = None
    if save_model is not None:
        if method != "dms2f":
            raise InputError(f"--save-model only applies to method dms2f, not '{method}'.")
        model_out = validate_output_path(save_model, inputs=[input_path, out], extensions=None,
                                         what="model file")
    fit_seconds = None
    with _usable_source(input_path, bands, keep_all_bands) as source:
        check_raster_settings(source.path, width=source.width, height=source.height,
                              bands=source.band_count, method=method, tile_size=tile_size,
                              local_window=local_window, inner_window=inner_window,
                              outer_window=outer_window, fitting=method == "dms2f")
        _check_space(out, source, method, local_window)
        meta = {"method": method, "input": _full_path(input_path),
                "bands": format_band_list(source.band_indices)}
        scorer: TileScorer | RxFusedScorer
        if method == "dms2f":
            from ..detectors.device import resolve_device

            fit_scene, scorer_cls = _dms2f_parts()
            fitted = fit_scene(source, preset=preset, device=device, seed=seed, threads=threads,
                               steps=steps, progress=SubProgress(progress, 0, 60),
                               covariance=local_window is None)  # RX's, for the fusion
            fit_seconds = time.perf_counter() - started
            torch_device = resolve_device(device, announce=False)  # the fit announced it
            scorer = _with_rx_fusion(
                _dms2f_scorer(scorer_cls, fitted, source, torch_device, local_window), source,
                local_window, SubProgress(progress, 60, 65))
            used = str(torch_device)
            meta.update(preset=preset, seed=str(seed), steps=str(fitted.steps),
                        **_correction_metadata(local_window, scorer))
            rest = SubProgress(progress, 65, 100)
        else:
            scorer = _rx_scorer(source, method, inner_window, outer_window,
                                SubProgress(progress, 0, 30))
            used, rest = "cpu", SubProgress(progress, 30, 100)
            if method == "lrx":
                meta.update(inner_window=str(inner_window), outer_window=str(outer_window))
        with Outputs() as outputs:  # the score and the model are published together, or neither
            summary = score_raster(source, out, scorer, tile_size=tile_size, progress=rest,
                                   metadata=meta, outputs=outputs, executor=executor)
            if model_out is not None:
                _save_model(fitted, model_out, outputs)
        result = DetectResult(output_path=out, method=method, device=used,
                              seconds=time.perf_counter() - started, fit_seconds=fit_seconds,
                              width=source.width, height=source.height, bands=source.band_count,
                              valid_pixels=summary.valid_pixels, tiles=summary.tiles,
                              model_path=model_out)
    LOGGER.debug("detect %s: %s in %.1f s on %s", method, out, result.seconds, used)
    return result


def _rx_scorer(source: RasterSource, method: str, inner: int, outer: int,
               progress: Progress) -> TileScorer:
    """Global or local RX scorer after the statistics (and covariance) pass."""
    from ..detectors.rx import GlobalRxScorer, LocalRxScorer, check_enough_pixels

    if method == "lrx":  # validate the windows before the pass
        LocalRxScorer.check_windows(inner, outer)
    stats = source.statistics(covariance=True, progress=progress)
    check_usable(stats, source.path)
    check_enough_pixels(stats, source.path)
    if method == "rx":
        return GlobalRxScorer.from_statistics(stats)
    return LocalRxScorer(stats, inner_window=inner, outer_window=outer)


@user_errors
def fit(input_path: PathLike, model_path: PathLike, *, bands: BandSpec = None,
        keep_all_bands: bool = False, preset: str = "fast", device: str = "auto", seed: int = 0,
        threads: int | None = None, steps: int | None = None, progress: Progress | None = None) -> FitResult:
    """Fit DMS2F-HAD on a scene (no labels) and save the model file.

    Args:
        input_path: the raster to fit on.
        model_path: the model file to write (self-describing, no pickle).
        bands: band selection; the model remembers it.
        keep_all_bands: with ``bands`` None, keep every band (no bad-band or water-vapour
            removal).
        preset: ``"fast"`` or ``"paper"``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: seed of the fit.
        threads: CPU threads for torch.
        steps: optimiser steps instead of the preset's (None = the preset's).
        progress: progress/cancel sink.

    Returns:
        A :class:`FitResult`.

    Raises:
        InputError, RasterReadError, OutputError, DependencyError, CancelledError.
    """
    check_detect_options(method="dms2f", preset=preset, device=device, seed=seed,
                         threads=threads, steps=steps)
    started = time.perf_counter()
    model_out = validate_output_path(model_path, inputs=[input_path], extensions=None,
                                     what="model file")
    fit_scene, _ = _dms2f_parts()
    with _usable_source(input_path, bands, keep_all_bands) as source:
        check_raster_settings(source.path, width=source.width, height=source.height,
                              bands=source.band_count, method="dms2f", tile_size=512,
                              fitting=True)
        fitted = fit_scene(source, preset=preset, device=device, seed=seed, threads=threads,
                           steps=steps, progress=progress or NullProgress())
        _save_model(fitted, model_out)
        bands_used = source.band_count
    from ..detectors.device import resolve_device

    used = str(resolve_device(device, announce=False))  # the fit announced it
    return FitResult(model_path=model_out, device=used, seconds=time.perf_counter() - started,
                     bands=bands_used, preset=preset, seed=seed)


def _open_for_model(fitted: Any, input_path: PathLike, model_path: PathLike) -> RasterSource:
    """Open ``input_path`` with the model's band selection; refuse another band set."""
    indices = tuple(fitted.band_indices)
    try:
        source = open_raster(input_path, bands=list(indices), min_bands=1)
    except InputError as exc:
        raise ModelFileError(
            f"The model '{model_path}' was fitted on {len(indices)} band(s) (bands "
            f"{indices[0]}..{indices[-1]}) but '{input_path}' does not have them ({exc}). Apply "
            "it to a raster with the same band set, or fit a new model on this raster.") from None
    expected = fitted.raster_band_count
    if expected is not None and expected != source.info.band_count:
        source.close()
        raise ModelFileError(
            f"The model '{model_path}' was fitted on a raster with {expected} bands but "
            f"'{input_path}' has {source.info.band_count}; apply it to a raster with the same "
            "band set, or fit a new model on this raster.")
    theirs, ours = fitted.wavelengths_nm, source.wavelengths_nm
    if theirs and ours and max(abs(a - b) for a, b in zip(theirs, ours)) > 1.0:
        LOGGER.warning("The raster's wavelengths differ from the model's by more than 1 nm; "
                       "scores may be meaningless.")
    return source


@user_errors
def apply_model(model_path: PathLike, input_path: PathLike, output_path: PathLike, *,
                device: str = "auto", threads: int | None = None,
                local_window: int | None = DEFAULT_LOCAL_WINDOW, tile_size: int = 512,
                progress: Progress | None = None) -> DetectResult:
    """Score a raster with a saved DMS2F-HAD model (no fitting).

    Args:
        model_path: a file written by :func:`fit` or ``detect(save_model=...)``.
        input_path: raster with the same band set as the model's.
        output_path: the score GeoTIFF.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        threads: CPU threads for torch.
        local_window: the background correction: None automatic (line medians), 0 off, N an
            N x N median.
        tile_size: I/O tile edge.
        progress: progress/cancel sink.

    Returns:
        A :class:`DetectResult` (``fit_seconds`` None).

    Raises:
        ModelFileError: missing, a folder, corrupt, unsafe (pickle), outside the model-file
            schema, or mismatching model file.
        InputError, RasterReadError, OutputError, DependencyError, CancelledError.
    """
    check_detect_options(method="dms2f", device=device, threads=threads,
                         local_window=local_window, tile_size=tile_size)
    started = time.perf_counter()
    progress = progress or NullProgress()
    check_model_path(model_path)
    out = validate_output_path(output_path, inputs=[input_path, model_path])
    _, scorer_cls = _dms2f_parts()
    from ..detectors.device import resolve_device, set_threads
    from ..detectors.model_file import FittedModel

    torch_device = resolve_device(device)
    set_threads(threads)
    fitted = FittedModel.load(model_path, device=str(torch_device))
    with _open_for_model(fitted, input_path, model_path) as source:
        check_raster_settings(source.path, width=source.width, height=source.height,
                              bands=source.band_count, method="dms2f", tile_size=tile_size,
                              local_window=local_window)
        _check_space(out, source, "dms2f", local_window)
        stats = source.statistics(covariance=local_window is None,  # RX's, for the fusion
                                  progress=SubProgress(progress, 0, 10))
        check_usable(stats, source.path)
        scorer = _with_rx_fusion(
            _dms2f_scorer(scorer_cls, fitted, source, torch_device, local_window), source,
            local_window, progress, stats=stats)
        summary = score_raster(source, out, scorer, tile_size=tile_size,
                               progress=SubProgress(progress, 10, 100),
                               metadata={"method": "dms2f", "model": os.fspath(model_path),
                                         **_correction_metadata(local_window, scorer)})
        return DetectResult(output_path=out, method="dms2f", device=str(torch_device),
                            seconds=time.perf_counter() - started, fit_seconds=None,
                            width=source.width, height=source.height, bands=source.band_count,
                            valid_pixels=summary.valid_pixels, tiles=summary.tiles,
                            model_path=Path(model_path))
