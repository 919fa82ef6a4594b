"""The fitted-model file: what a fitted DMS2F-HAD carries, and its schema on disk.

A model file is a safetensors file (see ``models.checkpoint``: weights, network config, no
pickle) whose metadata holds the engine's part, described here: the normalisation, the residual
calibration (its arrays as tensors beside the weights), the band indices and wavelengths, the
preset, seed, steps and the plugin version.

Loading validates the file against that schema before the network is built (``models`` bounds
every config field and compares the stored weights' shapes with the config first): every field's
type, finite values and sizes, so that a hostile or damaged file is refused with one line naming
the field instead of crashing or producing an all-NaN map. Saving goes through the engine's
writer: the file appears only complete, verified by loading it back.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import SEED_MAX, STEPS_MAX
from ..errors import ModelFileError
from ..io.destinations import write_failure
from ..io.writer import Outputs, atomic_output
from ..types import PathLike
from .normalisation import Normalisation
from .residual_score import ResidualCalibration

#: Most bands a source raster of a model may have had (far beyond any sensor).
MAX_RASTER_BANDS = 1_000_000
_REFIT = "fit and save the model again with 'dms2f-had fit' or the Detect anomalies algorithm"


@dataclasses.dataclass
class FittedModel:
    """A network fitted to a scene, with everything needed to apply it to another raster.

    Attributes:
        network: the fitted ``models.Dms2fHad`` in eval mode.
        normalisation: the scaling the network was fitted with.
        calibration: the statistics of its residuals that turn a residual into a score.
        band_indices: 1-based bands of the source raster it was fitted on.
        wavelengths_nm: their wavelengths, when the raster said.
        preset: the preset name.
        seed: the seed of the fit.
        raster_band_count: bands of the whole source file (a model applies only to rasters with
            the same band layout), or None for files written before it was recorded.
        steps: optimiser steps of the fit, or None for files written before it was recorded.
        fit_seconds: wall time of the fit.
    """

    network: Any
    normalisation: Normalisation
    calibration: ResidualCalibration
    band_indices: tuple[int, ...]
    wavelengths_nm: tuple[float, ...] | None
    preset: str
    seed: int
    raster_band_count: int | None = None
    steps: int | None = None
    fit_seconds: float = 0.0

    @property
    def bands(self) -> int:
        """Number of bands the network reconstructs."""
        return len(self.band_indices)

    def save(self, path: PathLike, *, outputs: Outputs | None = None) -> None:
        """Write a self-describing model file (safetensors; no pickle) to ``path``, atomically.

        Args:
            path: the model file (validated by the caller before the fit).
            outputs: the run's transaction when the model is published together with a score;
                None publishes it as soon as it is written and verified.

        Raises:
            OutputError: the file could not be written or does not load back (the message names
                the OS's reason); no partial file is left.
        """
        import torch

        from ....models import save_model
        from ...metadata import plugin_version

        arrays = {f"calibration.{name}": torch.from_numpy(np.ascontiguousarray(value))
                  for name, value in self.calibration.to_arrays().items()}
        metadata = {
            "normalisation": self.normalisation.to_dict(),
            "calibration": self.calibration.to_metadata(),
            "band_indices": list(self.band_indices),
            "wavelengths_nm": None if self.wavelengths_nm is None else list(self.wavelengths_nm),
            "preset": self.preset,
            "seed": self.seed,
            "raster_band_count": self.raster_band_count,
            "steps": self.steps,
            "plugin_version": plugin_version(),
        }
        final = Path(path)
        with atomic_output(final, sidecars=(), verify=_verify_written,
                           outputs=outputs) as temp:
            try:
                mode = _new_file_mode(temp)
                save_model(str(temp), self.network, extra_tensors=arrays, metadata=metadata)
                os.chmod(temp, mode)  # safetensors writes 0600; a model is shared like a score
            except Exception as exc:  # noqa: BLE001 - safetensors and the OS raise many types
                raise write_failure(final, exc, temp) from None

    def to_bytes(self) -> bytes:
        """The bytes of the model file :meth:`save` writes."""
        with tempfile.TemporaryDirectory(prefix="dms2f_model_") as folder:
            path = Path(folder) / "model.safetensors"
            self.save(path)
            return path.read_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, device: str = "cpu") -> FittedModel:
        """Inverse of :meth:`to_bytes` (the same checks as :meth:`load`)."""
        with tempfile.TemporaryDirectory(prefix="dms2f_model_") as folder:
            path = Path(folder) / "model.safetensors"
            path.write_bytes(data)
            return cls.load(path, device=device)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the model file (safetensors), never as torch's pickled modules.

        What a Dask worker receives is exactly what :meth:`save` writes, loaded there on the
        network's device (weights, normalisation and calibration round-trip exactly, so the
        worker's scores equal this process's with the same thread count).
        """
        device = str(next(self.network.parameters()).device)
        return (_unpickle, (self.to_bytes(), device, self.fit_seconds))

    @classmethod
    def load(cls, path: PathLike, *, expected_bands: int | None = None,
             device: str = "cpu") -> FittedModel:
        """Read and validate a model file written by :meth:`save`.

        Args:
            path: the model file.
            expected_bands: refuse a model fitted on another number of bands.
            device: torch device for the network.

        Returns:
            The fitted model.

        Raises:
            ModelFileError: missing, a folder, corrupt, unsafe, foreign, from an older version,
                or a field outside the schema (the message names it).
        """
        from ....models import ModelError, load_model

        check_model_path(path)
        parsed: list[FittedModel] = []

        def check(config: Any, meta: dict[str, Any], extras: dict[str, Any]) -> None:
            parsed.append(_parse(path, config.bands, meta, extras))

        try:
            network, _, _ = load_model(str(path), expected_bands=expected_bands, device=device,
                                       check_metadata=check)
        except ModelError as exc:
            raise ModelFileError(str(exc)) from exc
        model = parsed[0]
        model.network = network.eval()
        return model


def check_model_path(model_path: PathLike) -> Path:
    """The model file, refused early when it is missing or a folder.

    Raises:
        ModelFileError: no such file, or a folder.
    """
    path = Path(model_path)
    if path.is_dir():
        raise ModelFileError(f"The model '{model_path}' is a folder, not a model file; give the "
                             ".safetensors file inside it.")
    if not path.is_file():
        raise ModelFileError(f"Model file '{model_path}' does not exist; check the path or fit "
                             "one with 'dms2f-had fit'.")
    return path


def _unpickle(data: bytes, device: str, fit_seconds: float) -> FittedModel:
    """Rebuild a pickled :class:`FittedModel` (see ``FittedModel.__reduce__``)."""
    fitted = FittedModel.from_bytes(data, device=device)
    fitted.fit_seconds = fit_seconds
    return fitted


def _new_file_mode(path: Path) -> int:
    """The permissions the user's umask gives a new file: ``path`` is created empty to see them.

    (Reading the umask with ``os.umask`` would change it for a moment for every thread of the
    process, QGIS's included.)
    """
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o666))
    return stat.S_IMODE(os.stat(path).st_mode)


