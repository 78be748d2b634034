"""Writing a migration: under the root's lock, plan, check, journal, then replace.

Order, each step durable before the next: the originals (COPIES of the bytes
read and checked, one pack file, one fsync) and the record (with the folders
it will create for new files); state "pending"; those folders created (so a
kill leaves none unrecorded: a revert removes each one left empty); each file
replaced atomically, only if it still holds exactly the bytes read
(re-checked just before its rename, migrator.atomic); state "applied". A
migration exists once its .state exists: a kill before leaves the user's files
untouched, a kill after leaves a "pending" migration that `migrate revert`
rolls back. A failure part-way (a file changed meanwhile, a full disk, Ctrl-C)
is rolled back at once where it can be; otherwise the error says what to run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Callable, Sequence

from migrator import atomic
from migrator.errors import BadInputError, SafetyError
from migrator.hints import command
from migrator.journal.paths import create_recorded_folders, missing_folders, write_new_file
from migrator.journal.records import (JOURNAL_FOLDER, RECORD_FORMAT, FileRecord, Migration, Record,
                                      State, StoredFile, check_kind, relative_path)
from migrator.journal.changes import FileChange
from migrator.journal.failures import describe_failure, describe_os_error
from migrator.journal.revert import execute_revert, plan_revert
from migrator.journal.store import Store, now

_NEW_FILE_MODE = 0o100644


@dataclasses.dataclass(frozen=True)
class _Checked:
    rel: str
    real: str
    mode: int  # st_mode to give the new bytes
    change: FileChange
    owner: tuple[int, int] | None = None  # the replaced file's (uid, gid), kept


def unfinished_notice(migration: Migration, root: Path | None = None) -> str:
    """One line telling the user what an unfinished migration needs (the command with
    `--root` when `root` is not the current directory)."""
    if migration.state == "reverting":
        return (f"the revert of migration {migration.id} ({migration.kind}) did not finish; "
                f"`{command('migrate revert', root)}` completes it")
    return (f"migration {migration.id} ({migration.kind}) did not finish; "
            f"`{command('migrate revert', root)}` rolls it back")


def write_migration(root: Path | str, kind: str, argv: Sequence[str],
                    plan: Callable[[], Sequence[FileChange]]) -> Migration | None:
    """Take the root's lock, run `plan` under it, then journal and apply its changes.

    The one way writers change files: a second migrate is refused (exit 3) before
    it plans. None when nothing changes. SafetyError (exit 3) while an unfinished
    migration exists, or when a file changed since `plan` read it.
    """
    journal = Store(root)
    with journal.lock():
        _refuse_if_unfinished(journal)
        return _apply_locked(journal, kind, argv, plan())


def _apply_locked(journal: Store, kind: str, argv: Sequence[str],
                  changes: Sequence[FileChange]) -> Migration | None:
    """Journal and apply `changes` once the lock is held and no unfinished migration was found under it."""
    try:
        check_kind(kind)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    migration_id = journal.next_id()  # first: removes a killed run's leftovers
    checked = _check(journal, [c for c in changes if c.before != c.after])
    if not checked:
        return None
    folders = _missing_folders(journal, checked)
    record = _journal(journal, migration_id, kind, argv, checked, folders)
    try:
        create_recorded_folders(journal.paths, record.folders)  # only once recorded: revertable
        atomic.replace_many([atomic.Replacement(c.real, c.change.after, stat.S_IMODE(c.mode),
                                                expected=c.change.before, owner=c.owner) for c in checked],
                            tag=record.temp_tag("apply"),
                            keep_replaced=journal.replaced_folder(migration_id, "apply"))
        journal.write_state(migration_id, State("applied"))
    except (Exception, KeyboardInterrupt) as exc:  # not a kill: roll back at once
        _roll_back(journal, record, checked, exc)
        raise  # _roll_back raises; for type checkers
    return record.migration(State("applied"))


def _refuse_if_unfinished(journal: Store) -> None:
    pending = journal.unfinished()
    if pending is not None:
        raise SafetyError(f"{unfinished_notice(pending, journal.paths.root)} first; nothing written")


def _check(journal: Store, changes: Sequence[FileChange]) -> list[_Checked]:
    """Every change inside the root, outside the journal, once, and on the bytes planned from."""
    root = str(journal.root)
    checked: list[_Checked] = []
    seen: set[str] = set()
    real_folders: dict[str, str] = {}
    for change in changes:
        folder, name = os.path.split(os.path.abspath(change.path))
        real_folder = real_folders.get(folder)
        if real_folder is None:
            real_folder = real_folders[folder] = os.path.realpath(folder)
        real = os.path.join(real_folder, name)
        if change.before is not None and os.path.islink(real):
            real = os.path.realpath(real)  # a link inside the root: its target is what changes
        if not real.startswith(root + os.sep):
            raise SafetyError(f"{change.path}: resolves outside the root {root} (through a symlink?); "
                              "refusing to write it; nothing written")
        rel = real[len(root) + 1:].replace(os.sep, "/")
        try:
            relative_path(rel)
        except ValueError:
            raise SafetyError(f"{rel}: inside the journal folder {JOURNAL_FOLDER}/ (or not a plain "
                              "path); refusing to write it; nothing written") from None
        if rel in seen:
            raise BadInputError(f"{rel}: listed twice in one migration")
        seen.add(rel)
        if change.before is None:
            checked.append(_Checked(rel, real, _new_file_mode(rel, real), change))
        else:
            info = _holds_before(rel, real, change.before)
            checked.append(_Checked(rel, real, info.st_mode, change, (info.st_uid, info.st_gid)))
    return checked


def _new_file_mode(rel: str, real: str) -> int:
    if os.path.lexists(real):
        raise SafetyError(f"{rel}: exists now (this migration was planned to create it); nothing written")
    return _NEW_FILE_MODE


def _missing_folders(journal: Store, checked: list[_Checked]) -> list[str]:
    """The folders the created files need that do not exist yet, shallowest first, once each."""
    folders: dict[str, None] = {}
    parents: set[str] = set()  # thousands of created files share a few folders
    for item in checked:
        parent = item.rel.rpartition("/")[0]
        if item.change.before is None and parent and parent not in parents:
            parents.add(parent)
            folders.update(dict.fromkeys(missing_folders(journal.paths, item.rel)))
    return list(folders)


def _holds_before(rel: str, real: str, before: bytes) -> os.stat_result:
    """The file's fstat, after checking it holds exactly `before`."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BadInputError(f"{rel}: no such file; nothing written") from None
    except OSError as exc:
        raise BadInputError(f"{rel}: cannot read: {exc.strerror}; nothing written") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadInputError(f"{rel}: not a regular file; nothing written")
        # Another size already tells; else one read (no buffered file object: 10,000 add up).
        same = info.st_size == len(before) and atomic.read_exactly(fd, info.st_size + 1) == before
    finally:
        os.close(fd)
    if not same:
        raise SafetyError(f"{rel}: changed since it was read (it no longer holds the bytes this "
                          "migration was planned from); nothing written")
    return info


