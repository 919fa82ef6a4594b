"""``dms2f-had bench --implant``: the target-implant benchmark, run with the bench's protocol.

For each host scene (``--only``; default every ``.mat`` scene of ``--scenes``), each size group
(one implant copy per group, :mod:`.synthesis`), each variant (:mod:`.variants`), each method and
each seed (DMS2F only; RX and local RX are deterministic), a fresh worker process receives ONLY
the variant's image file (:func:`..bench.run_in_subprocess`): it fits, scores and writes the score
map. The implant masks and the host's labels never leave this process; after the map is written,
this process computes the ROC AUC of each size class (positives: the class's implant mask;
background: pixels neither implanted nor labelled). Donor spectra come from every other scene of
the folder, whatever ``--only`` says.

Cost: one DMS2F fit per (host, group, variant, seed). The default full run (11 scenes, 3 groups,
6 variants, 3 seeds) is 594 fits plus 198 runs of each RX method; at about a minute a fit on two
cores that is some ten hours. A quick check: ``--only abu-airport-1 --groups 1,25,144
--variants original --seeds 1`` (one fit). The command line and the report
are :mod:`.command`'s; the bounds it checks are defined here, beside the configuration.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import bench
from .spectra import DonorSpectra, donor_spectra
from .synthesis import JITTER, ImplantedScene, Scene, implant
from .variants import make_variant, write_variant

MAX_SEEDS = 50
MAX_STEPS = 100_000
MAX_THREADS = 256
MAX_SEED_VALUE = 2**31 - 1
MAX_JITTER = 2.0
#: Labelled pixels in the kept ground-truth rasters (``--keep``).
KEPT_LABEL_VALUE = 65535


@dataclasses.dataclass(frozen=True)
class ImplantConfig:
    """Everything a run of the implant benchmark depends on (recorded in the JSON)."""

    scenes: Path
    hosts: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    variants: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: int
    implant_seed: int
    preset: str
    steps: int | None
    threads: int | None
    keep_all_bands: bool
    jitter: float = JITTER
    first_seed: int = 0

    def runs_per_image(self) -> list[tuple[str, int]]:
        """(method, seed) pairs run on every variant image (RX methods once, as seed 0)."""
        return [(m, s) for m in self.methods
                for s in ((0,) if m in bench.DETERMINISTIC
                          else range(self.first_seed, self.first_seed + self.seeds))]


def load_scenes(folder: Path) -> list[Scene]:
    """Every ``.mat`` scene of ``folder`` with its labels (for hosts and donors), by name."""
    from ...io.matfile import load_mat

    scenes = []
    for path in sorted(folder.glob("*.mat")):
        mat = load_mat(path)
        labels = (np.zeros(mat.cube.shape[:2], dtype=bool) if mat.ground_truth is None
                  else mat.ground_truth.astype(bool))
        scenes.append(Scene(path.stem, mat.cube, labels))
    return scenes


def class_aucs(score: np.ndarray, copy: ImplantedScene) -> dict[str, float]:
    """ROC AUC of each size class of ``copy`` for a finished score map ``(H, W)`` (NaN left out)."""
    from ...products.evaluate import roc_auc

    aucs = {}
    for size in copy.group:
        positives, evaluated = copy.evaluation_masks(size)
        keep = evaluated & np.isfinite(score)
        aucs[str(size)] = round(float(roc_auc(score[keep], positives[keep])), 5)
    return aucs


def target_ranks(score: np.ndarray, copy: ImplantedScene) -> list[dict[str, float]]:
    """Where each target of ``copy`` ranks in a finished score map ``(H, W)``.

    A target's rank is the fraction of the background (pixels neither implanted nor labelled,
    NaN left out) that scores strictly below the target's median pixel: 0.5 is a target the
    method does not see, 1.0 one above every background pixel.

    Returns:
        One ``{"size", "abundance", "rank"}`` per target, in ``copy.targets`` order.
    """
    finite = np.isfinite(score)
    background = np.sort(score[~(copy.implanted | copy.labels) & finite])  # (n,)
    ranks = []
    for target in copy.targets:
        row, col, rows, cols = target.box
        box = (slice(row, row + rows), slice(col, col + cols))
        # Targets keep a margin from each other, so the box holds no other target's pixel.
        pixels = score[box][copy.masks[target.size][box] & finite[box]]
        rank = (float(np.searchsorted(background, np.median(pixels), side="left") / len(background))
                if len(pixels) and len(background) else math.nan)
        ranks.append({"size": target.size, "abundance": target.abundance, "rank": round(rank, 5)})
    return ranks


def _read_score(path: str) -> np.ndarray:
    from osgeo import gdal

    return np.asarray(gdal.Open(path).ReadAsArray(), dtype=np.float64)  # (H, W)


def run_copy(config: ImplantConfig, copy: ImplantedScene, folder: Path,
             log: Callable[[str], None], keep: Path | None = None) -> list[dict[str, Any]]:
    """Every variant, method and seed on one implant copy; returns the run records.

    ``folder`` holds each variant image while its runs go (nothing else). With ``keep``, each
    run's score map is moved there once its AUCs are computed, as
    ``<host>-g<sizes>-<variant>-<method>-seed<seed>-score.tif``.
    """
    records = []
    label = f"{copy.host}-g{'+'.join(str(s) for s in copy.group)}"
    for variant_name in config.variants:
        variant = make_variant(variant_name, copy.cube, config.implant_seed)
        # The name tells the worker nothing about the targets (not even the group's sizes).
        image = write_variant(variant, folder / f"{copy.host}-{variant_name}.tif")
        for method, seed in config.runs_per_image():
            run = bench.run_in_subprocess(image, method, config.preset, seed, config.threads,
                                          config.steps, config.keep_all_bands)
            score = _read_score(run["score_file"])
            run["auc"] = class_aucs(score, copy)
            run["targets"] = target_ranks(score, copy)
            if keep is not None:
                made = Path(run.pop("score_file"))
                kept = shutil.move(made, keep / f"{label}-{variant_name}-{method}-seed{seed}-score.tif")
                made.parent.rmdir()
                run["score_map"] = str(kept)
            else:
                bench.discard_score(run)
            run.update(scene=copy.host, group=list(copy.group), variant=variant_name,
                       method=method, seed=seed, implant_seed=copy.seed,
                       bands=int(variant.data.shape[2]), pixels=int(copy.labels.size))
            records.append(run)
            aucs = " ".join(f"{k}px {v:.4f}" for k, v in run["auc"].items())
            log(f"{label} {variant_name:11s} {method:5s} seed {seed}: {aucs} | fit "
                f"{run['fit_s']:.1f} s total {run['wall_s']:.1f} s CPU {run['cpu_s']:.1f} s")
        image.unlink()
    return records


def keep_truth(copy: ImplantedScene, path: Path) -> None:
    """Write a copy's ground truth: the target size per implanted pixel, 65535 on labels."""
    from ...io.raster_writer import RasterWriter
    from ...io.window import Window

    truth = np.zeros(copy.labels.shape, dtype=np.uint16)
    for size, mask in copy.masks.items():
        truth[mask] = size
    truth[copy.labels] = KEPT_LABEL_VALUE
    rows, cols = truth.shape
    with RasterWriter(path, width=cols, height=rows, dtype="uint16", nodata=None, crs_wkt=None,
                      geotransform=None, description="implant size (0 background, 65535 label)") as w:
        w.write(Window(0, 0, cols, rows), truth)


