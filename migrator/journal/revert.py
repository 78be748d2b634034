"""Revert as an undo stack: choose the migrations, plan each (checks only), then execute.

`migrate revert` undoes the newest applied migration (again: the one before),
`--all` every applied one, `--to ID` every one after ID, newest first; a
migration a killed run left unfinished always comes first. Naming an older
migration whose files a newer applied one changed since is refused: the newer
one's bytes would be left marked applied over bytes that are not its own. A
migration `history --prune --keep N` pruned has no originals left: any revert
that needs it is refused before anything is written. The folders a migration
created for its new files go once empty (a folder the user put anything in stays).

Every plan is made before anything is written, over the bytes the previous
plans would leave (so `--all --dry-run` shows the real outcome). A file
holding neither the recorded "after" bytes nor the original was changed by
someone: refused, unless --force, which keeps its current bytes under
.migrate/overwritten/ID/ first. A file is only ever replaced if it still holds
the bytes planned from (re-checked before its rename).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Callable, Literal

from migrator import atomic
from migrator.errors import EXIT_OK, BadInputError, MigrateError, SafetyError
from migrator.hints import command
from migrator.journal.changes import FileChange
from migrator.journal.failures import describe_failure
from migrator.journal.paths import (folder_problem, make_plain_folders, remove_if_empty,
                                    user_path_problem, write_under)
from migrator.journal.records import (JOURNAL_FOLDER, UNFINISHED_STATES, Migration, MigrationState,
                                      Record, State, StoredFile, match_id)
from migrator.journal.store import Store, now

ActionKind = Literal["restore", "delete", "unchanged", "left"]
_NAMED = 3  # files named in a refusal before "and N more"


class NothingToRevert(MigrateError):
    """`revert` found no applied or unfinished migration to undo: nothing to do."""

    exit_code = EXIT_OK


@dataclasses.dataclass(frozen=True)
class FileAction:
    rel: str
    kind: ActionKind  # restore the original / delete a created file / nothing to do / left alone
    current: bytes | None  # what the file holds (None: missing) when planned
    target: bytes | None  # what the revert leaves (None: no file)
    mode: int  # permission bits for a restored file
    forced: bool = False  # changed by someone since the migration: --force replaces it
    owner: tuple[int, int] | None = None  # the replaced file's (uid, gid), kept


@dataclasses.dataclass(frozen=True)
class RevertPlan:
    migration: Migration
    actions: tuple[FileAction, ...]
    folders: tuple[str, ...] = ()  # the migration created them: removed if left empty
    temp_tags: tuple[str, str] = ("", "")  # its apply's and its revert's (Record.temp_tag)

    def of(self, *kinds: ActionKind) -> list[FileAction]:
        return [a for a in self.actions if a.kind in kinds]


@dataclasses.dataclass(frozen=True)
class RevertResult:
    migration: Migration  # as recorded after the revert (as found, for a dry run)
    restored: tuple[str, ...]  # relative paths written back or deleted (would be, for a dry run)
    unchanged: tuple[str, ...]  # already held the original bytes (or, created, were gone)
    forced: tuple[str, ...] = ()  # of `restored`: changed since the migration, replaced by force
    saved_to: str | None = None  # root-relative folder keeping the bytes `forced` replaced
    changes: tuple[FileChange, ...] = ()  # current bytes -> original bytes, per restored file
    dry_run: bool = False
    previous_state: MigrationState = "applied"
    deleted: tuple[str, ...] = ()  # of `restored`: files the migration had created, removed
    removed_folders: tuple[str, ...] = ()  # folders it had created, left empty, removed


def revert(journal: Store, migration_id: str | None = None, *, everything: bool = False,
           to: str | None = None, force: bool = False, dry_run: bool = False) -> list[RevertResult]:
    """Undo migrations, newest first; see the module's docstring for which."""
    if dry_run:
        return _revert_locked(journal, migration_id, everything, to, force, dry_run=True)
    if not journal.paths.migrations.exists() and not os.path.islink(journal.paths.migrations):
        _select(journal, migration_id, everything, to)  # raises: nothing recorded
    with journal.lock():
        return _revert_locked(journal, migration_id, everything, to, force, dry_run=False)


