"""`migrate history --prune [--keep N]`: drop what the journal keeps but no longer needs.

A reverted migration can never be reverted again, so its pack (or legacy
originals/ folder) only takes space; its record and state stay, so history
still lists it (marked pruned). The replaced inodes every apply and revert
keeps linked (ID.replaced/, ID.revert-replaced/: never read) go for every
migration. Without `keep`, an applied migration's originals are never touched:
each can still be reverted. With `keep` N (>= 1: never the newest applied one),
the originals of applied migrations older than the N newest go too; those are
marked pruned, and a revert that would need one is refused (exit 3). Each
migration's originals are its own pack: what the kept ones need is never
touched. What `revert --force` saved under .migrate/overwritten/ is the user's
own bytes and is kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat

from migrator.errors import BadInputError
from migrator.journal.store import Store


@dataclasses.dataclass(frozen=True)
class PruneResult:
    pruned: tuple[str, ...]  # ids of reverted migrations whose originals were dropped
    bytes_freed: int
    pruned_applied: tuple[str, ...] = ()  # ids of applied ones (--keep): no longer revertable
    kept: int | None = None  # the N of --keep


def prune(journal: Store, keep: int | None = None) -> PruneResult:
    """`keep` None: reverted migrations only; N >= 1: also applied ones older than the N newest."""
    if keep is not None and (type(keep) is not int or keep < 1):
        raise BadInputError(f"--keep {keep}: must be 1 or more (the newest applied migration is "
                            "never pruned)")
    if not journal.paths.migrations.exists():
        return PruneResult((), 0, (), keep)
    pruned, pruned_applied, freed = [], [], 0
    with journal.lock():
        states = journal.ids_and_states()
        applied = [i for i, s in reversed(states) if s.state == "applied"]  # newest first
        dropped = set(applied[keep:]) if keep is not None else set()
        for migration_id, state in states:
            if state.state in ("pending", "reverting"):
                continue  # unfinished: `migrate revert` first
            freed += sum(_remove(journal.paths.replaced(migration_id, operation))
                         for operation in ("apply", "revert"))
            if not (state.pruned or state.state == "reverted" or migration_id in dropped):
                continue
            if not state.pruned:
                # Marked first: a kill before the drop leaves it marked (never revertable by
                # half), and the next prune drops what is left.
                journal.write_state(migration_id, dataclasses.replace(state, pruned=True))
                (pruned if state.state == "reverted" else pruned_applied).append(migration_id)
            freed += _remove(journal.paths.pack(migration_id))
            freed += _remove(journal.paths.legacy_originals(migration_id))
    return PruneResult(tuple(pruned), freed, tuple(pruned_applied), keep)


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

