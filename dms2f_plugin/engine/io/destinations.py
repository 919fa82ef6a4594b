"""Output destinations: checked before any work starts, and named precisely when a write fails.

:func:`validate_output_path` refuses, before anything is computed, every destination the final
rename could not replace: a missing or read-only folder, a read-only file, a file of another user
in a folder with the sticky bit (``/tmp``), an output that is one of the inputs.

:func:`space_shortfall` says, also before anything is computed, when a folder's disk may not hold
what the run will write there (a score and its temporary maps, measured uncompressed).

:func:`write_failure` turns a failed write into one line that names the real cause. GDAL's own
message after a full disk ("TIFFAppendToStrip: Write error at scanline 0") does not say why, so
the operating system is asked: a few more bytes are appended to the (doomed) temporary file, and
the error that append gets (``No space left on device``, ``File too large``, ``Disk quota
exceeded``, ...) is the cause reported, with GDAL's message as detail.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import OutputError
from ..types import PathLike

RASTER_EXTENSIONS = (".tif", ".tiff")
_PROBE_CHUNK = 65536
_PROBE_CHUNKS = 16  # at most 1 MiB appended to a failed temporary file to learn the OS's reason
_LOW_SPACE = 64 * 2**20  # below this much free space, a failure message says how much is left
_FIXES = {
    errno.ENOSPC: "free some disk space or choose a folder on another disk",
    getattr(errno, "EDQUOT", -1): "free some space within your disk quota or choose another folder",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f) or than the "
                 "filesystem allows; choose another folder or a smaller output",
    errno.EROFS: "the disk is mounted read-only; choose another folder",
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to, or another file name",
    errno.EIO: "the disk reported an input/output error; check it and choose another folder",
}


def validate_output_path(path: PathLike, *, inputs: Sequence[PathLike] = (),
                         extensions: Sequence[str] | None = RASTER_EXTENSIONS,
                         what: str = "output") -> Path:
    """Check an output path before any work starts.

    Args:
        path: the output file.
        inputs: input files it must not overwrite (compared after resolving links).
        extensions: accepted suffixes (lower case, with the dot); None accepts any.
        what: how to call the file in messages.

    Returns:
        The resolved output path.

    Raises:
        OutputError: wrong extension, missing or non-writable folder, a directory in the way, the
            output is one of the inputs, or an existing file the final rename may not replace.
    """
    out = Path(path).expanduser().resolve()
    if extensions is not None and out.suffix.lower() not in extensions:
        raise OutputError(f"The {what} '{path}' must end with {' or '.join(extensions)}; "
                          f"e.g. {out.with_suffix(extensions[0]).name}.")
    if out.is_dir():
        raise OutputError(f"The {what} '{path}' is a folder; give a file name inside it.")
    for source in inputs:
        text = os.fspath(source)
        if text.startswith("/vsi") or ":" in Path(text).name:
            continue
        src = Path(text).expanduser().resolve()
        if src == out or (out.exists() and src.exists() and os.path.samefile(src, out)):
            raise OutputError(f"The {what} '{path}' is the input file; choose another output "
                              "name so the input is not overwritten.")
    folder = out.parent
    if not folder.is_dir():
        raise OutputError(f"The folder of the {what}, '{folder}', does not exist; create it "
                          "or choose another folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".dms2f_probe_", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"Cannot write into the folder '{folder}' ({exc.strerror}); choose a "
                          "writable output folder.") from None
    check_replaceable(out, what=what)
    return out


def check_replaceable(out: Path, *, what: str = "output") -> None:
    """Refuse an existing ``out`` that the final ``os.replace`` would not, or should not, replace.

    Args:
        out: the resolved output path.
        what: how to call the file in messages.

    Raises:
        OutputError: ``out`` is read-only for this user, or belongs to another user in a folder
            with the sticky bit (only the owner may replace it there).
    """
    try:
        info = out.stat()
    except FileNotFoundError:
        return
    if not os.access(out, os.W_OK):
        raise OutputError(f"The {what} '{out}' already exists and is read-only; make it writable "
                          "(chmod u+w) or choose another file name. Nothing was computed.")
    if not hasattr(os, "geteuid"):
        return
    folder = out.parent.stat()
    uid = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and uid not in (0, info.st_uid, folder.st_uid):
        raise OutputError(
            f"The {what} '{out}' belongs to another user, and its folder has the sticky bit "
            "(like /tmp), so only that user may replace it; choose another file name or folder. "
            "Nothing was computed.")


def os_error_of(cause: BaseException | str | None) -> OSError | None:
    """The ``OSError`` with an errno behind ``cause`` (itself or one it was raised from), if any."""
    seen = 0
    current = cause if isinstance(cause, BaseException) else None
    while current is not None and seen < 8:
        if isinstance(current, OSError) and current.errno:
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def probe_os_error(temp: Path | None) -> OSError | None:
    """Append up to 1 MiB to ``temp`` and return the ``OSError`` the OS answers with, if any.

    Only called after a write to ``temp`` failed (the file is deleted afterwards): a full disk,
    a quota or a file-size limit refuses the append too and says which it is.
    """
    if temp is None:
        return None
    existed = temp.exists()
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        return exc
    try:
        for _ in range(_PROBE_CHUNKS):
            os.write(fd, b"\0" * _PROBE_CHUNK)
        os.fsync(fd)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)
        if not existed:
            temp.unlink(missing_ok=True)
    return None


def write_failure(final: Path, cause: BaseException | str, temp: Path | None = None, *,
                  stage: str = "writing") -> OutputError:
    """The one-line error for a failed write of ``final``, naming the operating system's reason.

    Args:
        final: the output the user asked for.
        cause: what failed: GDAL's message, or the exception raised.
        temp: the temporary file being written, probed for the OS's reason when ``cause`` has
            no errno of its own.
        stage: ``"writing"`` or ``"replacing"`` (the final rename), for the message.

    Returns:
        The :class:`OutputError` to raise (the caller removes the temporary file).
    """
    detail = str(cause).strip() if not isinstance(cause, OSError) else ""
    if temp is not None:  # GDAL names the hidden temporary file; the user knows the output
        detail = detail.replace(f"{temp}: ", "").replace(str(temp), final.name)
    os_error = os_error_of(cause) if isinstance(cause, BaseException) else None
    if os_error is None:
        os_error = probe_os_error(temp)
    kept = "the previous file was kept" if final.exists() else "no file was written"
    if os_error is not None and os_error.errno:
        reason = os.strerror(os_error.errno)
        fix = _FIXES.get(os_error.errno, "check the disk and the folder")
        extra = f" ({detail})" if detail and detail != reason else ""
        return OutputError(f"{reason} while {stage} '{final}'{extra}; {kept}. Fix: {fix}.")
    space = _low_space_note(final.parent)
    return OutputError(f"Failed {stage} '{final}' ({detail or 'unknown error'}); {kept}.{space} "
                       "Check the disk and the folder, then run again.")


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged user may still write on ``folder``'s disk (None: unknown)."""
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows
        return None
    return info.f_bavail * info.f_frsize


def space_shortfall(out: Path, needed: int, what: str) -> str | None:
    """Why ``out``'s folder may not hold what a run writes there, or None when it will.

    Args:
        out: the output file (its folder receives the output and the temporary files).
        needed: bytes the run writes there at most at once, uncompressed.
        what: what they are, for the message ("the score and its 3 temporary maps").

    Returns:
        One line naming the sizes and the fix when less than ``needed`` is free. A warning, not
        a refusal: compression and nodata make the files smaller than the estimate.
    """
    free = free_bytes(out.parent)
    if free is None or free >= needed:
        return None
    return (f"Only {_size(free)} are free beside '{out}', and {what} need up to {_size(needed)} "
            "there (uncompressed; less where the raster has nodata): the run will probably "
            "fail when it writes them. Free some disk space or choose a folder on another disk.")


def _size(size: int) -> str:
    """``size`` bytes for a message: MiB with one decimal, KiB below 1 MiB."""
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


def _low_space_note(folder: Path) -> str:
    """`` Only N MiB are free there.`` when the folder's disk is nearly full, else ``""``."""
    free = free_bytes(folder)
    return f" Only {_size(free)} are free there." if free is not None and free < _LOW_SPACE else ""
