"""ROC plot (PNG) and a self-contained HTML evaluation report.

matplotlib is imported lazily, with the non-interactive Agg backend, only when a plot is drawn.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
from pathlib import Path

import numpy as np

from ..errors import DependencyError
from ..io.destinations import write_failure
from ..io.writer import atomic_output
from ..types import PathLike
from .evaluate import Evaluation, RocCurve

_MAX_POINTS = 2000


def _thin(curve: RocCurve) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2000 points of the curve (a 100-megapixel map has millions of thresholds)."""
    if curve.pf.size <= _MAX_POINTS:
        return curve.pf, curve.pd
    keep = np.unique(np.r_[np.linspace(0, curve.pf.size - 1, _MAX_POINTS).astype(int),
                           curve.pf.size - 1])
    return curve.pf[keep], curve.pd[keep]


def _figure(evaluation: Evaluation, title: str):
    """A matplotlib figure with the ROC curve (linear and log false-alarm axes)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise DependencyError("Plotting needs matplotlib; install it (apt install "
                              "python3-matplotlib) or leave out the plot.") from None
    pf, pd = _thin(evaluation.roc)
    fig = Figure(figsize=(9, 4), dpi=100)
    for i, log in enumerate((False, True)):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.plot(pf, pd, color="#c0392b", lw=1.8, label=f"AUC = {evaluation.auc:.4f}")
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        if log:
            ax.set_xscale("log")
            ax.set_xlim(max(1.0 / max(evaluation.background_pixels, 1), 1e-6), 1)
        else:
            ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false alarm rate PF" + (" (log)" if log else ""))
        ax.set_ylabel("detection rate PD")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_roc_plot(evaluation: Evaluation, path: PathLike, *, title: str = "ROC") -> Path:
    """Draw the ROC curve into a PNG (written atomically).

    Raises:
        DependencyError: matplotlib is missing.
        OutputError: the PNG cannot be written (the message names the OS's reason).
    """
    fig = _figure(evaluation, title)
    with atomic_output(path) as temp:
        try:
            fig.savefig(temp, format="png")
        except OSError as exc:
            raise write_failure(Path(path), exc, temp) from None
    return Path(path)


def _png_base64(evaluation: Evaluation, title: str) -> str:
    buffer = io.BytesIO()
    _figure(evaluation, title).savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_html_report(evaluation: Evaluation, path: PathLike, *, score_path: PathLike,
                      ground_truth_path: PathLike, extra: dict[str, str] | None = None) -> Path:
    """Write a self-contained HTML report: the numbers and the ROC plot (embedded PNG).

    Args:
        evaluation: the numbers.
        path: the .html file (written atomically).
        score_path: shown in the report.
        ground_truth_path: shown in the report.
        extra: more rows for the table (e.g. method, device).

    Returns:
        The path written.

    Raises:
        OutputError: the file cannot be written (the message names the OS's reason).
    """
    rows = {"ROC AUC": f"{evaluation.auc:.4f}", "AUC(D,&tau;)": f"{evaluation.auc_d_tau:.4f}",
            "AUC(F,&tau;)": f"{evaluation.auc_f_tau:.4f}", "AUC TD": f"{evaluation.auc_td:.4f}",
            "AUC BS": f"{evaluation.auc_bs:.4f}", "AUC SNPR": f"{evaluation.auc_snpr:.3f}",
            "anomaly pixels": str(evaluation.anomaly_pixels),
            "background pixels": str(evaluation.background_pixels)}
    table = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows.items())
    table += "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in (extra or {}).items())
    try:
        image = (f'<img alt="ROC curve" src="data:image/png;base64,'
                 f'{_png_base64(evaluation, "ROC")}">')
    except DependencyError as exc:
        image = f"<p>{html.escape(str(exc))}</p>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DMS2F-HAD evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 10px;text-align:left}}</style></head>
<body><h1>Anomaly detection evaluation</h1>
<p>Score: <code>{html.escape(os.fspath(score_path))}</code><br>
Ground truth: <code>{html.escape(os.fspath(ground_truth_path))}</code><br>
Made {datetime.datetime.now().isoformat(timespec="seconds")}</p>
<table>{table}</table>
{image}
<p>AUC(D,&tau;) and AUC(F,&tau;) are Chang's 3D-ROC areas with &tau; the min-max normalised
score: the mean normalised score of anomaly and of background pixels.</p>
</body></html>
"""
    with atomic_output(path) as temp:
        try:
            Path(temp).write_text(page, encoding="utf-8")
        except OSError as exc:
            raise write_failure(Path(path), exc, temp) from None
    return Path(path)
