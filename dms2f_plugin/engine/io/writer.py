"""The one writer: every output of the plugin is written here, checked, and published atomically.

Score and mask rasters, imported cubes, detection GeoPackages, model files, quick-looks, reports
and the QGIS layer's ``.qml`` styles all follow one protocol (:class:`Outputs`):

1. each output is written under a hidden temporary name in its own folder (so the final rename
   stays on one filesystem) by a writer that checks every GDAL/OGR/safetensors error, including
   those GDAL reports only when a dataset is flushed and closed (a full disk shows up there);
2. the closed temporary file is verified (a raster is reopened and its last block read; callers
   pass their own check for other formats) and ``fsync``-ed;
3. only when every output of the run got that far are they moved into place with ``os.replace``
   (and the folder ``fsync``-ed). With several outputs (a score and its model, a cube and its
   ground truth, a mask and its polygons) an existing file is first linked aside, so that if a
   later rename fails the earlier ones are undone: a run publishes all its outputs or none;
4. on any error, cancel, Ctrl-C or SIGTERM the temporary files are deleted, a file already at
   the output path stays byte for byte as it was, and the error names the operating system's
   reason (:func:`.destinations.write_failure`).

Rasters are written by :class:`.raster_writer.RasterWriter` under this protocol; other formats
write into :func:`atomic_output`'s temporary path and pass a ``verify`` check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Callable

from ..errors import Dms2fError, OutputError
from ..types import PathLike
from .destinations import RASTER_EXTENSIONS, validate_output_path, write_failure

__all__ = ["RASTER_EXTENSIONS", "Outputs", "atomic_output", "temporary_sibling",
           "validate_output_path"]

LOGGER = logging.getLogger(__name__)
Verifier = Callable[[Path], None]


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name in the same folder (so the final rename stays on one filesystem)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def _remove_quietly(*paths: Path) -> None:
    """Remove our temporary files (or a folder a writer made in their place); never raises."""
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            continue
        with contextlib.suppress(OSError):
            p.unlink()


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (raises ``OSError`` when the disk refuses)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX only; best effort)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        LOGGER.warning("Could not flush the folder '%s' to disk (%s)", folder, exc.strerror)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back during the few renames that publish a run (POSIX)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclasses.dataclass(frozen=True)
class _Pending:
    final: Path
    temp: Path
    sidecars: tuple[str, ...]
    verify: Verifier | None


class Outputs:
    """The outputs of one run: each written to a temporary sibling, all published together.

    Use as a context manager around everything that writes: leaving the block normally verifies
    and publishes every output (:meth:`commit`); an exception, a cancel or a signal removes every
    temporary file (:meth:`abort`) and leaves existing files untouched.
    """

    def __init__(self, *, announce: bool = True) -> None:
        """Start an empty transaction.

        Args:
            announce: log each published file at info level; False: debug only (an
                intermediate file the user never asked for).
        """
        self._pending: list[_Pending] = []
        self._finished = False
        self._lock = threading.Lock()
        self._announce = logging.INFO if announce else logging.DEBUG

    def temp_for(self, final: PathLike, *, sidecars: Sequence[str] = (".aux.xml",),
                 verify: Verifier | None = None) -> Path:
        """Reserve a temporary path for output ``final`` (the caller writes the file there).

        Args:
            final: the output file as the user named it (validated before the work started).
            sidecars: suffixes of companion files a writer may leave next to the temporary file
                (GDAL's ``.aux.xml``); they follow the file, and stale ones at the target go.
            verify: checks the closed temporary file; raises on a damaged file.

        Returns:
            The temporary path, in the same folder as ``final``.
        """
        final_path = Path(final)
        entry = _Pending(final_path, temporary_sibling(final_path), tuple(sidecars), verify)
        with self._lock:
            self._pending.append(entry)
        return entry.temp

    def commit(self) -> None:
        """Verify and ``fsync`` every temporary file, then publish them all, or none.

        Raises:
            OutputError: a temporary file is missing or damaged, the disk refused the ``fsync``,
                or a rename failed (earlier renames of this run are undone); every temporary file
                is removed and existing outputs are kept.
        """
        try:
            for entry in self._pending:
                self._finish(entry)
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._finished = True
        for folder in {entry.final.parent for entry in self._pending}:
            _fsync_folder(folder)
        for entry in self._pending:
            LOGGER.log(self._announce, "Wrote '%s'", entry.final)

    def abort(self) -> None:
        """Delete every temporary file (and sidecar) of this run; outputs stay as they were."""
        for entry in self._pending:
            _remove_quietly(entry.temp, *(Path(f"{entry.temp}{s}") for s in entry.sidecars))
        self._finished = True

    @staticmethod
    def _finish(entry: _Pending) -> None:
        """Check that ``entry``'s temporary file is complete, then flush it to the disk."""
        if not entry.temp.is_file():
            raise OutputError(f"Nothing was written to '{entry.final}' (its temporary file is "
                              "missing); no file was published.")
        try:
            if entry.verify is not None:
                entry.verify(entry.temp)
        except OutputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a verifier refuses in its own terms
            raise write_failure(entry.final, f"the written file does not read back: {exc}",
                                entry.temp) from None
        try:
            for path in (entry.temp, *(Path(f"{entry.temp}{s}") for s in entry.sidecars)):
                if path.exists():
                    _fsync_file(path)
        except OSError as exc:
            raise write_failure(entry.final, exc, entry.temp) from None

    def _publish(self) -> None:
        """Rename every temporary file onto its output; undo the earlier ones if one fails."""
        backups: dict[Path, Path] = {}
        done: list[_Pending] = []
        entry = self._pending[0] if self._pending else None
        try:
            if len(self._pending) > 1:  # one rename is atomic by itself; several need backups
                for entry in self._pending:
                    if entry.final.exists():
                        backups[entry.final] = _backup(entry.final)
            with _signals_deferred():
                for entry in self._pending:
                    os.replace(entry.temp, entry.final)
                    done.append(entry)
                for entry in self._pending:
                    _move_sidecars(entry)
        except OSError as exc:
            _undo(done, backups)
            assert entry is not None  # nosec B101 - an OSError comes from a rename of an entry
            raise write_failure(entry.final, exc, stage="replacing") from None
        except BaseException:
            _undo(done, backups)
            raise
        finally:
            _remove_quietly(*backups.values())

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._finished:
            return
        if exc is None:
            try:
                self.commit()
            except OutputError as failure:
                raise self._naming_the_rest(failure) from None
            return
        self.abort()
        if isinstance(exc, OutputError):
            raise self._naming_the_rest(exc) from None
        if isinstance(exc, OSError) and not isinstance(exc, Dms2fError):
            names = {os.fspath(e.temp): e for e in self._pending}
            entry = names.get(os.fspath(exc.filename)) if exc.filename else None
            if entry is not None:  # a plain write to one of our temporary files failed
                raise self._naming_the_rest(write_failure(entry.final, exc)) from None

    def _naming_the_rest(self, failure: OutputError) -> OutputError:
        """``failure``, also naming the run's other outputs, which were not published either.

        Not for intermediates (``announce=False``): their names mean nothing to the user.
        """
        message = str(failure)
        others = [e.final for e in self._pending if f"'{e.final}'" not in message]
        if not others or self._announce != logging.INFO:
            return failure
        named = ", ".join(f"'{final}'" + (" (the previous file was kept)" if final.exists() else "")
                          for final in others)
        return OutputError(f"{message} Not published either (a run's outputs go together): "
                           f"{named}.")


def _backup(final: Path) -> Path:
    """A hard link (or, where links are impossible, a copy) of ``final`` beside it."""
    backup = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.bak")
    try:
        os.link(final, backup)
    except OSError:
        shutil.copy2(final, backup)
    return backup


def _undo(done: list[_Pending], backups: dict[Path, Path]) -> None:
    """Put back what the renames in ``done`` replaced (or remove what they created)."""
    for entry in reversed(done):
        with contextlib.suppress(OSError):
            if entry.final in backups:
                os.replace(backups.pop(entry.final), entry.final)
            else:
                entry.final.unlink()


def _move_sidecars(entry: _Pending) -> None:
    for suffix in entry.sidecars:
        side = Path(f"{entry.temp}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{entry.final}{suffix}"))
        else:
            _remove_quietly(Path(f"{entry.final}{suffix}"))


@contextlib.contextmanager
def atomic_output(path: PathLike, sidecars: Sequence[str] = (".aux.xml",), *,
                  verify: Verifier | None = None, outputs: Outputs | None = None) -> Iterator[Path]:
    """Yield a temporary path for ``path``; publish it only when the block succeeds.

    Args:
        path: the final file.
        sidecars: see :meth:`Outputs.temp_for`.
        verify: checks the closed temporary file before it is published.
        outputs: the run's :class:`Outputs` when the file is one of several published together
            (the file is then published by that transaction, not here); None publishes it alone.

    Yields:
        The temporary path to write to.

    Raises:
        OutputError: as :meth:`Outputs.commit`; a plain ``OSError`` raised by the block while it
            writes the temporary file is turned into one too, naming the OS's reason.
    """
    if outputs is not None:
        yield outputs.temp_for(path, sidecars=sidecars, verify=verify)
        return
    with Outputs() as own:
        yield own.temp_for(path, sidecars=sidecars, verify=verify)