def _revert_locked(journal: Store, migration_id: str | None, everything: bool, to: str | None,
                   force: bool, *, dry_run: bool) -> list[RevertResult]:
    overlay: dict[str, bytes | None] = {}
    plans = []
    again = "--all" if everything else f"--to {to}" if to is not None else None  # what --force repeats
    chosen = _select(journal, migration_id, everything, to)
    _refuse_if_pruned(chosen, again, journal.paths.root)
    for target_id, state in chosen:
        migration, record = journal.load(target_id, state)
        plan = plan_revert(journal, migration, record, force=force, overlay=overlay,
                           force_command=command(f"migrate revert {again or target_id} --force",
                                           journal.paths.root))
        for action in plan.actions:
            overlay[action.rel] = action.target
        plans.append(plan)
    if dry_run:
        return [_result(journal, plan, dry_run=True) for plan in plans]
    return [execute_revert(journal, plan) for plan in plans]


def _select(journal: Store, migration_id: str | None, everything: bool,
            to: str | None) -> list[tuple[str, State]]:
    states = journal.ids_and_states()
    ids = [i for i, _ in states]
    unfinished = [(i, s) for i, s in states if s.state in UNFINISHED_STATES]
    applied = [(i, s) for i, s in reversed(states) if s.state == "applied"]  # newest first
    where = JOURNAL_FOLDER
    if migration_id is not None:
        found = _find(migration_id, ids, where, journal.paths.root)
        state = dict(states)[found]
        if state.state == "reverted":
            raise BadInputError(f"migration {found} is already reverted (at {state.reverted})")
        if unfinished and unfinished[0][0] != found:
            raise SafetyError(f"migration {unfinished[0][0]} did not finish; revert it first "
                              f"(`{command(f'migrate revert {unfinished[0][0]}', journal.paths.root)}`)")
        _refuse_if_pruned([(found, state)], None, journal.paths.root)  # before naming newer ones: it never can
        _refuse_if_newer_changed(journal, found, state, states)
        return [(found, state)]
    if to is not None:
        floor = int(_find(to, ids, where, journal.paths.root))
        chosen = unfinished + [(i, s) for i, s in applied if int(i) > floor]
        if not chosen:
            raise NothingToRevert(f"nothing to revert: no applied migration after {to}")
        return chosen
    if everything:
        if not unfinished + applied:
            raise NothingToRevert(f"nothing to revert: no applied migration under {where}/")
        return unfinished + applied
    if unfinished:
        return unfinished[:1]
    if not applied:
        raise NothingToRevert(f"nothing to revert: no applied migration under {where}/"
                              + (" (all reverted)" if states else ""))
    return applied[:1]


def _refuse_if_pruned(chosen: list[tuple[str, State]], again: str | None, root: Path) -> None:
    """One line, before anything is written: a pruned migration's originals are gone."""
    pruned = [i for i, s in chosen if s.pruned]
    if not pruned:
        return
    newest = max(pruned, key=int)
    kept = [i for i, _ in chosen if int(i) > int(newest)]
    hint = (f"; `{command(f'migrate revert --to {newest}', root)}` reverts the newer one(s) still "
            f"kept ({', '.join(kept)})" if kept and again else "")
    raise SafetyError(f"migration {newest} was pruned (`migrate history --prune --keep` dropped its "
                      f"original bytes): it cannot be reverted{hint}; nothing written")


def _find(wanted: str, ids: list[str], where: str, root: Path) -> str:
    found = match_id(wanted, ids)
    if found is None:
        shown = wanted if len(wanted) <= 20 else wanted[:20] + "..."
        raise BadInputError(f"no migration {shown} in {where}/ (see `{command('migrate history', root)}`)")
    return found


