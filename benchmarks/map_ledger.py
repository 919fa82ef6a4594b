"""What a selection round reads from each kept score map, so the round outlives its work folder.

A round of ``benchmarks/select_defaults.py`` fits hundreds of networks; on a 2-core machine it can
outlast a session, and its work folder does not outlast the machine. The ledger is a JSON file that
holds, for each raw score map by file name, the numbers the round reads from it: the AUC of every
candidate correction (a development map: on the scene's ground truth; an implant map: per size
class). A map recorded in the ledger counts as fitted and scored: the round takes its scores from
the ledger and neither fits nor scores it again (a map's name says what was fitted: scene or
implant copy, variant, schedule and seed; maps are never rewritten). Start a new ledger with a new
work folder whenever the names stop meaning the same fit (a changed synthesis or candidate list).

Recording scores a map against ground truth before the round has finished. Nothing the round
fits depends on those scores (the fits are fixed by the declared protocol), and the rules read
them only after every map is fitted or recorded, as they read the kept maps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dms2f_had.dms2f_plugin.engine.app.bench import write_json

T = TypeVar("T")


class Ledger:
    """Scores of score maps by file name, read from and written to ``path`` (None: none kept)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        if path is not None and path.exists():
            try:
                self.entries = json.loads(path.read_text(encoding="utf-8"))["maps"]
            except (OSError, ValueError, KeyError) as exc:
                raise SystemExit(f"the ledger {path} cannot be read ({exc}); "
                                 "restore it from git or start the round without it") from exc

    def has(self, map_path: Path | str) -> bool:
        """Whether the map's scores are recorded (the map then need not be fitted again)."""
        return Path(map_path).name in self.entries

    def done(self, map_path: Path | str) -> bool:
        """Whether the map is in the work folder or its scores in the ledger."""
        return Path(map_path).exists() or self.has(map_path)

    def scores(self, map_path: Path, compute: Callable[[], T], record: bool = True) -> T:
        """The map's recorded scores, else ``compute()`` of the kept map (recorded when ``record``);
        an error naming both places when it is in neither."""
        if map_path.name in self.entries:
            return self.entries[map_path.name]  # type: ignore[no-any-return]
        if map_path.exists():
            value = compute()
            if record:
                self.entries[map_path.name] = value
            return value
        raise FileNotFoundError(f"{map_path} is neither kept nor recorded in the ledger {self.path}; "
                                "run the round again to fit it")

    def save(self) -> None:
        """Write the ledger atomically (nothing when no path was given)."""
        if self.path is not None:
            write_json(self.path, {"maps": dict(sorted(self.entries.items()))})
