"""A campaign's summary: one row per scene, as a text table and as CSV and JSON in the output folder.

Columns: scene, status, seconds, peak memory (MB), anomaly pixels and detections (when a
threshold was asked for), where it ran, and the one-line error of a failed scene. The files,
``campaign_summary.csv`` and ``campaign_summary.json``, are written atomically; the JSON also
holds the campaign's totals and wall time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io.writer import atomic_output
from .scene_task import STATUSES, SceneOutcome

CSV_NAME = "campaign_summary.csv"
JSON_NAME = "campaign_summary.json"
COLUMNS = ("scene", "status", "seconds", "peak_memory_mb", "anomaly_pixels", "detections",
           "worker", "error", "input")


def counts(outcomes: Sequence[SceneOutcome]) -> dict[str, int]:
    """Scenes per status (every status present, zero or not)."""
    found = Counter(o.status for o in outcomes)
    return {status: found.get(status, 0) for status in STATUSES}


def _row(outcome: SceneOutcome) -> dict[str, Any]:
    return {"scene": outcome.name, "status": outcome.status,
            "seconds": None if outcome.seconds is None else round(outcome.seconds, 2),
            "peak_memory_mb": (None if outcome.peak_memory_mb is None
                               else round(outcome.peak_memory_mb, 1)),
            "anomaly_pixels": outcome.anomaly_pixels, "detections": outcome.detections,
            "worker": outcome.worker, "error": outcome.error or "", "input": outcome.input}


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def format_table(outcomes: Sequence[SceneOutcome], *, thresholded: bool = False) -> str:
    """The summary as an aligned text table (errors last, on the same line)."""
    columns = ["scene", "status", "seconds", "peak_memory_mb"]
    if thresholded:
        columns += ["anomaly_pixels", "detections"]
    rows = [[_cell(_row(o)[c]) for c in columns] for o in outcomes]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for outcome, row in zip(outcomes, rows):
        line = "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
        lines.append(line + (f"  {outcome.error}" if outcome.error else ""))
    total = counts(outcomes)
    lines.append(", ".join(f"{n} {status}" for status, n in total.items() if n) or "no scenes")
    return "\n".join(lines)


def write_summary(outcomes: Sequence[SceneOutcome], folder: Path, *,
                  campaign: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``campaign_summary.csv`` and ``.json`` into ``folder``; returns their paths."""
    rows = [_row(o) for o in outcomes]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, json_path = folder / CSV_NAME, folder / JSON_NAME
    with atomic_output(csv_path) as temp:
        temp.write_text(text.getvalue(), encoding="utf-8")
    document = {"campaign": {**campaign, "counts": counts(outcomes)}, "scenes": rows}
    with atomic_output(json_path) as temp:
        temp.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return csv_path, json_path
