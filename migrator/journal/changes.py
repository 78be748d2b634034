"""FileChange: what a writer plans and the journal applies (and a revert restores)."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class FileChange:
    """One file's planned change. `path` is absolute and inside the root.

    `before` None: the file must not exist; the migration creates it.
    """

    path: Path
    before: bytes | None
    after: bytes
