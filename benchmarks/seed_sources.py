"""Which of the fit's random sources moves a large implant class between network seeds.

Usage::

    python benchmarks/seed_sources.py --scenes ../shared/data/had --work build/seed-sources \\
        [--hosts abu-airport-1,san-diego,abu-urban-3,pavia-car] [--size 144] [--seeds 2] \\
        [--correction "lines45|rx3"] [--steps N] [--workers 2]

An exploration, not a selection: it chooses nothing. A DMS2F fit draws on three random sources,
all seeded by the one ``seed`` of :func:`...detectors.fitting.fit_scene`: the blocks it samples
(``sample_scene``), the network's initial weights (``torch.manual_seed``) and the training's block
order, corruption and dropout (``train_network``). For each host's implant copy of one size class
(implant seed 0, the original variant, as select_defaults builds it), the script fits once with
every source at 0, then for each seed 1..N once with ONE source at that seed and the others at 0,
and scores the copy with the shipped fast preset and ``--correction`` (``benchmarks/candidates.py``).
It prints the class AUC of every fit, then per source the mean over hosts of the standard
deviation over its N + 1 fits, and the standard deviation of the host means. Ground truth (the
implant masks) is read only after every map is written. Last line:
``seed_sources sample=<...> init=<...> train=<...>`` (the mean per-host standard deviations).
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import multiprocessing
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import select_defaults as sd  # noqa: E402 - the sibling script's implant copies and scores
from fit_maps import run_all  # noqa: E402 - the RX maps

from dms2f_had.dms2f_plugin.engine.app.implant import variants  # noqa: E402

SOURCES = ("sample", "init", "train")
HOSTS = "abu-airport-1,san-diego,abu-urban-3,pavia-car"  # the CI test's host and three exploration hosts


def fit(image: str, out: str, seeds: dict[str, int], steps: int | None) -> None:
    """Score ``image`` into ``out`` (correction off, one thread), each source seeded as given."""
    from dms2f_had.dms2f_plugin.engine.app import jobs
    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    # A worker process runs many tasks: wrap the originals, never the previous task's wrapper.
    originals = fitting.__dict__.setdefault(
        "_seed_sources_originals", (fitting.sample_scene, fitting.train_network))
    sample_scene, train_network = originals
    fitting.sample_scene = lambda *a, **k: sample_scene(*a, **{**k, "seed": seeds["sample"]})
    fitting.train_network = lambda *a, **k: train_network(*a, **{**k, "seed": seeds["train"]})
    jobs.detect(image, out, method="dms2f", seed=seeds["init"], threads=1, local_window=0, steps=steps)


def conditions(n: int) -> dict[str, dict[str, int]]:
    """``"base"`` (every source 0) and ``"<source><s>"`` (that source at ``s``, 1..n)."""
    out = {"base": dict.fromkeys(SOURCES, 0)}
    for seed in range(1, n + 1):
        for source in SOURCES:
            out[f"{source}{seed}"] = {**dict.fromkeys(SOURCES, 0), source: seed}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="keeps every image and map")
    parser.add_argument("--hosts", default=HOSTS)
    parser.add_argument("--size", type=int, default=144, choices=[1, 4, 9, 25, 64, 144, 300])
    parser.add_argument("--seeds", type=int, default=2, choices=range(1, 11), metavar="1..10")
    parser.add_argument("--correction", default=sd.SHIPPED_CORRECTION, choices=list(sd.CANDIDATES))
    parser.add_argument("--steps", type=int, default=None, choices=range(1, 100_001), metavar="1..100000",
                        help="fit steps instead of the preset's (quick checks only)")
    parser.add_argument("--workers", type=int, default=2, choices=range(1, 17), metavar="1..16")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    hosts = [h for h in args.hosts.split(",") if h]
    runs = conditions(args.seeds)
    copies = {tag: copy for copy, tag in sd.implant_copies(args.scenes, hosts, [(args.size,)])}
    images = {}
    for tag, copy in copies.items():
        images[tag] = args.work / f"implant-{tag}-original.tif"
        if not images[tag].exists():
            variants.write_variant(variants.make_variant("original", copy.cube, 0), images[tag])
    run_all([(str(images[t]), str(args.work / f"{t}-rx.tif"), "rx", "0", 0) for t in copies], args.workers)
    todo = [(str(images[t]), str(args.work / f"{t}-{name}.tif"), seeds, args.steps)
            for t in copies for name, seeds in runs.items() if not (args.work / f"{t}-{name}.tif").exists()]
    print(f"{len(todo)} fit(s)", flush=True)
    with futures.ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in futures.as_completed([pool.submit(fit, *task) for task in todo]):
            done.result()
    auc: dict[tuple[str, str], float] = {}
    for tag, copy in copies.items():
        rx = sd.read_map(args.work / f"{tag}-rx.tif")
        for name in runs:
            scores = sd.implant_scores(args.work / f"{tag}-{name}.tif", rx, copy, [args.correction])
            auc[(tag, name)] = scores[args.correction][str(args.size)]
        print(tag, " ".join(f"{name} {auc[(tag, name)]:.4f}" for name in runs))
    spread = {}
    for source in SOURCES:
        names = ["base", *(f"{source}{s}" for s in range(1, args.seeds + 1))]
        spread[source] = float(np.mean([np.std([auc[(t, n)] for n in names]) for t in copies]))
        host_means = [np.mean([auc[(t, n)] for t in copies]) for n in names]
        print(f"{source}: mean per-host std {spread[source]:.4f}; std of the {len(copies)}-host means "
              f"{np.std(host_means):.4f}")
    print("seed_sources " + " ".join(f"{s}={spread[s]:.4f}" for s in SOURCES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