def _verify_written(temp: Path) -> None:
    """Load a just-written model file back through the same validation as :meth:`FittedModel.load`."""
    FittedModel.load(temp)


def _bad(path: PathLike, field: str, rule: str, value: Any) -> ModelFileError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ModelFileError(f"Model file '{path}' is damaged or was not written by this plugin: "
                          f"'{field}' must be {rule}, got {shown}; {_REFIT}.")


def _number(path: PathLike, field: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or (positive and not value > 0):
        raise _bad(path, field, "a finite number" + (" > 0" if positive else ""), value)
    return float(value)


def _whole(path: PathLike, field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(path, field, f"a whole number from {low} to {high}", value)
    return value


def _numbers(path: PathLike, field: str, value: Any, length: int) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != length:
        raise _bad(path, field, f"a list of {length} numbers (one per band)", value)
    return tuple(_number(path, f"{field}[{i}]", item) for i, item in enumerate(value))


def _array(path: PathLike, field: str, extras: dict[str, Any], shape: tuple[int | None, ...]
           ) -> np.ndarray:
    tensor = extras.get(field)
    if tensor is None:
        raise _bad(path, field, "a tensor stored with the weights", None)
    array = tensor.detach().cpu().numpy()
    if array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape)):
        want = " x ".join("k" if s is None else str(s) for s in shape)
        raise _bad(path, field, f"an array of shape {want}", f"shape {tuple(array.shape)}")
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise _bad(path, field, "finite floating-point numbers", f"{array.dtype} array")
    return array.astype(np.float64)


