"""The journal: every change to a user's file is recorded before it happens.

INTERFACE STUB - implemented by the journal work item. Other modules code
against exactly these names.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal, Sequence

MigrationState = Literal["pending", "applied", "reverted"]


@dataclasses.dataclass(frozen=True)
class FileChange:
    """One file's planned replacement. `path` is absolute and inside the root."""

    path: Path
    before: bytes
    after: bytes


@dataclasses.dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the root, POSIX separators
    sha256_before: str
    sha256_after: str


@dataclasses.dataclass(frozen=True)
class Migration:
    id: str
    kind: str  # "toto", "kronos", "apply", ...
    created: str  # ISO 8601, UTC
    argv: tuple[str, ...]
    files: tuple[FileRecord, ...]
    state: MigrationState
    reverted: str | None = None  # ISO 8601 time of the revert


@dataclasses.dataclass(frozen=True)
class RevertResult:
    migration: Migration
    restored: tuple[str, ...]  # relative paths written back
    unchanged: tuple[str, ...]  # already held the original bytes


class Journal:
    """ROOT/.migrate/: lock, migration records, original bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the root's lock; SafetyError (exit 3) at once if another migrate holds it."""
        raise NotImplementedError
        yield

    def unfinished(self) -> Migration | None:
        """The migration an earlier, killed run left pending, if any."""
        raise NotImplementedError

    def apply(self, kind: str, argv: Sequence[str], changes: Sequence[FileChange]) -> Migration:
        """Journal the changes durably, then replace each file atomically.

        Call under lock(). Refuses (SafetyError) while an unfinished migration
        exists, and (SafetyError) if a file no longer holds change.before.
        """
        raise NotImplementedError

    def history(self) -> list[Migration]:
        """All migrations, oldest first."""
        raise NotImplementedError

    def revert(self, migration_id: str | None = None, *, force: bool = False,
               dry_run: bool = False) -> RevertResult:
        """Give back the original bytes of the last applied migration (or `migration_id`)."""
        raise NotImplementedError