def _journal(journal: Store, migration_id: str, kind: str, argv: Sequence[str],
             checked: list[_Checked], folders: list[str]) -> Record:
    """The pack of originals and the record, durable; then the state "pending"."""
    stored, chunks, offset = [], [], 0
    for item in checked:
        before, after = item.change.before, item.change.after
        length = 0 if before is None else len(before)
        stored.append(StoredFile(FileRecord(item.rel, None if before is None else _sha256(before),
                                            _sha256(after)), item.mode, offset, length))
        if before is not None:
            chunks.append(before)
        offset += length
    record = Record(RECORD_FORMAT, migration_id, kind, now(), tuple(argv), tuple(stored), tuple(folders),
                    temp_token=secrets.token_hex(8))
    pack = journal.paths.pack(migration_id)
    try:
        write_new_file(pack, b"".join(chunks))
        journal.write_record(record)  # fsyncs its temp file, then the folder (the pack's entry too)
        journal.write_state(migration_id, State("pending"))
    except BaseException as exc:
        # No state: the migration does not exist; its files are leftovers next_id removes.
        for path in (pack, journal.paths.record(migration_id)):
            try:
                os.unlink(path)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise SafetyError(f"cannot record the migration: {describe_os_error(exc, journal)}; "
                              "nothing written") from exc
        raise
    return record


def _roll_back(journal: Store, record: Record, checked: list[_Checked], exc: BaseException) -> None:
    """Undo a migration that failed part-way, at once; raise the error that says what happened."""
    what = describe_failure(exc, journal)
    originals = {c.rel: c.change.before for c in checked}
    try:
        plan = plan_revert(journal, record.migration(State("pending")), record, force=False,
                           originals=lambda stored: originals[stored.record.path], rollback=True)
        execute_revert(journal, plan, mark_reverting=False)  # still "pending" if this fails too
    except (Exception, KeyboardInterrupt) as second:
        if isinstance(exc, KeyboardInterrupt):
            raise exc from None
        raise SafetyError(f"migration {record.id} ({record.kind}) did not finish: {what}; and could not "
                          f"be rolled back ({describe_failure(second, journal)}); "
                          f"`{command('migrate revert', journal.paths.root)}` rolls it back") from exc
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    raise SafetyError(f"migration {record.id} ({record.kind}) stopped: {what}; rolled back: every file "
                      "holds the bytes it held before (nothing lost)") from exc


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
