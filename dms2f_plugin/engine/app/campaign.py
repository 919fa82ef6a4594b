"""A campaign's plan: which scenes, what each writes, and when a scene already counts as done.

Inputs are files, glob patterns, and text files listing one path or pattern per line (blank lines
and ``#`` comments ignored). Each scene writes into the output folder, under a name made from its
file name (``<name>_score.tif``; with ``save_model`` also ``<name>_model.safetensors``; with a
threshold ``<name>_mask.tif`` and ``<name>_detections.gpkg``) and, last, its manifest
``<name>_manifest.json``.

**Complete** (what ``--resume`` skips): the manifest exists and parses, was written with the
same detect options, and every output it lists exists, the score raster opening with GDAL at the
size the manifest records. The manifest is published (atomically) only after all of the scene's
outputs were, so a scene interrupted at any point is not complete and runs again.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..detectors.local_background import DEFAULT_LOCAL_WINDOW
from ..errors import InputError, OutputError
from ..types import PathLike

LOGGER = logging.getLogger(__name__)
MANIFEST_VERSION = 1
THRESHOLD_METHODS = ("percentile", "sigma", "otsu", "value")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class DetectOptions:
    """The options every scene of a campaign is detected with (``jobs.detect``'s, plus outputs).

    ``threshold`` (a ``jobs.threshold`` method, or None for none) adds a mask and detection
    polygons per scene with ``threshold_value`` and ``min_size``.
    """

    method: str = "dms2f"
    bands: str | None = None
    keep_all_bands: bool = False
    preset: str = "fast"
    device: str = "auto"
    seed: int = 0
    steps: int | None = None
    local_window: int | None = DEFAULT_LOCAL_WINDOW
    inner_window: int = 5
    outer_window: int = 21
    tile_size: int = 512
    save_model: bool = False
    threshold: str | None = None
    threshold_value: float | None = None
    min_size: int = 1

    def check(self) -> None:
        """Refuse options that cannot work, before any scene starts.

        Raises:
            InputError: naming the option and the fix.
        """
        from .jobs import METHODS

        if self.method not in METHODS:
            raise InputError(f"Unknown method '{self.method}'; use one of {', '.join(METHODS)}.")
        if self.save_model and self.method != "dms2f":
            raise InputError(f"--save-model only applies to method dms2f, not '{self.method}'.")
        if self.threshold is not None and self.threshold not in THRESHOLD_METHODS:
            raise InputError(f"Unknown threshold method '{self.threshold}'; use one of "
                             f"{', '.join(THRESHOLD_METHODS)}.")
        if self.threshold == "value" and self.threshold_value is None:
            raise InputError("--threshold value needs --threshold-value (the score above which a "
                             "pixel is an anomaly).")
        if self.min_size < 1:
            raise InputError(f"--min-size must be at least 1, got {self.min_size}.")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, recorded in every manifest."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SceneOutputs:
    """The files one scene writes (None: not asked for)."""

    score: Path
    manifest: Path
    model: Path | None = None
    mask: Path | None = None
    detections: Path | None = None

    def files(self) -> dict[str, Path]:
        """The outputs other than the manifest, by kind."""
        found = {"score": self.score, "model": self.model, "mask": self.mask,
                 "detections": self.detections}
        return {kind: path for kind, path in found.items() if path is not None}


@dataclasses.dataclass(frozen=True)
class SceneJob:
    """One task of a campaign: detect ``input`` with ``options`` into ``outputs``.

    ``threads`` is torch's thread count for the scene (None: the worker's thread count on a
    cluster, torch's default in this process).
    """

    name: str
    input: str
    outputs: SceneOutputs
    options: DetectOptions
    threads: int | None = None


def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _listed(list_file: PathLike) -> list[str]:
    path = Path(list_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read the list of inputs '{list_file}' ({exc.strerror}); check "
                         "the path.") from None
    base = path.resolve().parent
    items = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            items.append(text if os.path.isabs(text) or ":" in text else str(base / text))
    return items


def expand_inputs(items: Sequence[str], list_files: Sequence[PathLike] = ()) -> list[str]:
    """The scenes named by files, glob patterns and list files, in order, without repeats.

    Relative paths in a list file are relative to the list file's folder.

    Raises:
        InputError: a pattern that matches nothing, a file that does not exist, or no input.
    """
    wanted = list(items)
    for list_file in list_files:
        wanted += _listed(list_file)
    found: list[str] = []
    for item in wanted:
        if _is_pattern(item):
            matches = sorted(glob.glob(os.path.expanduser(item)))
            if not matches:
                raise InputError(f"The pattern '{item}' matches no file; check it (quote it so "
                                 "the shell leaves it to dms2f-had).")
            found += matches
        elif os.path.exists(os.path.expanduser(item)) or ":" in Path(item).name:
            found.append(os.path.expanduser(item))  # a file, or a GDAL connection string
        else:
            raise InputError(f"Input '{item}' does not exist; check the path.")
    unique = list(dict.fromkeys(os.path.abspath(f) if os.path.exists(f) else f for f in found))
    if not unique:
        raise InputError("No input scenes given; name files, patterns or --inputs-from FILE.")
    return unique


def scene_name(input_path: str) -> str:
    """A file-name-safe scene name from an input path or GDAL connection string."""
    text = input_path.rstrip("/\\")
    tail = re.split(r"[/\\:]", text)[-1].strip('"') or "scene"
    stem = Path(tail).stem if "." in tail else tail
    return _UNSAFE.sub("_", stem).strip("._") or "scene"


def plan_campaign(inputs: Sequence[str], output_dir: PathLike, options: DetectOptions, *,
                  threads: int | None = None) -> list[SceneJob]:
    """One :class:`SceneJob` per input, outputs checked before any work starts.

    Raises:
        InputError: bad options, or two inputs that would write the same outputs.
        OutputError: the output folder cannot be created or written, or an output is an input.
    """
    from ..io.writer import validate_output_path

    options.check()
    folder = Path(output_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder '{output_dir}' ({exc.strerror}); "
                          "choose a writable folder.") from None
    by_name: dict[str, str] = {}
    jobs = []
    for item in inputs:
        name = scene_name(item)
        if name in by_name:
            raise InputError(f"'{by_name[name]}' and '{item}' would both write '{name}_score.tif'; "
                             "rename one or run them into different output folders.")
        by_name[name] = item
        outputs = SceneOutputs(
            score=validate_output_path(folder / f"{name}_score.tif", inputs=[item]),
            manifest=validate_output_path(folder / f"{name}_manifest.json", inputs=[item],
                                          extensions=(".json",), what="manifest"),
            model=(validate_output_path(folder / f"{name}_model.safetensors", inputs=[item],
                                        extensions=None, what="model file")
                   if options.save_model else None),
            mask=(validate_output_path(folder / f"{name}_mask.tif", inputs=[item], what="mask")
                  if options.threshold else None),
            detections=(validate_output_path(folder / f"{name}_detections.gpkg", inputs=[item],
                                             extensions=(".gpkg",), what="detections file")
                        if options.threshold else None))
        jobs.append(SceneJob(name, item, outputs, options, threads))
    return jobs


def write_manifest(job: SceneJob, record: dict[str, Any]) -> None:
    """Publish the scene's manifest (atomically), after all its outputs were published."""
    from ...metadata import plugin_version
    from ..io.writer import atomic_output

    data = {"manifest_version": MANIFEST_VERSION, "scene": job.name, "input": job.input,
            "options": job.options.as_dict(), "plugin_version": plugin_version(),
            "outputs": {kind: path.name for kind, path in job.outputs.files().items()},
            **record}
    with atomic_output(job.outputs.manifest) as temp:
        temp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


def read_manifest(job: SceneJob) -> dict[str, Any] | None:
    """The scene's manifest if it marks the scene complete (module docstring), else None."""
    try:
        data = json.loads(job.outputs.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        return None
    if data.get("options") != job.options.as_dict() or data.get("input") != job.input:
        LOGGER.info("'%s' was made with other options or another input; running it again",
                    job.outputs.manifest)
        return None
    if data.get("outputs") != {kind: p.name for kind, p in job.outputs.files().items()}:
        return None
    if not all(path.is_file() for path in job.outputs.files().values()):
        return None
    return data if _valid_score(job.outputs.score, data) else None


def _valid_score(path: Path, data: dict[str, Any]) -> bool:
    """The score raster opens with GDAL at the size the manifest records."""
    from ..errors import RasterReadError
    from ..io.gdalutil import open_gdal

    try:
        ds = open_gdal(str(path))
    except RasterReadError:
        return False
    return [ds.RasterXSize, ds.RasterYSize, ds.RasterCount] == [data.get("width"),
                                                                data.get("height"), 1]
