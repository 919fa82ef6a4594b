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
import itertools
import json
import os
import shutil
import signal
import subprocess  # nosec B404 - argument lists only
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "resources" / "sample" / "san_diego_sample.tif"
TRUTH = REPO / "resources" / "sample" / "san_diego_sample_gt.tif"
SCORE = "DMS2F-HAD score: san_diego_sample"
MASK = "DMS2F-HAD mask: san_diego_sample"
DETECTIONS = "DMS2F-HAD detections: san_diego_sample"
#: Where X servers keep their lock files and sockets (how a free display number is found).
X11_LOCKS = Path("/tmp")  # noqa: S108 - X11's fixed location, only read


class StepError(RuntimeError):
    """A step inside QGIS raised (its traceback is the message)."""


@dataclass
class Report:
    """The checks made and the screenshots taken, written as ``report.txt``."""

    folder: Path
    lines: list[str] = field(default_factory=list)
    failures: int = 0
    shots: itertools.count = field(default_factory=lambda: itertools.count(1))

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        self.failures += 0 if ok else 1
        self.say(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail != "" else ""))
        return ok

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self) -> Path:
        path = self.folder / "report.txt"
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


class Desktop:
    """Xvfb + openbox + QGIS, driven through ``gui_check_control.py`` and ``xdotool``."""

    def __init__(self, folder: Path, env_extra: dict[str, str]) -> None:
        self.folder = folder
        self.env_extra = env_extra
        self.processes: list[subprocess.Popen] = []
        self.display = ""
        self.counter = itertools.count(1)

    def start(self) -> None:
        number = next(n for n in range(90, 200) if not (X11_LOCKS / f".X{n}-lock").exists())
        self.display = f":{number}"
        self._spawn(["Xvfb", self.display, "-screen", "0", "1440x900x24", "-nolisten", "tcp"],
                    "xvfb.log", self._base_env())
        self._wait(lambda: (X11_LOCKS / ".X11-unix" / f"X{number}").exists(), 30, "Xvfb")
        env = self._env()
        self._spawn(["openbox"], "openbox.log", env)
        self._spawn(["qgis", "--profiles-path", str(self.folder / "profiles"), "--nologo",
                     "--noversioncheck", "--code", str(REPO / "scripts" / "gui_check_control.py")],
                    "qgis.log", env)
        self._wait(lambda: (self.folder / "ready").exists(), 600, "QGIS start")

    def _base_env(self) -> dict[str, str]:
        """This environment without what would redirect QGIS: the offscreen platform, a custom
        profile, a private env, and a pyenv Python on PATH (QGIS embeds the system Python)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "DMS2F_HAD_VENV",
                            "PYTHONHOME", "PYTHONPATH") and not k.startswith("PYENV")}
        env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep)
                                      if ".pyenv" not in part)
        return env

    def _env(self) -> dict[str, str]:
        env = self._base_env()
        home, runtime = self.folder / "home", self.folder / "xdg-runtime"
        home.mkdir(parents=True, exist_ok=True)
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        user_pip = Path.home() / ".config" / "pip" / "pip.conf"
        if user_pip.is_file() and "PIP_CONFIG_FILE" not in env:
            env["PIP_CONFIG_FILE"] = str(user_pip)  # the machine's pip setup, not the scratch HOME's
        env.update(DISPLAY=self.display, HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
                   GUI_CHECK_DIR=str(self.folder), **self.env_extra)
        return env

    def _spawn(self, cmd: list[str], log: str, env: dict[str, str]) -> None:
        with open(self.folder / log, "wb") as out:
            self.processes.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,  # nosec B603
                                                   env=env))

    @staticmethod
    def _wait(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(poll)
        raise TimeoutError(f"{what}: nothing after {timeout:.0f} s")

    def call(self, step: str, timeout: float = 120, **args: Any) -> Any:
        """Run ``step`` in QGIS's GUI thread and return its value."""
        name = f"{next(self.counter):04d}.json"
        (self.folder / "cmd" / name).write_text(json.dumps({"step": step, "args": args}),
                                                encoding="utf-8")
        result_path = self.folder / "out" / name
        self._wait(result_path.exists, timeout, f"step {step}", poll=0.2)
        result = json.loads(result_path.read_text(encoding="utf-8"))
        if not result["ok"]:
            raise StepError(f"{step}: {result['error']}")
        return result["value"]

    def until(self, step: str, predicate: Callable[[Any], bool], timeout: float, poll: float = 2,
              **args: Any) -> Any:
        """Call ``step`` until ``predicate`` holds for its value (a failing step counts as no)."""
        def attempt() -> Any:
            try:
                value = self.call(step, **args)
            except StepError:
                return None
            return (value,) if predicate(value) else None
        return self._wait(attempt, timeout, f"waiting on {step}", poll)[0]

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, env=self._env())  # noqa: S607 # nosec B603 B607

    def click(self, point: list[int], button: int = 1) -> None:
        self.xdotool("mousemove", str(point[0]), str(point[1]))
        time.sleep(0.3)
        self.xdotool("click", str(button))
        time.sleep(1.0)

    def answer(self, box: dict, button: str, tries: int = 3) -> None:
        """Click ``button`` of the open message box ``box`` until the box has closed.

        A click can land before a just-opened box takes input; it is then repeated.
        """
        def closed() -> bool:
            try:
                self.call("message_box")
            except StepError:
                return True
            return False

        for _ in range(tries):
            self.click(box["buttons"][button])
            try:
                self._wait(closed, 10, f"the message box after '{button}'")
                return
            except TimeoutError:
                continue
        raise TimeoutError(f"the message box did not close after {tries} clicks on '{button}'")

    def key(self, name: str) -> None:
        self.xdotool("key", name)
        time.sleep(0.5)

    def screenshot(self, report: Report, name: str) -> Path:
        time.sleep(1.5)  # let the screen repaint
        path = self.folder / f"{next(report.shots):02d}-{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True,  # noqa: S607 # nosec
                       env=self._env())
        report.say(f"screenshot {path.name}")
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()


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
