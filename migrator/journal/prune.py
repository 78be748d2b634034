"""`migrate history --prune`: drop what the journal keeps but no longer needs.

A reverted migration can never be reverted again, so its pack (or legacy
originals/ folder) only takes space; its record and state stay, so history
still lists it (marked pruned). The replaced inodes every apply and revert
keeps linked (ID.replaced/, ID.revert-replaced/: never read) go for every
migration. An applied migration's originals are never touched: each can still
be reverted. What `revert --force` saved under .migrate/overwritten/ is the
user's own bytes and is kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat

from migrator.journal.store import Journal


@dataclasses.dataclass(frozen=True)
class PruneResult:
    pruned: tuple[str, ...]  # ids whose originals were dropped
    bytes_freed: int


def prune(journal: Journal) -> PruneResult:
    if not journal.paths.migrations.exists():
        return PruneResult((), 0)
    pruned, freed = [], 0
    with journal.lock():
        for migration_id, state in journal.ids_and_states():
            if state.state in ("pending", "reverting"):
                continue  # unfinished: `migrate revert` first
            freed += sum(_remove(journal.paths.replaced(migration_id, operation))
                         for operation in ("apply", "revert"))
            if state.state != "reverted" or state.pruned:
                continue
            freed += _remove(journal.paths.pack(migration_id))
            freed += _remove(journal.paths.legacy_originals(migration_id))
            journal.write_state(migration_id, dataclasses.replace(state, pruned=True))
            pruned.append(migration_id)
    return PruneResult(tuple(pruned), freed)


def _remove(path: os.PathLike[str]) -> int:
    """Bytes freed by removing a journal file or folder (never followed if a symlink)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISDIR(info.st_mode):
        infos = [os.lstat(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names]
        size = sum(i.st_size for i in infos if i.st_nlink == 1)  # a still-linked inode frees nothing
        shutil.rmtree(path)
        return size
    os.unlink(path)
    return info.st_size if stat.S_ISREG(info.st_mode) else 0

