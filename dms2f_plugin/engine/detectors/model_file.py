"""The fitted-model file: what a fitted DMS2F-HAD carries, and its schema on disk.

A model file is a safetensors file (see ``models.checkpoint``: weights, network config, no
pickle) whose metadata holds the engine's part, described here: the normalisation, the residual
calibration (its arrays as tensors beside the weights), the band indices and wavelengths, the
preset, seed, steps and the plugin version.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..types import PathLike
from .normalisation import Normalisation
from .residual_score import ResidualCalibration


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

    def save(self, path: PathLike) -> None:
        """Write a self-describing model file (safetensors; no pickle) to ``path``.

        The caller validates the path and makes the write atomic (``jobs._save_model``).
        """
        import torch

        from ....models import save_model
        from ...metadata import plugin_version

        arrays = {f"calibration.{name}": torch.from_numpy(np.ascontiguousarray(value))
                  for name, value in self.calibration.to_arrays().items()}
        save_model(str(path), self.network, extra_tensors=arrays, metadata={
            "normalisation": self.normalisation.to_dict(),
            "calibration": self.calibration.to_metadata(),
            "band_indices": list(self.band_indices),
            "wavelengths_nm": None if self.wavelengths_nm is None else list(self.wavelengths_nm),
            "preset": self.preset,
            "seed": self.seed,
            "raster_band_count": self.raster_band_count,
            "steps": self.steps,
            "plugin_version": plugin_version(),
        })

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
        """Read a model file written by :meth:`save`.

        Args:
            path: the model file.
            expected_bands: refuse a model fitted on another number of bands.
            device: torch device for the network.

        Returns:
            The fitted model.

        Raises:
            ModelFileError: corrupt, unsafe, foreign or mismatching model file.
        """
        from ....models import ModelError, load_model

        try:
            network, meta, extras = load_model(str(path), expected_bands=expected_bands,
                                               device=device)
        except ModelError as exc:
            raise ModelFileError(str(exc)) from exc
        if "calibration" not in meta and "normalisation" in meta:
            raise ModelFileError(
                f"'{path}' was written by an earlier version of the plugin, whose models carry no "
                "residual calibration; fit the model again with this version.")
        try:
            wavelengths = meta.get("wavelengths_nm")
            calibration = ResidualCalibration.from_parts(meta["calibration"], {
                name: extras[f"calibration.{name}"].numpy() for name in ("mean", "whiten")})
            return cls(network=network.eval(),
                       normalisation=Normalisation.from_dict(meta["normalisation"]),
                       calibration=calibration,
                       band_indices=tuple(int(b) for b in meta["band_indices"]),
                       wavelengths_nm=None if wavelengths is None else tuple(wavelengths),
                       preset=str(meta.get("preset", "?")), seed=int(meta.get("seed", 0)),
                       raster_band_count=meta.get("raster_band_count"), steps=meta.get("steps"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"'{path}' is a model file without the engine's metadata ({exc}); it was not "
                "written by 'dms2f-had fit'. Fit and save the model again.") from exc


def _unpickle(data: bytes, device: str, fit_seconds: float) -> FittedModel:
    """Rebuild a pickled :class:`FittedModel` (see ``FittedModel.__reduce__``)."""
    fitted = FittedModel.from_bytes(data, device=device)
    fitted.fit_seconds = fit_seconds
    return fitted
