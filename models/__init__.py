"""The DMS2F-HAD network: torch and the standard library only (numba and mamba-ssm optional).

Public API: the config, the network, its training objective, the selective scan and its
implementations, and self-describing model files.
"""

from __future__ import annotations

from .checkpoint import LoadedModel, load_model, save_model
from .config import PRESETS, Dms2fConfig
from .dms2f import Dms2fHad
from .errors import BandMismatchError, CheckpointError, ConfigError, ModelError
from .objective import corrupt_blocks, reconstruction_loss, reconstruction_loss_ref
from .scan import (
    scan_backend_name,
    selective_scan,
    selective_scan_cuda,
    selective_scan_fast,
    selective_scan_ref,
)

__all__ = [
    "PRESETS",
    "BandMismatchError",
    "ConfigError",
    "LoadedModel",
    "Dms2fConfig",
    "Dms2fHad",
    "ModelError",
    "CheckpointError",
    "corrupt_blocks",
    "load_model",
    "reconstruction_loss",
    "reconstruction_loss_ref",
    "save_model",
    "scan_backend_name",
    "selective_scan",
    "selective_scan_cuda",
    "selective_scan_fast",
    "selective_scan_ref",
]