Saver = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]


def run_benchmark(config: ImplantConfig, workdir: Path, log: Callable[[str], None] = print,
                  keep: Path | None = None, save: Saver | None = None,
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the whole plan; returns ``(run records, implant descriptions)``.

    Args:
        config: the plan.
        workdir: where variant images are written (each deleted after its runs); nothing else
            is written there, so a worker sees no score map nor truth beside its image.
        log: one line per run.
        keep: a folder to keep every score map in (:func:`run_copy`), and every copy's ground
            truth once every run is done.
        save: called with the records and implants so far after every implant copy (a long
            plan that stops half-way keeps what it measured).
    """
    scenes = load_scenes(config.scenes)
    donors: list[DonorSpectra] = [donor_spectra(s.name, s.cube, s.labels)
                                  for s in scenes if s.labels.any()]
    by_name = {s.name: s for s in scenes}
    records: list[dict[str, Any]] = []
    implants: list[dict[str, Any]] = []
    copies = []
    for host in config.hosts:
        for group in config.groups:
            copy = implant(by_name[host], donors, group, config.implant_seed,
                           jitter_scale=config.jitter)
            copies.append(copy)
            implants.append({"scene": host, "group": list(group), "seed": config.implant_seed,
                             "targets": [dataclasses.asdict(t) for t in copy.targets]})
            records += run_copy(config, copy, workdir, log, keep)
            if save is not None:
                save(records, implants)
    if keep is not None:
        for copy in copies:
            keep_truth(copy, keep / f"{copy.host}-g{'+'.join(map(str, copy.group))}-truth.tif")
    return records, implants
