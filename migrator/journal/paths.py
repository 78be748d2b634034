"""Every path of the journal, named once, and the checks that keep writes inside the root.

Layout of ROOT/.migrate/ (created by the first write only):

    .gitignore                "*": the journal never shows in the user's `git status`
    lock                      flock()ed by the one migrate working on this root
    migrations/0007.json      the record (records.Record), with the folders it created
    migrations/0007.pack      the original bytes of its files, concatenated (copies)
    migrations/0007.state     pending | applied | reverting | reverted, pruned or not (records.State)
    migrations/0007.replaced/N  the inodes the apply replaced, kept linked so the renames free
                              nothing (slow on some disks); never read; dropped by --prune
    overwritten/0007/PATH     what a `revert --force` replaced (edits made after the migration)

`.migrate` and every folder in it must be a plain folder, never a symlink; files
in it are opened without following symlinks.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from pathlib import Path
from typing import Sequence

from migrator.errors import BadInputError, SafetyError
from migrator.journal.records import JOURNAL_FOLDER, folders_of

_MAX_JOURNAL_FILE = 1 << 34  # 16 GiB: a pack of a very large tree; guards against a device file


@dataclasses.dataclass(frozen=True)
class JournalPaths:
    root: Path  # resolved

    @property
    def folder(self) -> Path:
        return self.root / JOURNAL_FOLDER

    @property
    def gitignore(self) -> Path:
        return self.folder / ".gitignore"

    @property
    def lock(self) -> Path:
        return self.folder / "lock"

    @property
    def migrations(self) -> Path:
        return self.folder / "migrations"

    @property
    def overwritten_folder(self) -> Path:
        return self.folder / "overwritten"

    def record(self, migration_id: str) -> Path:
        return self.migrations / f"{migration_id}.json"

    def state(self, migration_id: str) -> Path:
        return self.migrations / f"{migration_id}.state"

    def pack(self, migration_id: str) -> Path:
        return self.migrations / f"{migration_id}.pack"

    def replaced(self, migration_id: str, operation: str) -> Path:
        """Links keeping the inodes an apply or revert replaced (atomic.replace_many keep_replaced)."""
        return self.migrations / f"{migration_id}.{'revert-' if operation == 'revert' else ''}replaced"

    def legacy_originals(self, migration_id: str) -> Path:
        """Format 1: originals/N, one hard link (or copy) per file."""
        return self.migrations / f"{migration_id}.originals"

    def overwritten(self, migration_id: str) -> Path:
        return self.overwritten_folder / migration_id

    def user_file(self, rel: str) -> Path:
        return self.root / rel

    def label(self, path: Path | str) -> str:
        """How a journal path is named to the user: relative to the root."""
        text = os.fspath(path)
        prefix = str(self.root) + os.sep
        return text[len(prefix):] if text.startswith(prefix) else text


def plain_folder(path: Path, label: str) -> bool:
    """True if `path` is a real folder, False if absent; SafetyError if a symlink or anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise SafetyError(f"{label}: is a symlink; migrate keeps its journal only in a plain folder "
                          "of the root (remove it); nothing written")
    if not stat.S_ISDIR(info.st_mode):
        raise SafetyError(f"{label}: is not a folder (remove it); nothing written")
    return True


def check_journal_folders(paths: JournalPaths) -> bool:
    """Whether .migrate/migrations exists; SafetyError if any journal folder is not a plain folder."""
    if not plain_folder(paths.folder, JOURNAL_FOLDER):
        return False
    plain_folder(paths.overwritten_folder, f"{JOURNAL_FOLDER}/overwritten")
    return plain_folder(paths.migrations, f"{JOURNAL_FOLDER}/migrations")


