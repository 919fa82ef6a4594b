"""Self-describing model files without pickle: safetensors tensors plus a JSON header.

The safetensors ``__metadata__`` holds one entry, ``dms2f_had``, a JSON object::

    {"format": "dms2f-had-model", "format_version": 2, "config": {...Dms2fConfig...},
     "metadata": {...caller's: package version, normalisation, band indices, wavelengths...}}

Besides the network's weights the file may hold the caller's own tensors (statistics computed at
fit time), stored under the :data:`EXTRA_PREFIX` and handed back apart from the weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, NamedTuple, Union

import torch

from .config import Dms2fConfig
from .dms2f import Dms2fHad
from .errors import BandMismatchError, CheckpointError, ConfigError

FORMAT_NAME = "dms2f-had-model"
FORMAT_VERSION = 2
#: Files of this version were written by plugin versions up to 0.2.x (another score schema).
REFUSED_VERSIONS = {1: "0.2.x or older"}
HEADER_KEY = "dms2f_had"
REFIT = "re-fit and save the model again"
EXTRA_PREFIX = "extra/"
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2; zip archive of torch.save

PathLike = Union[str, "os.PathLike[str]"]
#: A caller's check of a file's metadata and extra tensors against its config (raises to refuse).
MetadataCheck = Callable[[Dms2fConfig, dict[str, Any], dict[str, torch.Tensor]], None]


class LoadedModel(NamedTuple):
    """What :func:`load_model` returns.

    Attributes:
        network: the network in eval mode.
        metadata: the caller's metadata as saved.
        extra_tensors: the caller's extra tensors as saved (empty when none were).
    """

    network: Dms2fHad
    metadata: dict[str, Any]
    extra_tensors: dict[str, torch.Tensor]


def save_model(path: PathLike, model: Dms2fHad, metadata: Mapping[str, Any],
               extra_tensors: Mapping[str, torch.Tensor] | None = None) -> None:
    """Write ``model`` and ``metadata`` to a safetensors file at exactly ``path``.

    The caller makes the write atomic and checked (the engine's writer hands a temporary path).

    Args:
        path: destination file (conventionally ``*.safetensors``).
        model: the network; its config is stored with the weights.
        metadata: JSON-serialisable facts the caller needs back (package version, normalisation
            min/max, band indices, wavelengths...).
        extra_tensors: the caller's named tensors to keep with the weights (statistics of the
            fit); returned by :func:`load_model` as ``extra_tensors``.

    Raises:
        CheckpointError: when ``metadata`` is not JSON-serialisable.
        OSError: when the file cannot be written.
    """
    from safetensors.torch import save_file

    try:
        header = json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                             "config": model.config.to_dict(), "metadata": dict(metadata)})
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"model metadata is not JSON-serialisable: {err}") from err
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    for name, tensor in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + name] = tensor.detach().cpu().contiguous()
    save_file(tensors, str(path), metadata={HEADER_KEY: header})


def load_model(
    path: PathLike, *, expected_bands: int | None = None, device: torch.device | str = "cpu",
    check_metadata: MetadataCheck | None = None,
) -> LoadedModel:
    """Read a model written by :func:`save_model`; never unpickles anything.

    Args:
        path: the model file.
        expected_bands: band count of the raster it will run on; checked when given.
        device: device to put the model on.
        check_metadata: called with the config, the caller's metadata and extra tensors after
            the weights' shapes were checked and before the network is built; whatever it
            raises propagates unchanged.

    Returns:
        The network in eval mode, the caller's metadata and the caller's extra tensors.

    Raises:
        CheckpointError: for a missing, truncated, corrupt or pickle file, or a file of another
            format or a newer format version.
        BandMismatchError: when the model was fitted on a different band count.
    """
    path = Path(path)
    header, tensors = _read(path)
    try:
        config = Dms2fConfig.from_dict(header["config"])
    except (ConfigError, KeyError, TypeError) as err:
        raise CheckpointError(f"model file {path} has an invalid config ({err}); {REFIT}") from err
    if expected_bands is not None and config.bands != expected_bands:
        raise BandMismatchError(
            f"model {path} was fitted on {config.bands} bands, raster has {expected_bands}; "
            "use a model fitted on this band set or re-fit")
    extras = {name[len(EXTRA_PREFIX):]: tensors.pop(name) for name in list(tensors)
              if name.startswith(EXTRA_PREFIX)}
    _check_shapes(path, config, tensors)
    if check_metadata is not None:
        check_metadata(config, header["metadata"], extras)
    model = Dms2fHad(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"model file {path} does not match its config ({err}); {REFIT}") from err
    return LoadedModel(model.to(device).eval(), header["metadata"], extras)


def _check_shapes(path: Path, config: Dms2fConfig, tensors: Mapping[str, torch.Tensor]) -> None:
    """Compare the stored weights with the shapes ``config`` implies, before allocating any.

    Raises:
        CheckpointError: a missing, extra or differently shaped weight (the message names it).
    """
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in Dms2fHad(config).state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [name for name in expected if name in tensors and tuple(tensors[name].shape) != expected[name]]
    if missing or extra or wrong:
        detail = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else
                  f"{wrong[0]} is {tuple(tensors[wrong[0]].shape)}, config implies {expected[wrong[0]]}")
        raise CheckpointError(f"model file {path} does not match its config ({detail}); {REFIT}")


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file: an 8-byte little-endian header length that fits, then a JSON object.

    Checked before the pickle magic because a header length whose low byte is 0x80 makes a
    safetensors file start like a pickle.
    """
    if len(head) < 9:
        return False
    header_length = int.from_bytes(head[:8], "little")
    return 0 < header_length <= size - 8 and head[8:9] == b"{"


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Header object and tensors of a model file, after checking it is a safetensors file."""
    from safetensors import safe_open

    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = os.fstat(f.fileno()).st_size
    except OSError as err:
        raise CheckpointError(f"cannot read model file {path}: {err.strerror or err}") from err
    if not _looks_like_safetensors(head, size) and head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"{path} is a pickle/torch.save file; it is refused because loading it could run code. "
            f"Only .safetensors model files written by this plugin load; {REFIT}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get(HEADER_KEY)
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{path} is not a readable safetensors model file ({err}); {REFIT}") from err
    try:
        header = json.loads(raw) if raw is not None else None
    except ValueError as err:
        raise CheckpointError(f"model file {path} has a corrupt header ({err}); {REFIT}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file but not a DMS2F-HAD model; {REFIT}")
    if not isinstance(header.get("metadata"), dict):
        raise CheckpointError(f"model file {path} has no metadata object; {REFIT}")
    version = header.get("format_version")
    if version in REFUSED_VERSIONS:
        raise CheckpointError(
            f"model file {path} has format version {version}, written by DMS2F-HAD "
            f"{REFUSED_VERSIONS[version]}, whose models score differently; fit the model again "
            "with this version")
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise CheckpointError(
            f"model file {path} has format version {version!r}; this plugin reads version "
            f"{FORMAT_VERSION}: update the plugin or {REFIT}")
    return header, tensors
