"""The journal: every change to a user's file is recorded before it happens, and can be undone.

Public surface:

    write_migration(root, kind, argv, plan) -> Migration | None
        the one way to change files: lock, plan under the lock, journal, apply
    Journal(root): history(), unfinished(), revert(...), revert_many(...), prune(keep=None), lock()
    FileChange, Migration, FileRecord, RevertResult, PruneResult, NothingToRevert,
    JournalPaths, unfinished_notice

Modules: paths (every path, and the checks that keep writes in the root),
records (typed, strictly parsed records and states), lock, store (reading and
writing the journal's files), apply, revert (plan, then execute), prune, report
(text and JSON for the CLI). Everything under .migrate/ is untrusted input.
"""

from __future__ import annotations

from migrator.journal.apply import FileChange, unfinished_notice, write_migration
from migrator.journal.paths import JournalPaths
from migrator.journal.prune import PruneResult
from migrator.journal.records import (JOURNAL_FOLDER, UNFINISHED_STATES, FileRecord, Migration,
                                      MigrationState)
from migrator.journal.revert import NothingToRevert, RevertResult
from migrator.journal.store import Journal

__all__ = [
    "JOURNAL_FOLDER", "UNFINISHED_STATES", "FileChange", "FileRecord", "Journal", "JournalPaths",
    "Migration", "MigrationState", "NothingToRevert", "PruneResult", "RevertResult",
    "unfinished_notice", "write_migration",
]
