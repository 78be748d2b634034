"""The journal: every change to a user's file is recorded before it happens, and can be undone.

Callers use this package's names, the facade:

    write_migration(root, kind, argv, plan) -> Migration | None
        the one way to change files: lock, plan under the lock, journal, apply
    Journal(root): history(), unfinished(), revert(...), revert_many(...), prune(keep=None), lock()
    FileChange, Migration, FileRecord, RevertResult, PruneResult, NothingToRevert,
    JournalPaths, unfinished_notice, and report's text and JSON for the CLI

Modules, lowest first: records (typed, strictly parsed records and states), paths (every
path, and the checks that keep writes in the root), lock, store (reading and writing the
journal's files), changes, failures, revert (plan, then execute), apply, prune, report.
None of them imports this facade. Everything under .migrate/ is untrusted input.
"""

from __future__ import annotations

from migrator.journal.apply import unfinished_notice, write_migration
from migrator.journal.changes import FileChange
from migrator.journal.paths import JournalPaths
from migrator.journal.prune import PruneResult, prune as _prune
from migrator.journal.records import (JOURNAL_FOLDER, UNFINISHED_STATES, FileRecord, Migration,
                                      MigrationState)
from migrator.journal.report import (history_table, migration_document, prune_document, prune_summary,
                                     revert_diffs, revert_document, revert_summary)
from migrator.journal.revert import NothingToRevert, RevertResult, revert as _revert
from migrator.journal.store import Store

# revert and prune are imported under other names: the package's attributes `revert` and
# `prune` stay the submodules (`import migrator.journal.prune as m` reads that attribute).


class Journal(Store):
    """ROOT/.migrate/ with its operations: history(), unfinished(), lock(), and revert / revert_many /
    prune. Changing files goes through write_migration (lock, plan under it, journal, apply)."""

    def revert(self, migration_id: str | None = None, *, force: bool = False,
               dry_run: bool = False) -> RevertResult:
        """Undo one migration: `migration_id`, else the unfinished one, else the newest applied."""
        return self.revert_many(migration_id, force=force, dry_run=dry_run)[0]

    def revert_many(self, migration_id: str | None = None, *, everything: bool = False,
                    to: str | None = None, force: bool = False,
                    dry_run: bool = False) -> list[RevertResult]:
        """Undo migrations newest first (revert.py): one, --all, or --to ID."""
        return _revert(self, migration_id, everything=everything, to=to, force=force, dry_run=dry_run)

    def prune(self, keep: int | None = None) -> PruneResult:
        """Drop reverted migrations' originals; with `keep` N, also applied ones older than the N newest."""
        return _prune(self, keep)


__all__ = [
    "JOURNAL_FOLDER", "UNFINISHED_STATES", "FileChange", "FileRecord", "Journal", "JournalPaths",
    "Migration", "MigrationState", "NothingToRevert", "PruneResult", "RevertResult", "history_table",
    "migration_document", "prune_document", "prune_summary", "revert_diffs", "revert_document",
    "revert_summary", "unfinished_notice", "write_migration",
]
