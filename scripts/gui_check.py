"""The analyst's path through the real QGIS desktop, under Xvfb, with screenshots (``make gui-check``).

Usage: ``python3 scripts/gui_check.py [--deps install|venv] [--steps N] [--out build/gui-check]``

Starts Xvfb, openbox and ``qgis`` with a fresh profile and a scratch ``HOME`` (the user's own
profile and environment are never touched), then, clicking where a user clicks:

1. installs ``build/dms2f_had-<version>.zip`` (``make package``) with Plugins > Manage and Install
   Plugins > Install from ZIP, security warning included;
2. ``--deps install`` (default): presses the notice's *Install…* button and lets the plugin's own
   installer make the private environment in the scratch ``HOME`` (pip downloads what it does
   not find in the machine's pip configuration); ``--deps venv`` uses the checkout's ``.venv``
   through ``DMS2F_HAD_VENV`` instead;
3. loads the sample scene and its single-band ground truth, right-clicks both in the Layers panel
   ("Detect anomalies…" only on the hyperspectral one) and runs the detection from that entry;
4. thresholds the score, opens the attribute table, checks the evaluation dialog (no guessed
   ground truth, the score refused as its own), evaluates against the ground truth;
5. opens the packaged model from the Toolbox with "Edit a Copy in the Model Designer…" and runs
   the packaged model from the Toolbox.

The point is the GUI path, not detection quality: ``--steps`` (default 20) shortens the fast
preset's fitting schedule inside that QGIS process, for the right-click run and the model alike
(``--steps 0`` keeps the real schedule). Every step is written to ``<out>/report.txt`` with the
screenshots ``<out>/NN-name.png``; the exit code is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess  # nosec B404 - argument lists only
import sys
from collections import Counter
from pathlib import Path

from gui_desktop import REPO, Desktop, Report, StepError

SAMPLE = REPO / "resources" / "sample" / "san_diego_sample.tif"
TRUTH = REPO / "resources" / "sample" / "san_diego_sample_gt.tif"
SCORE = "DMS2F-HAD score: san_diego_sample"
MASK = "DMS2F-HAD mask: san_diego_sample"
DETECTIONS = "DMS2F-HAD detections: san_diego_sample"


def install_plugin(desktop: Desktop, report: Report, zip_path: Path) -> None:
    desktop.call("open_plugin_manager")
    button = desktop.until("plugin_manager_zip", bool, 120, path=str(zip_path))
    desktop.screenshot(report, "install-from-zip")
    desktop.click(button)
    box = desktop.until("message_box", bool, 60)
    report.check("security warning before installing from ZIP", "Yes" in box["buttons"], box["text"][:80])
    desktop.screenshot(report, "security-warning")
    desktop.answer(box, "Yes")
    state = desktop.until("plugin_state", lambda s: s["active"], 300)
    report.check("plugin installed and active", state["active"], state["plugin_folder"])
    desktop.call("close_top_level", class_name="QgsPluginManager")
    desktop.screenshot(report, "plugin-installed")


def install_dependencies(desktop: Desktop, report: Report, timeout: float) -> None:
    state = desktop.call("plugin_state")
    notice = [m for m in state["messages"] if "needs" in m]
    report.check("the missing packages are offered in the message bar", bool(notice), notice)
    desktop.click(desktop.call("message_bar_button", text="Install…"))
    box = desktop.until("message_box", bool, 60)
    report.check("the confirmation names the torch build and its size",
                 "torch" in box["text"] and "GB" in box["text"], box["text"])
    desktop.screenshot(report, "install-confirmation")
    desktop.answer(box, "Yes")
    state = desktop.until("plugin_state",
                          lambda s: any("installed in" in m or "failed" in m for m in s["messages"]),
                          timeout, poll=10)
    installed = any("installed in" in m for m in state["messages"])
    report.check("dependencies installed", installed, state["messages"])
    report.check("the needs-torch notice is gone after the install",
                 not any("needs" in m for m in state["messages"]), state["messages"])
    desktop.screenshot(report, "dependencies-installed")
    log = desktop.call("message_log", tab="DMS2F-HAD")
    report.check("the log names the torch build and its size before pip runs",
                 "torch" in log and "GB" in log.split("$ ")[0], log.splitlines()[:2])
    report.check("pip's version ranges keep their < and > in the log",
                 any("<" in line or ">=" in line for line in log.splitlines() if "Collecting" in line
                     or "Requirement" in line), [line for line in log.splitlines() if "<" in line][:2])
    desktop.screenshot(report, "log-messages")


def right_click_detection(desktop: Desktop, report: Report, timeout: float) -> None:
    desktop.click(desktop.call("layer_tree_point", name="san_diego_sample_gt"), button=3)
    menu = desktop.until("popup_menu", bool, 30)
    report.check("no 'Detect anomalies…' on a single-band layer", "Detect anomalies…" not in menu,
                 sorted(menu))
    desktop.screenshot(report, "menu-single-band")
    desktop.key("Escape")
    desktop.click(desktop.call("layer_tree_point", name="san_diego_sample"), button=3)
    menu = desktop.until("popup_menu", bool, 30)
    report.check("'Detect anomalies…' on the hyperspectral layer", "Detect anomalies…" in menu)
    desktop.screenshot(report, "menu-hyperspectral")
    desktop.click(menu["Detect anomalies…"])
    state = desktop.until("dialog_state", bool, 120)
    report.check("the entry opens the detection dialog on that layer",
                 state["title"].startswith("Detect anomalies") and "san_diego_sample" in str(
                     state["values"].get("INPUT")), (state["title"], state["values"].get("INPUT")))
    desktop.screenshot(report, "detect-dialog")
    desktop.click(state["run_button"])
    names = desktop.until("layer_names", lambda n: SCORE in n, timeout, poll=5)
    report.check("the score layer is named after the method and the input", SCORE in names, names)
    desktop.call("dialog_show_log")
    log = desktop.call("dialog_state")["log"]
    lines = [line for line in log.splitlines() if line.strip()]
    repeated = sorted({line for line in lines if lines.count(line) > 1 and not line.startswith("{")})
    report.check("one log line per fact (no repeated line)", not repeated, repeated)
    report.check("the device is named once", log.count("Using device") == 1, log.count("Using device"))
    desktop.screenshot(report, "detect-log")
    desktop.call("dialog_close")
    desktop.call("set_visible", name="san_diego_sample_gt", visible=False)
    labels = desktop.call("legend_labels", name=SCORE)
    report.check("legend values rounded", all(len(label.split(".")[-1]) <= 3 for label in labels),
                 labels[:3])
    desktop.screenshot(report, "score-heatmap")


def threshold_and_evaluate(desktop: Desktop, report: Report) -> None:
    desktop.call("open_algorithm", alg_id="dms2f:threshold_anomalies", params={"INPUT": {"layer": SCORE}})
    state = desktop.until("dialog_state", bool, 120)
    cut = [label for label, fits in state["labels_fit"].items() if not fits]
    report.check("no cut-off label in the threshold dialog", not cut, cut)
    desktop.screenshot(report, "threshold-dialog")
    desktop.click(state["run_button"])
    names = desktop.until("layer_names", lambda n: DETECTIONS in n, 600, poll=3)
    report.check("mask and detections named after the method and the input",
                 MASK in names and DETECTIONS in names, names)
    desktop.call("dialog_close")
    desktop.screenshot(report, "mask-and-detections-on-heatmap")
    desktop.call("set_visible", name=MASK, visible=False)
    desktop.screenshot(report, "detections-on-heatmap")
    desktop.call("set_visible", name=MASK, visible=True)
    rows = desktop.call("attribute_values", name=DETECTIONS)
    shown = [rows[0].get("max_score"), rows[0].get("area_map")] if rows else []
    report.check("attribute values shown rounded", rows and all(
        len(str(value).split(".")[-1]) <= 2 for value in shown), shown)
    desktop.call("show_attribute_table", name=DETECTIONS)
    desktop.screenshot(report, "attribute-table")
    desktop.call("close_dialogs")

    desktop.call("open_algorithm", alg_id="dms2f:evaluate_detection", params={"INPUT": {"layer": SCORE}})
    state = desktop.until("dialog_state", bool, 120)
    report.check("evaluate starts without a guessed ground truth",
                 state["values"].get("GROUND_TRUTH") in (None, ""), state["values"].get("GROUND_TRUTH"))
    desktop.screenshot(report, "evaluate-dialog")
    desktop.call("dialog_set", params={"GROUND_TRUTH": {"layer": SCORE}})
    desktop.click(state["run_button"])
    box = desktop.until("message_box", bool, 60)
    report.check("evaluate refuses the score as its own ground truth, before the run",
                 "anomaly score itself" in box["text"], box["text"])
    desktop.screenshot(report, "evaluate-refuses-score")
    desktop.click(next(iter(box["buttons"].values())))
    desktop.call("dialog_set", params={"GROUND_TRUTH": {"layer": "san_diego_sample_gt"}})
    desktop.click(state["run_button"])
    log = desktop.until("dialog_state", lambda s: "AUC (D,F)" in s["log"], 600, poll=3)["log"]
    report.check("evaluation reports the AUC", "AUC (D,F)" in log,
                 [line for line in log.splitlines() if line.startswith("AUC (D,F)")])
    desktop.screenshot(report, "evaluate-log")
    desktop.call("dialog_close")


def packaged_model(desktop: Desktop, report: Report, timeout: float) -> None:
    point = desktop.call("toolbox_point", search="anomal", alg_id="dms2f:detect_and_threshold")
    desktop.screenshot(report, "toolbox")
    desktop.click(point, button=3)
    menu = desktop.until("popup_menu", bool, 30)
    entry = "Edit a Copy in the Model Designer…"
    report.check("the Toolbox offers an editable copy of the packaged model", entry in menu, sorted(menu))
    desktop.screenshot(report, "toolbox-menu")
    desktop.click(menu[entry])
    designer = desktop.until("model_designer", bool, 120)
    report.check("the copy opens in the Model Designer, valid and tied to no file",
                 designer["valid"] and designer["source"] == "", designer)
    desktop.screenshot(report, "model-designer")
    desktop.call("close_top_level", class_name="QgsModelDesignerDialog")
    before = desktop.call("layer_names")
    desktop.call("open_algorithm", alg_id="dms2f:detect_and_threshold",
                 params={"INPUT": {"layer": "san_diego_sample"}})
    state = desktop.until("dialog_state", bool, 120)
    desktop.screenshot(report, "model-dialog")
    desktop.click(state["run_button"])
    names = desktop.until("layer_names", lambda n: len(n) >= len(before) + 3, timeout, poll=5)
    new = sorted((Counter(names) - Counter(before)).elements())
    report.check("the packaged model loads its three outputs, named after the method and the input",
                 new == sorted([SCORE, MASK, DETECTIONS]), new)
    desktop.call("dialog_show_log")
    desktop.screenshot(report, "model-log")
    desktop.call("dialog_close")
    desktop.screenshot(report, "model-results")


def build_zip() -> Path:
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "package.py")], check=True,  # nosec B603
                         capture_output=True, text=True).stdout
    zips = sorted((REPO / "build").glob("dms2f_had-*.zip"), key=lambda p: p.stat().st_mtime)
    print(out.strip())
    return zips[-1]


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deps", choices=("install", "venv"), default="install")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "gui-check")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per long step")
    args = parser.parse_args(argv)
    if not 0 <= args.steps <= 10_000:
        parser.error("--steps must be between 0 and 10000")
    for tool in ("Xvfb", "openbox", "xdotool", "import", "qgis"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is missing: apt-get install xvfb openbox xdotool imagemagick qgis")
    zip_path = build_zip()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    extra = {"DMS2F_HAD_VENV": str(REPO / ".venv")} if args.deps == "venv" else {}
    desktop, report = Desktop(args.out, extra), Report(args.out)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # Xvfb and QGIS are stopped on the way out
    try:
        desktop.start()
        report.say(f"QGIS {desktop.call('setup')['qgis']} on display {desktop.display}; zip {zip_path.name}")
        desktop.screenshot(report, "start")
        install_plugin(desktop, report, zip_path)
        if args.deps == "install":
            install_dependencies(desktop, report, args.timeout)
        if args.steps:
            report.say("GUI path only: " + desktop.call("shorten_fit", steps=args.steps))
        desktop.call("load_rasters", paths=[str(SAMPLE), str(TRUTH)])
        desktop.screenshot(report, "layers")
        right_click_detection(desktop, report, args.timeout)
        threshold_and_evaluate(desktop, report)
        packaged_model(desktop, report, args.timeout)
        desktop.call("quit_qgis")
    except (StepError, TimeoutError, subprocess.CalledProcessError, KeyError) as err:
        report.check("the path ran to the end", False, f"{type(err).__name__}: {err}")
        try:
            desktop.screenshot(report, "failure")
        except subprocess.CalledProcessError:
            pass
    finally:
        desktop.stop()
        print(f"report: {report.write()}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