def _parse(path: PathLike, bands: int, meta: dict[str, Any], extras: dict[str, Any]) -> FittedModel:
    """Validate the engine's metadata of a model with ``bands`` bands; build the model (no network).

    Raises:
        ModelFileError: naming the first field that breaks the schema.
    """
    if "calibration" not in meta and "normalisation" in meta:
        raise ModelFileError(
            f"'{path}' was written by an earlier version of the plugin, whose models carry no "
            "residual calibration; fit the model again with this version.")
    norm, calib = meta.get("normalisation"), meta.get("calibration")
    if not isinstance(norm, dict):
        raise _bad(path, "normalisation", "an object with minimum, maximum and fill", norm)
    if not isinstance(calib, dict):
        raise _bad(path, "calibration", "an object with medians and spreads", calib)
    low = _number(path, "normalisation.minimum", norm.get("minimum"))
    high = _number(path, "normalisation.maximum", norm.get("maximum"))
    if not high > low:
        raise _bad(path, "normalisation.maximum", f"greater than the minimum {low:g}", high)
    fill = _numbers(path, "normalisation.fill", norm.get("fill"), bands)
    medians = {name: _number(path, f"calibration.{name}", calib.get(name))
               for name in ("length_median", "mahalanobis_median")}
    spreads = {name: _number(path, f"calibration.{name}", calib.get(name), positive=True)
               for name in ("length_spread", "mahalanobis_spread")}
    mean = _array(path, "calibration.mean", extras, (bands,))
    whiten = _array(path, "calibration.whiten", extras, (bands, None))
    if not 1 <= whiten.shape[1] <= bands:
        raise _bad(path, "calibration.whiten", f"1 to {bands} columns", whiten.shape[1])
    raster_bands = meta.get("raster_band_count")
    if raster_bands is not None:
        raster_bands = _whole(path, "raster_band_count", raster_bands, bands, MAX_RASTER_BANDS)
    indices = meta.get("band_indices")
    if not isinstance(indices, list) or len(indices) != bands:
        raise _bad(path, "band_indices", f"a list of {bands} band numbers (one per band)", indices)
    top = raster_bands if raster_bands is not None else MAX_RASTER_BANDS
    band_indices = tuple(_whole(path, f"band_indices[{i}]", b, 1, top) for i, b in enumerate(indices))
    if len(set(band_indices)) != bands:
        raise _bad(path, "band_indices", "distinct band numbers", indices)
    wavelengths = meta.get("wavelengths_nm")
    preset, version = meta.get("preset", "?"), meta.get("plugin_version", "")
    if not isinstance(preset, str) or len(preset) > 64:
        raise _bad(path, "preset", "a preset name", preset)
    if not isinstance(version, str) or len(version) > 64:
        raise _bad(path, "plugin_version", "a version string", version)
    steps = meta.get("steps")
    calibration = ResidualCalibration(mean, whiten, medians["length_median"],
                                      spreads["length_spread"], medians["mahalanobis_median"],
                                      spreads["mahalanobis_spread"])
    return FittedModel(
        network=None,
        normalisation=Normalisation(low, high, np.asarray(fill, dtype=np.float32)),
        calibration=calibration, band_indices=band_indices,
        wavelengths_nm=None if wavelengths is None else _numbers(path, "wavelengths_nm",
                                                                  wavelengths, bands),
        preset=preset, seed=_whole(path, "seed", meta.get("seed", 0), 0, SEED_MAX),
        raster_band_count=raster_bands,
        steps=None if steps is None else _whole(path, "steps", steps, 1, STEPS_MAX))
