"""DMS2F-HAD's input scaling: one global min-max over the scene, and the fill of invalid pixels."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Normalisation:
    """DMS2F-HAD's global min-max scaling, plus the spectrum used to fill invalid pixels.

    Attributes:
        minimum: smallest valid value over all selected bands (one scalar, as in the paper).
        maximum: largest valid value.
        fill: per-band normalised mean spectrum written into invalid pixels ``(bands,)``.
    """

    minimum: float
    maximum: float
    fill: np.ndarray

    def apply(self, cube: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Scale ``cube`` ``(bands, h, w)`` to [0, 1] and fill invalid pixels; returns float32."""
        span = self.maximum - self.minimum
        out = (cube - np.float32(self.minimum)) / np.float32(span if span > 0 else 1.0)  # (C, h, w)
        out[:, ~valid] = self.fill[:, None].astype(np.float32)
        return out.astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a model file."""
        return {"minimum": self.minimum, "maximum": self.maximum, "fill": self.fill.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalisation:
        """Inverse of :meth:`to_dict`."""
        return cls(float(data["minimum"]), float(data["maximum"]),
                   np.asarray(data["fill"], dtype=np.float32))