def _refuse_if_newer_changed(journal: Store, migration_id: str, state: State,
                             states: list[tuple[str, State]]) -> None:
    _, record = journal.load(migration_id, state)  # the state _select read: not parsed again
    mine = {f.record.path for f in record.files}
    newer, shared = [], set()
    for other, state in states:
        if int(other) <= int(migration_id) or state.state == "reverted":
            continue
        _, other_record = journal.load(other, state)
        common = mine & {f.record.path for f in other_record.files}
        if common:
            newer.append(other)
            shared |= common
    if not newer:
        return
    older = [i for i, _ in states if int(i) < int(migration_id)]
    instead = f"migrate revert --to {older[-1]}" if older else "migrate revert --all"
    raise SafetyError(f"migration {migration_id} cannot be reverted before newer migration(s) "
                      f"{', '.join(newer)}, which changed its files since ({_some(sorted(shared))}); "
                      f"`{command(instead, journal.paths.root)}` reverts them all, newest first; "
                      "nothing written")


def plan_revert(journal: Store, migration: Migration, record: Record, *, force: bool,
                overlay: dict[str, bytes | None] | None = None,
                originals: Callable[[StoredFile], bytes | None] | None = None,
                rollback: bool = False, force_command: str | None = None) -> RevertPlan:
    """What reverting `migration` does to each file; refuses (SafetyError) before any write.

    `overlay`: files' bytes as earlier plans leave them. `rollback`: undoing our own
    failed apply, where a file holding neither version was never replaced: left alone.
    """
    overlay = {} if overlay is None else overlay
    actions: list[FileAction] = []
    changed: list[str] = []
    folders_ok: dict[str, bool] = {}
    for index, stored in enumerate(record.files):
        rel = stored.record.path
        problem = user_path_problem(journal.paths, rel, folders_ok)
        if problem:
            raise SafetyError(f"{problem}; refusing to revert migration {migration.id} through it "
                              "(even with --force); nothing written")
        owner = None
        if rel in overlay:
            current, current_mode = overlay[rel], None
        else:
            current, info = _read_user_file(journal, rel)
            current_mode = None if info is None else info.st_mode
            owner = None if info is None else (info.st_uid, info.st_gid)
        digest = None if current is None else hashlib.sha256(current).hexdigest()
        if digest == stored.record.sha256_before:
            actions.append(FileAction(rel, "unchanged", current, current, 0))
            continue
        forced = digest != stored.record.sha256_after
        if forced and rollback:
            actions.append(FileAction(rel, "left", current, current, 0))
            continue
        if forced:
            changed.append(rel + (" (missing)" if current is None else ""))
        if stored.created:
            actions.append(FileAction(rel, "delete", current, None, 0, forced))
            continue
        original = originals(stored) if originals else None
        if original is None:
            original = journal.original(record, index, stored)
        mode = stat.S_IMODE(stored.mode if current_mode is None else current_mode)
        actions.append(FileAction(rel, "restore", current, original, mode, forced, owner))
    for folder in record.folders:
        problem = folder_problem(journal.paths, folder)
        if problem:
            raise SafetyError(f"{problem}; refusing to revert migration {migration.id} through it "
                              "(even with --force); nothing written")
    if changed and not force:
        raise SafetyError(
            f"{len(changed)} file(s) changed since migration {migration.id} ({migration.kind}): "
            f"{_some(changed)}; refusing to revert (nothing written); "
            f"`{force_command or command(f'migrate revert {migration.id} --force', journal.paths.root)}` "
            "restores them anyway, "
            f"keeping their current bytes under {_saved_to(journal, migration.id)}/")
    return RevertPlan(migration, tuple(actions), record.folders,
                      (record.temp_tag("apply"), record.temp_tag("revert")))


