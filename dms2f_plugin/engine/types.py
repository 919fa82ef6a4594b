"""Type aliases shared by every layer of the engine."""

from __future__ import annotations

import os
from typing import Union

#: A file path as users and callers give it: text or any ``os.PathLike``.
PathLike = Union[str, "os.PathLike[str]"]
