"""Every size of the DMS2F-HAD network in one frozen dataclass, with named presets.

The defaults are the paper's sizes (arXiv 2602.04102). ``PRESETS`` holds the overrides of each
named preset; edit that table to tune the CPU preset, nothing else needs to change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import ConfigError

#: Overrides of each named preset relative to the paper's defaults (edit here to tune a preset).
#: "paper": the published sizes (about 0.64 M parameters for 189 bands).
#: "fast": half the width and a quarter of the state, for the CPU (about 0.15 M parameters); its
#: cost per step is measured by benchmarks/scan_speed.py, and its detection quality by the
#: benchmark, not assumed.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "fast": {"width": 32, "d_state": 16},
}


#: Inclusive bounds of every size (dropout: [low, high)). Far beyond any preset, they keep a
#: hostile or corrupt model file from allocating gigabytes before its weights are compared.
LIMITS: dict[str, tuple[float, float]] = {
    "bands": (1, 4096), "width": (1, 1024), "d_state": (1, 256), "d_conv": (1, 16),
    "expand": (1, 8), "spatial_depth": (0, 16), "spectral_depth": (0, 16),
    "decoder_blocks": (0, 16), "decoder_depth": (0, 16), "group_size": (1, 1024),
    "group_step": (1, 1024), "block_size": (3, 64), "dropout": (0.0, 1.0),
}


@dataclass(frozen=True)
class Dms2fConfig:
    """Sizes of the network; ``bands`` is the only one without a default.

    Attributes:
        bands: number of spectral bands of the input blocks (input and output channels).
        width: channels after the stem (``d_model`` of the spatial and decoder Mamba layers).
        d_state: state size N of every selective scan.
        d_conv: kernel of the depthwise causal convolution inside each Mamba layer.
        expand: ``d_inner = expand * d_model`` inside each Mamba layer.
        spatial_depth: residual Mamba layers of the spatial branch.
        spectral_depth: residual Mamba layers of the spectral branch.
        decoder_blocks: LSS blocks of the decoder.
        decoder_depth: residual Mamba layers in the global path of each LSS block.
        group_size: channels per spectral token (``d_model`` of the spectral Mamba layer).
        group_step: step between the first channels of consecutive spectral tokens.
        block_size: side of the square pixel blocks the network reconstructs.
        dropout: dropout probability of the spectral branch (training only).
    """

    bands: int
    width: int = 64
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    spatial_depth: int = 1
    spectral_depth: int = 1
    decoder_blocks: int = 2
    decoder_depth: int = 2
    group_size: int = 12
    group_step: int = 6
    block_size: int = 16
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = LIMITS[f.name]
            if f.name == "dropout":
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not low <= value < high:
                    raise ConfigError(f"dropout must be a number in [0, 1), got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{f.name} must be a whole number from {low} to {high}, "
                                  f"got {value!r}")
        if self.group_size > self.width:
            raise ConfigError(f"group_size {self.group_size} exceeds width {self.width}")

    @property
    def d_inner(self) -> int:
        """Inner width of the spatial and decoder Mamba layers (``expand * width``)."""
        return self.expand * self.width

    @property
    def dt_rank(self) -> int:
        """Rank of the step-size projection of the spatial and decoder layers."""
        return dt_rank(self.width)

    @property
    def n_groups(self) -> int:
        """Spectral tokens: groups start every ``group_step`` channels (the last ones zero padded)."""
        return math.ceil(self.width / self.group_step)

    @property
    def padded_width(self) -> int:
        """Channels after zero padding so that every spectral group is complete."""
        return (self.n_groups - 1) * self.group_step + self.group_size

    @property
    def n_tokens(self) -> int:
        """Pixel tokens per block (row-major) seen by the spatial and decoder Mamba layers."""
        return self.block_size * self.block_size

    @classmethod
    def preset(cls, name: str, bands: int) -> Dms2fConfig:
        """Build a named preset for ``bands`` bands.

        Args:
            name: a key of :data:`PRESETS` ("paper" or "fast").
            bands: number of spectral bands.

        Returns:
            The configuration.

        Raises:
            ConfigError: for an unknown preset name or invalid sizes.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(cls(bands=bands), **PRESETS[name])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dms2fConfig:
        """Inverse of :meth:`to_dict`.

        Args:
            data: field values; ``bands`` is required, missing sizes take the defaults.

        Returns:
            The configuration.

        Raises:
            ConfigError: for unknown keys, a missing ``bands`` or invalid sizes.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys {unknown}; the file needs a newer plugin")
        if "bands" not in data:
            raise ConfigError("model config has no 'bands' entry")
        return cls(**dict(data))


def dt_rank(d_model: int) -> int:
    """Rank of the step-size projection of a Mamba layer of width ``d_model`` (ceil(d_model / 16))."""
    return math.ceil(d_model / 16)
