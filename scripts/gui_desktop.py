"""The QGIS desktop that ``gui_check.py`` drives: Xvfb, openbox, QGIS, ``xdotool``, and its report.

QGIS runs ``gui_check_control.py`` as its startup code: each step is a JSON file written into
``<out>/cmd`` and answered in ``<out>/out`` from QGIS's GUI thread (:meth:`Desktop.call`); clicks
and keys go through ``xdotool`` where a user's would.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess  # nosec B404 - argument lists only
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


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