def read_journal_file(path: Path, label: str) -> bytes | None:
    """A file under .migrate/, not followed if a symlink; None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SafetyError(f"journal damaged: {label}: {_why(exc)}; nothing written") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_JOURNAL_FILE:
            raise SafetyError(f"journal damaged: {label}: not a regular file; nothing written")
        from migrator.atomic import read_exactly

        return read_exactly(fd, info.st_size)
    finally:
        os.close(fd)


def journal_file_size(path: Path) -> int | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def user_path_problem(paths: JournalPaths, rel: str, folders_ok: dict[str, bool]) -> str | None:
    """Why `rel` cannot be written now (a symlink or non-folder among its folders), or None.

    Checked with lstat, component by component, just before writing; `folders_ok`
    caches the folders already seen (thousands of files share a few).
    """
    parts = rel.split("/")
    current = str(paths.root)
    for part in parts[:-1]:
        current = os.path.join(current, part)
        known = folders_ok.get(current)
        if known is None:
            try:
                info = os.lstat(current)
                known = stat.S_ISDIR(info.st_mode)
            except FileNotFoundError:
                known = True  # missing: created (as a plain folder) if a file must go there
            folders_ok[current] = known
        if not known:
            return f"{paths.label(current)} is not a plain folder (a symlink?)"
    try:
        info = os.lstat(os.path.join(current, parts[-1]))
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"{rel} is now a symlink"
    if not stat.S_ISREG(info.st_mode):
        return f"{rel} is not a regular file"
    return None


def make_plain_folders(paths: JournalPaths, rel_folder: str) -> None:
    """Create the missing folders of `rel_folder` under the root, never through a symlink."""
    os.close(_open_folders(str(paths.root), rel_folder))


def missing_folders(paths: JournalPaths, rel: str) -> list[str]:
    """The folders of file `rel` that do not exist, shallowest first; refused if one that
    exists is a symlink (SafetyError: planted since the path was resolved) or a file."""
    missing: list[str] = []
    for folder in folders_of(rel):
        if missing:
            missing.append(folder)
            continue
        try:
            info = os.lstat(paths.user_file(folder))
        except FileNotFoundError:
            missing.append(folder)
            continue
        if stat.S_ISLNK(info.st_mode):
            raise SafetyError(f"{folder}: is a symlink now; refusing to create {rel} through it; "
                              "nothing written")
        if not stat.S_ISDIR(info.st_mode):
            raise BadInputError(f"{folder}: is not a folder; cannot create {rel}; nothing written")
    return missing


def create_recorded_folders(paths: JournalPaths, folders: Sequence[str]) -> None:
    """Create the folders a migration recorded (shallowest first), each entry made durable.

    Never through a symlink: each parent is opened from the root with O_NOFOLLOW.
    """
    for folder in folders:
        parent, _, name = folder.rpartition("/")
        fd = _open_folders(str(paths.root), parent)
        try:
            os.close(_open_folders_at(fd, name, folder))
            os.fsync(fd)
        finally:
            os.close(fd)


def folder_problem(paths: JournalPaths, rel_folder: str) -> str | None:
    """Why a recorded folder cannot be touched (a symlink or a file on its way), or None."""
    for folder in folders_of(rel_folder) + [rel_folder]:
        try:
            info = os.lstat(paths.user_file(folder))
        except FileNotFoundError:
            return None  # gone: nothing to remove below it
        if not stat.S_ISDIR(info.st_mode):
            return f"{folder} is not a plain folder (a symlink?)"
    return None


def remove_if_empty(paths: JournalPaths, rel_folder: str) -> bool:
    """Remove ROOT/REL_FOLDER if it is an empty plain folder; never through a symlink.

    False when it is absent, holds anything, or is not a plain folder: the user's is kept.
    """
    parent, _, name = rel_folder.rpartition("/")
    try:
        fd = _open_folders(str(paths.root), parent, create=False)
    except (FileNotFoundError, NotADirectoryError, SafetyError):
        return False
    try:
        os.rmdir(name, dir_fd=fd)  # a symlink is ENOTDIR: its target is never touched
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            return False
        raise
    else:
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def write_under(root: Path, base: str, rel: str, data: bytes) -> str:
    """Write `data` as a new file ROOT/BASE/REL (a numbered name if taken); never through a symlink.

    Folders are walked (and created) from the root with O_NOFOLLOW: a planted
    link anywhere on the way is refused. Returns the name written (REL, or
    REL.~N~ when REL already kept earlier bytes: nothing kept is overwritten).
    """
    folder, _, name = rel.rpartition("/")
    fd = _open_folders(str(root), f"{base}/{folder}" if folder else base)
    try:
        temp = f".{name}.migrate-{os.getpid()}.tmp" if len(name) < 200 else f".migrate-{os.getpid()}.tmp"
        write_new_file(temp, data, dir_fd=fd)
        try:
            for number in range(10_000):
                final = name if number == 0 else f"{name}.~{number}~"
                try:
                    os.link(temp, final, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                    break
                except FileExistsError:
                    continue
        finally:
            os.unlink(temp, dir_fd=fd)
        os.fsync(fd)
        return f"{folder}/{final}" if folder else final
    finally:
        os.close(fd)


def write_new_file(path: str | Path, data: bytes, *, dir_fd: int | None = None) -> None:
    """Create `path` (never an existing name, never through a symlink) holding `data`, flushed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_folders(start: str, rel_folder: str, *, create: bool = True) -> int:
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if not rel_folder:
        return fd
    try:
        return _open_folders_at(fd, rel_folder, rel_folder, create=create)
    finally:
        os.close(fd)


def _open_folders_at(fd: int, rel_folder: str, label: str, *, create: bool = True) -> int:
    """A new fd of FD/REL_FOLDER, creating what is missing, refusing any symlink on the way."""
    current = os.dup(fd)
    try:
        for part in [p for p in rel_folder.split("/") if p]:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=current)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                dir_fd=current)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise SafetyError(f"{label}: {part} is not a plain folder (a symlink?); "
                                      "refusing to write through it; nothing written") from None
                raise
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink"
    return exc.strerror or str(exc)
