"""Small, immutable result records returned by :mod:`.jobs` (what was written, how long it took)."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class DetectResult:
    """Outcome of ``detect`` / ``apply_model``.

    Attributes:
        output_path: the score GeoTIFF written.
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        device: where the work ran (``"cpu"``, ``"cuda:0"``; RX runs on the CPU with numpy).
        seconds: total wall time.
        fit_seconds: time spent fitting (DMS2F ``detect`` only), else None.
        width: raster columns.
        height: raster rows.
        bands: bands used.
        valid_pixels: pixels scored (the rest are nodata in the output).
        tiles: I/O tiles processed.
        model_path: the model file saved or applied, if any.
    """

    output_path: Path
    method: str
    device: str
    seconds: float
    fit_seconds: float | None
    width: int
    height: int
    bands: int
    valid_pixels: int
    tiles: int
    model_path: Path | None = None


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of ``fit``: the model file, the device, the time and the bands it expects."""

    model_path: Path
    device: str
    seconds: float
    bands: int
    preset: str
    seed: int


@dataclasses.dataclass(frozen=True)
class ThresholdResult:
    """Outcome of ``threshold``.

    Attributes:
        mask_path: the uint8 mask (1 anomaly, 0 background, 255 nodata).
        vector_path: the detections GeoPackage, if asked for.
        method: the threshold method.
        value: the method's parameter as used (default filled in), None for Otsu.
        threshold: the score threshold applied (anomaly where score > threshold).
        anomaly_pixels: pixels flagged after the minimum-size filter.
        objects: 8-connected objects (None when neither polygons nor a minimum size were asked).
        seconds: wall time.
    """

    mask_path: Path
    vector_path: Path | None
    method: str
    value: float | None
    threshold: float
    anomaly_pixels: int
    objects: int | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Outcome of ``evaluate``: the AUCs (see :mod:`.evaluate`) and the files written."""

    auc: float
    auc_d_tau: float
    auc_f_tau: float
    auc_td: float
    auc_bs: float
    auc_snpr: float
    anomaly_pixels: int
    background_pixels: int
    plot_path: Path | None
    report_path: Path | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """Outcome of ``import_mat``: files written and the scene's size."""

    cube_path: Path
    gt_path: Path | None
    rows: int
    cols: int
    bands: int
    anomaly_pixels: int | None
    seconds: float