def execute_revert(journal: Store, plan: RevertPlan, *, mark_reverting: bool = True) -> RevertResult:
    """Carry out a plan: state "reverting", keep forced files' bytes, replace, "reverted".

    A rollback of a failed apply leaves it "pending" until done (same revert, same notice).
    """
    migration = plan.migration
    # First what --force replaces (only additions under .migrate/: a refusal here changes nothing).
    saved = [(a.rel, a.current) for a in plan.actions if a.forced and a.current is not None]
    for rel, data in saved:
        write_under(journal.root, _saved_to(journal, migration.id), rel, data)  # type: ignore[arg-type]
    if mark_reverting:
        journal.write_state(migration.id, State("reverting"))
    restores = plan.of("restore")
    for action in restores:
        if action.current is None and "/" in action.rel:
            make_plain_folders(journal.paths, action.rel.rsplit("/", 1)[0])
    try:
        atomic.replace_many([atomic.Replacement(journal.paths.user_file(a.rel), a.target, a.mode,  # type: ignore[arg-type]
                                                expected=a.current, owner=a.owner) for a in restores],
                            tag=plan.temp_tags[1],
                            keep_replaced=journal.replaced_folder(migration.id, "revert") if restores else None)
        for action in plan.of("delete"):
            path = journal.paths.user_file(action.rel)
            if action.current is not None:
                if not atomic.holds(path, action.current):
                    raise atomic.ChangedMeanwhile(str(path), 0)
                os.unlink(path)
        # Deepest first; one the user put anything in stays (with what it holds).
        removed = tuple(f for f in reversed(plan.folders) if remove_if_empty(journal.paths, f))
    except (OSError, atomic.ChangedMeanwhile) as exc:
        raise SafetyError(f"the revert of migration {migration.id} ({migration.kind}) did not finish: "
                          f"{describe_failure(exc, journal)}; run `{command('migrate revert', journal.paths.root)}` "
                          "again to complete "
                          "it") from exc
    if migration.unfinished:
        _remove_leftover_temps(journal, plan)
    reverted = now()
    journal.write_state(migration.id, State("reverted", reverted))
    done = dataclasses.replace(migration, state="reverted", reverted=reverted)
    return _result(journal, dataclasses.replace(plan, migration=done), dry_run=False,
                   previous_state=migration.state, removed_folders=removed)


def _result(journal: Store, plan: RevertPlan, *, dry_run: bool, previous_state: MigrationState | None = None,
            removed_folders: tuple[str, ...] = ()) -> RevertResult:
    writes = plan.of("restore", "delete")
    forced = tuple(a.rel for a in writes if a.forced)
    return RevertResult(
        migration=plan.migration,
        restored=tuple(a.rel for a in writes),
        unchanged=tuple(a.rel for a in plan.of("unchanged")),
        forced=forced,
        saved_to=_saved_to(journal, plan.migration.id) if forced else None,
        changes=tuple(FileChange(journal.paths.user_file(a.rel), a.current or b"", a.target or b"") for a in writes),
        dry_run=dry_run,
        previous_state=previous_state or plan.migration.state,
        deleted=tuple(a.rel for a in plan.of("delete")),
        removed_folders=removed_folders,
    )


def _saved_to(journal: Store, migration_id: str) -> str:
    """Where `revert --force` keeps the bytes it replaces, relative to the root."""
    return journal.paths.label(journal.paths.overwritten(migration_id))


def _read_user_file(journal: Store, rel: str) -> tuple[bytes | None, os.stat_result | None]:
    """The file's bytes and fstat, from one open (None, None: missing)."""
    path = journal.paths.user_file(rel)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return None, None  # a folder on its way is a file now: the file is gone
        raise
    try:
        info = os.fstat(fd)
        return atomic.read_exactly(fd, info.st_size), info
    finally:
        os.close(fd)


def _remove_leftover_temps(journal: Store, plan: RevertPlan) -> None:
    """Temp files of the killed apply (or revert) that never got renamed: names only migrate writes."""
    for action in plan.actions:
        path = journal.paths.user_file(action.rel)
        for tag in plan.temp_tags:
            temp = atomic.temp_path(path, tag)
            try:
                if stat.S_ISREG(os.lstat(temp).st_mode):
                    os.unlink(temp)
            except OSError:
                pass


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown if len(names) <= _NAMED else f"{shown} and {len(names) - _NAMED:,} more"

