"""The target-implant benchmark on the development scenes, with its results file.

A thin front to ``dms2f-had bench --implant`` (``dms2f_plugin/engine/app/implant/``): synthetic
targets of 1 to 300 pixels at abundances 0.25, 0.5 and 1, with spectra from the other scenes'
labelled anomalies, are implanted into each development scene (three copies: sizes 1-64, 144,
300) and into six variants of each copy (every band, about 64 and 30 bands, [0, 1] reflectance,
int16 with a scale, noisy water-vapour bands with wavelengths). Each run is a fresh process that
gets only the image; the implant masks are read afterwards. It prints the per-run lines, a
markdown table of ROC AUC per variant and size class for every method (mean and std over seeds),
the worst scene per size class, the mean wall and CPU seconds per DMS2F run, and as the LAST line::

    implant_worst_margin_vs_rx=<min over size classes and variants of (mean dms2f AUC - rx AUC)>

and writes every number to ``benchmarks/results/<date>-implant.json`` (``--json`` elsewhere).
Every option of ``dms2f-had bench --implant`` passes through. The full default run (11 scenes x 3
copies x 6 variants x 3 seeds = 594 DMS2F fits, plus RX) takes about ten hours on two cores; a
quick one::

    .venv/bin/python benchmarks/implant.py --methods rx,lrx                  # no fits, minutes
    .venv/bin/python benchmarks/implant.py --only abu-airport-1 --groups 1,25,144 \\
        --variants original --seeds 1                                        # one fit
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dms2f_had.dms2f_plugin.engine.app.implant.command import main as implant_main

REPO = Path(__file__).resolve().parent.parent
SCENES = REPO.parent / "shared" / "data" / "had"


def main(argv: list[str]) -> int:
    """Run the implant benchmark with the repository's defaults for scenes and results file."""
    args = list(argv)
    if "--scenes" not in args:
        args += ["--scenes", str(SCENES)]
    if "--json" not in args:
        args += ["--json", str(REPO / "benchmarks" / "results" / f"{time.strftime('%Y-%m-%d')}-implant.json")]
    return implant_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
