"""Helpers of the fault-injection tests: a full disk, a file-size limit, signals, another user.

Helpers, not tests. Every fault is real: a small tmpfs that really fills up (where this machine
lets the tests mount one), the kernel's per-process file-size limit (``RLIMIT_FSIZE``, always
available on Linux: writes past it fail with ``EFBIG``), real signals to a real ``dms2f-had``
process, and a real unprivileged user (``nobody`` through ``setpriv``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: Names a run may leave behind when it fails to clean up.
LEFTOVER_MARKERS = (".tmp", ".bak", "-journal", "-wal", "-shm", ".dms2f_probe_")

#: Runs the command line in a fresh interpreter, optionally with GDAL's exceptions turned on
#: first (as QGIS 3.40's Processing does process-wide), and exits with its status.
BOOTSTRAP = (
    "import sys\n"
    "if sys.argv[1] == 'exceptions':\n"
    "    from osgeo import gdal, ogr, osr\n"
    "    gdal.UseExceptions(); ogr.UseExceptions(); osr.UseExceptions()\n"
    "from dms2f_had.dms2f_plugin.engine.app.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` that look like temporary files, backups or SQLite sidecars."""
    return sorted(p.name for p in folder.iterdir() if any(m in p.name for m in LEFTOVER_MARKERS))


def cli(args: list[str], *, exceptions: bool = False, file_limit: int | None = None,
        user: str | None = None, timeout: float = 600, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run ``dms2f-had ARGS`` in a subprocess and return it (stdout and stderr kept apart).

    Args:
        args: the command line after ``dms2f-had``.
        exceptions: turn GDAL/OGR/OSR exceptions on in that process first.
        file_limit: ``RLIMIT_FSIZE`` in bytes for the process (writes past it fail with EFBIG).
        user: run as this user (through ``setpriv``; the caller checks :func:`can_switch_user`).
        timeout: seconds.
        cwd: working folder.
    """
    command = [sys.executable, "-c", BOOTSTRAP, "exceptions" if exceptions else "plain", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={_group_of(user)}", "--clear-groups",
                   "--", *command]
    preexec = None
    if file_limit is not None:
        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=preexec, env=env, cwd=cwd)


def popen_cli(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """Start ``dms2f-had ARGS`` in a subprocess (for signals), stdout and stderr piped.

    SIGINT is reset to its default in the child, as a terminal's foreground job has it: a suite
    started in the background by a non-interactive shell (``make test &``) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C could not be tested.
    """
    command = [sys.executable, "-c", BOOTSTRAP, "plain", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **kwargs)  # type: ignore[call-overload]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def error_lines(stderr: str) -> list[str]:
    """The ``dms2f-had: error:`` lines of a run's stderr (warnings and logs left out)."""
    return [line for line in stderr.splitlines() if ": error:" in line]


def can_mount() -> str | None:
    """None when this process may mount a tmpfs, else the reason it may not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@contextlib.contextmanager
def small_tmpfs(where: Path, size_kib: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kib`` KiB at ``where`` for the block (raises OSError when refused)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"mount refused: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path, leave_kib: int) -> None:
    """Fill the filesystem of ``folder`` until about ``leave_kib`` KiB remain free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    size = max(0, free - leave_kib * 1024)
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * size)


def can_switch_user(user: str = "nobody") -> str | None:
    """None when the tests can run a command as ``user``, else the reason they cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "switching to an unprivileged user needs root"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    try:
        import pwd

        pwd.getpwnam(user)
    except KeyError:
        return f"there is no user '{user}'"
    return None


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid
