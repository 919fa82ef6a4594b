"""Checks that run before any work: every user number bounded, the raster big enough, memory enough.

The jobs call these first (:mod:`.jobs`, :mod:`.map_jobs`); the QGIS algorithms call the same
functions from ``checkParameterValues``, so a bad value is refused with the same sentence in the
dialog, in ``qgis_process`` and on the command line, before anything is read or fitted.

- :func:`check_detect_options` / :func:`check_threshold_options`: the numbers alone
  (:mod:`..bounds`);
- :func:`check_raster_settings`: the numbers against the raster (windows no wider than it, a
  raster that holds at least one 16 x 16 block for DMS2F-HAD, a band count the network takes)
  and the memory estimate of :mod:`..detectors.memory` against the memory available;
- :func:`check_detect` / :func:`check_apply`: both, opening the raster's header (for QGIS).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..bounds import (
    check_local_window,
    check_lrx_windows,
    check_min_size,
    check_seed,
    check_steps,
    check_threads,
    check_threshold_value,
    check_tile_size,
)
from ..detectors.local_background import DEFAULT_LOCAL_WINDOW
from ..detectors.memory import estimate_detection, refusal
from ..detectors.model_file import check_model_path
from ..errors import InputError
from ..io.raster import BandSpec, open_raster
from ..types import PathLike

LOGGER = logging.getLogger(__name__)
METHODS = ("dms2f", "rx", "lrx")
DEVICES = ("auto", "cpu", "cuda")
THRESHOLD_METHODS = ("percentile", "sigma", "otsu", "value")
#: Most bands the DMS2F-HAD network takes (``models.config.LIMITS``).
DMS2F_MAX_BANDS = 4096
_KIB = 1024


def check_detect_options(*, method: str = "dms2f", preset: str = "fast", device: str = "auto",
                         seed: Any = 0, threads: Any = None, steps: Any = None,
                         local_window: Any = DEFAULT_LOCAL_WINDOW, inner_window: Any = 5,
                         outer_window: Any = 21, tile_size: Any = 512) -> None:
    """Check the numbers and names of a detection request, without opening anything.

    Raises:
        InputError: an unknown method, preset or device, or a number out of its bounds (the
            message names it, its value and the allowed range).
    """
    if method not in METHODS:
        raise InputError(f"Unknown method '{method}'; use one of {', '.join(METHODS)}.")
    if str(device or "auto").strip().lower().split(":")[0] not in DEVICES:
        raise InputError(f"Unknown device '{device}'; use one of {', '.join(DEVICES)}.")
    check_tile_size(tile_size)
    check_threads(threads)
    if method == "dms2f":
        from ..detectors.fitting import fit_schedule

        check_seed(seed)
        fit_schedule(preset, check_steps(steps))  # an unknown preset is refused here
    check_local_window(local_window, default=DEFAULT_LOCAL_WINDOW)
    if method == "lrx":
        check_lrx_windows(inner_window, outer_window)


def check_threshold_options(method: str, value: Any, min_size: Any) -> float | None:
    """Check a threshold request's method, value and minimum object size.

    Returns:
        The value as a float (None for the method's default, or Otsu).

    Raises:
        InputError: an unknown method, a NaN/infinite/out-of-range value, a bad minimum size.
    """
    if method not in THRESHOLD_METHODS:
        raise InputError(f"Unknown threshold method '{method}'; use one of "
                         f"{', '.join(THRESHOLD_METHODS)}.")
    check_min_size(min_size)
    return check_threshold_value(method, value)


def check_raster_settings(path: str, *, width: int, height: int, bands: int, method: str,
                          tile_size: int, local_window: int | None = 0, inner_window: int = 5,
                          outer_window: int = 21, fitting: bool = False) -> None:
    """Check a detection's settings against the raster, and its memory against the machine's.

    Args:
        path: the raster (for messages).
        width: raster columns.
        height: raster rows.
        bands: selected bands.
        method: ``"dms2f"``, ``"rx"`` or ``"lrx"``.
        tile_size: I/O tile edge.
        local_window: DMS2F's local background window (None = the automatic line correction).
        inner_window: local RX's guard window.
        outer_window: local RX's outer window.
        fitting: DMS2F only: the run fits the network on this raster.

    Raises:
        InputError: a window wider than the raster, a raster smaller than one 16 x 16 block to fit
            on, more bands than the network takes, or a run that would not fit in memory.
    """
    if method == "dms2f":
        check_local_window(local_window, width, height, default=DEFAULT_LOCAL_WINDOW)
        if bands > DMS2F_MAX_BANDS:
            raise InputError(f"'{path}' has {bands} selected bands; DMS2F-HAD takes at most "
                             f"{DMS2F_MAX_BANDS}. Select fewer bands with the band list.")
        if fitting:
            _check_block_fits(path, width, height)
    if method == "lrx":
        check_lrx_windows(inner_window, outer_window, width, height)
    estimate = estimate_detection(method, bands=bands, width=width, height=height,
                                  tile_size=tile_size, local_window=local_window if method ==
                                  "dms2f" else 0, outer_window=outer_window, fitting=fitting)
    available = available_memory()
    message = None if available is None else refusal(estimate, available)
    if message:
        raise InputError(message)


def _check_block_fits(path: str, width: int, height: int) -> None:
    """Refuse a raster in which no 16 x 16 block can have enough valid pixels to fit on."""
    from ..detectors.blocks import BLOCK_SIZE
    from ..detectors.fitting import MIN_VALID_FRACTION

    inside = min(width, BLOCK_SIZE) * min(height, BLOCK_SIZE) / BLOCK_SIZE**2
    if inside < MIN_VALID_FRACTION:
        raise InputError(
            f"'{path}' is {width} x {height} pixels, smaller than the {BLOCK_SIZE} x {BLOCK_SIZE} "
            f"pixel blocks DMS2F-HAD fits on (a block needs {MIN_VALID_FRACTION:.0%} of its pixels "
            "inside the raster); use a larger raster, or the RX detector.")


def check_detect(input_path: PathLike, *, bands: BandSpec = None, keep_all_bands: bool = False,
                 method: str = "dms2f",
                 preset: str = "fast", device: str = "auto", seed: Any = 0, threads: Any = None,
                 steps: Any = None, local_window: Any = DEFAULT_LOCAL_WINDOW,
                 inner_window: Any = 5, outer_window: Any = 21, tile_size: Any = 512) -> None:
    """Every check of a detection request, opening only the raster's header (for QGIS).

    Args:
        input_path: the raster.
        bands: the band selection.
        keep_all_bands: with ``bands`` None, keep the bad and water-vapour bands.
        method: see :func:`check_detect_options` for this and the remaining options.
        preset: the DMS2F preset.
        device: the device name.
        seed: the DMS2F seed.
        threads: CPU threads, or None.
        steps: DMS2F fitting steps, or None.
        local_window: DMS2F's local background window.
        inner_window: local RX's guard window.
        outer_window: local RX's outer window.
        tile_size: I/O tile edge.

    Raises:
        InputError, RasterReadError: as the checks above, and an unreadable raster.
    """
    check_detect_options(method=method, preset=preset, device=device, seed=seed, threads=threads,
                         steps=steps, local_window=local_window, inner_window=inner_window,
                         outer_window=outer_window, tile_size=tile_size)
    with open_raster(input_path, bands=bands, min_bands=1,
                     drop_bad_bands=not keep_all_bands) as source:
        check_raster_settings(
            source.path, width=source.width, height=source.height, bands=source.band_count,
            method=method, tile_size=int(tile_size),
            local_window=None if local_window is None else int(local_window),
            inner_window=int(inner_window), outer_window=int(outer_window),
            fitting=method == "dms2f")


def check_apply(model_path: PathLike, input_path: PathLike, *, device: str = "auto",
                threads: Any = None, local_window: Any = DEFAULT_LOCAL_WINDOW,
                tile_size: Any = 512) -> None:
    """The checks of scoring with a saved model that need no torch: numbers, model path, raster.

    Raises:
        InputError, ModelFileError, RasterReadError: as the checks above.
    """
    check_detect_options(method="dms2f", device=device, threads=threads,
                         local_window=local_window, tile_size=tile_size)
    check_model_path(model_path)
    with open_raster(input_path, min_bands=1) as source:
        check_local_window(local_window, source.width, source.height,
                           default=DEFAULT_LOCAL_WINDOW)


def available_memory() -> int | None:
    """Bytes this process can still allocate: the OS's available memory, capped by a cgroup limit.

    Returns:
        None where neither can be read (the memory check is then skipped).
    """
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * _KIB)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text(encoding="ascii").strip()
            usage = Path(usage_file).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if limit.isdigit() and usage.isdigit() and int(limit) < 2**60:
            found.append(max(0, int(limit) - int(usage)))
        break
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        except (OSError, ValueError):
            pass
    return min(found) if found else None
