"""Atomic file replacement: a reader, or a crash, sees the old bytes or the new, never a mix.

One file (`write_atomic`): write a temp file in the same folder, fsync it, give
it the replaced file's mode, os.replace it over the target, fsync the folder.

A replacement may carry the bytes the file must hold (`expected`): they are
re-checked just before its rename, so a file someone changed after it was read
is never replaced (`expected=None`: the file must not exist; it is created with
a link that fails if a file appeared meanwhile).

Many files (`replace_many`): a per-file fsync costs ~0.4 ms on the reference
box (4 s for 10,000 files), so large batches keep the same ordering with one
flush for all of them:

1. write every temp file (no fsync yet);
2. syncfs(2) once per filesystem involved;
3. os.replace every temp file over its target;
4. fsync each folder once.

Why it is as durable: atomic replacement needs exactly one ordering, "a temp
file's bytes are on disk before the rename that publishes it can be". syncfs
returns only after every dirty page and inode of the filesystem (so every temp
file of step 1) has been written and the device cache flushed (ext4/xfs/btrfs
issue the flush in their sync_fs), and no rename has been issued before it. A
crash before step 3 leaves only temp files; a crash during step 3 leaves each
target either the old inode or a complete new one. Step 4 makes the renames
durable before the caller goes on (e.g. marks a migration applied), just as the
per-file folder fsync would. Since Linux 5.8 syncfs also reports writeback
errors, as fsync does. Where syncfs is unavailable (not Linux), or the batch is
small, each file takes the per-file path instead.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import stat
from typing import Callable, Iterable, NamedTuple, Sequence

# Below this many files the per-file fsyncs (bounded by our own bytes) are cheaper
# than a filesystem-wide flush (which also waits for everyone else's dirty data).
BATCH_MIN_FILES = 64

_DEFAULT_MODE = 0o644
_NAME_MAX = 255  # bytes, on every filesystem a root lives on in practice


class _NoCheck:
    def __repr__(self) -> str:
        return "NO_CHECK"


NO_CHECK: object = _NoCheck()
"""Replacement.expected: replace whatever the file holds."""


class Replacement(NamedTuple):
    """Put `data` at `path` (a real path: no symlink in it), with permission bits `mode`.

    `expected`: the bytes the file must still hold at the moment of its rename
    (bytes), or None when it must not exist (it is created), or NO_CHECK.
    `owner`: the replaced file's (uid, gid); the new file gets them where the process may
    give them (root: both; the owner: a group it belongs to), else keeps its own.
    """

    path: str | os.PathLike[str]
    data: bytes
    mode: int
    expected: object = NO_CHECK
    owner: tuple[int, int] | None = None  # (uid, gid) to keep, where the process may set them


class ChangedMeanwhile(Exception):
    """A file no longer held its expected bytes just before its rename; it was left alone.

    `replaced`: how many replacements (in order) had been renamed before it.
    """

    def __init__(self, path: str, replaced: int) -> None:
        super().__init__(f"{path}: changed while migrate was working on it")
        self.path = path
        self.replaced = replaced


def temp_path(path: str | os.PathLike[str], tag: str) -> str:
    """The temp file used to replace `path`; named after `tag` so leftovers can be found.

    It starts with a dot and ends in `.tmp`, so globs like `*.json` or `*.py` never
    pick up a leftover from a killed run. A name too long to take the affixes
    within 255 bytes is shortened and given a hash of the full name, so the temp
    name stays legal and unique to its file.
    """
    folder, name = os.path.split(os.fspath(path))
    temp = f".{name}.{tag}.tmp"
    if len(os.fsencode(temp)) > _NAME_MAX:
        digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
        room = _NAME_MAX - len(os.fsencode(f".~{digest}.{tag}.tmp"))
        head = os.fsencode(name)[:max(room, 0)].decode("utf-8", "ignore") if room > 0 else ""
        temp = f".{head}~{digest}.{tag}.tmp"
    return os.path.join(folder, temp)


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make the folder's entries (creations, renames) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 tag: str = "migrate") -> None:
    """Replace (or create) one file atomically and durably.

    `mode` defaults to the mode of the file being replaced, else 0o644.
    `path` must not be a symlink (it would be replaced by a regular file).
    """
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = _DEFAULT_MODE
    _replace_each([Replacement(path, data, mode)], tag)
    fsync_folder(os.path.dirname(os.path.abspath(path)))


def replace_many(replacements: Sequence[Replacement], *, tag: str,
                 keep_replaced: str | None = None) -> None:
    """Replace every file atomically; all are durable when this returns.

    On an error the temp files not yet renamed are removed and the error is
    raised; files already replaced hold their new bytes (the journal knows).
    ChangedMeanwhile when a file no longer holds its `expected` bytes.

    `keep_replaced`: a folder where each replaced inode is hard-linked (as N, its
    index) just before the rename, so the rename frees nothing. Freeing is what
    costs: ~3 ms per file on an ext4 mounted with `discard` (10,000 renames over
    files: 34 s, against 0.3 s when the inodes stay linked). Nothing reads these
    links (the originals are copies); `migrate history --prune` drops them.
    """
    if not replacements:
        return
    folders = {os.path.dirname(os.path.abspath(r.path)) for r in replacements}
    if len(replacements) >= BATCH_MIN_FILES and _syncfs is not None:
        _replace_batched(replacements, tag, folders, keep_replaced)
    else:
        _replace_each(replacements, tag, keep_replaced)
    for folder in sorted(folders):
        fsync_folder(folder)


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _write_temp(replacement: Replacement, tag: str, *, fsync: bool) -> str:
    temp = temp_path(replacement.path, tag)
    # O_EXCL | O_NOFOLLOW: never write through a link someone planted at the temp name.
    try:
        fd = os.open(temp, _TEMP_FLAGS, 0o600)
    except FileExistsError:  # a leftover of a killed run with the same tag
        os.unlink(temp)
        fd = os.open(temp, _TEMP_FLAGS, 0o600)
    try:
        if replacement.owner is not None:
            _give_owner(fd, *replacement.owner)  # before fchmod: chown clears set-id bits
        os.fchmod(fd, replacement.mode)  # fchmod, not the open mode: the umask must not apply
        view = memoryview(replacement.data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly([temp])
        raise
    os.close(fd)
    return temp


def _give_owner(fd: int, uid: int, gid: int) -> None:
    info = os.fstat(fd)
    if (info.st_uid, info.st_gid) == (uid, gid):
        return
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        try:
            os.fchown(fd, -1, gid)  # not root: the group still, if the user is in it
        except PermissionError:
            pass


def holds(path: str | os.PathLike[str], expected: bytes | None) -> bool:
    """Whether `path` (not followed if a symlink) holds exactly `expected` (None: does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return expected is None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now: not the file we read
            return False
        raise
    try:
        if expected is None:
            return False
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(expected):
            return False
        return read_exactly(fd, info.st_size + 1) == expected
    finally:
        os.close(fd)


def read_exactly(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of an open file, in as few reads as the kernel allows."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _publish(temp: str, replacement: Replacement, index: int, keep_replaced: str | None) -> None:
    """Rename (or, for a new file, link) the temp file into place after the last check."""
    path = os.fspath(replacement.path)
    expected = replacement.expected
    if expected is None:
        try:
            os.link(temp, path)  # fails if a file appeared meanwhile: never clobbers one
        except FileExistsError:
            raise ChangedMeanwhile(path, index) from None
        os.unlink(temp)
        return
    if expected is not NO_CHECK and not holds(path, expected):  # type: ignore[arg-type]
        raise ChangedMeanwhile(path, index)
    if keep_replaced is not None:
        try:
            os.link(path, os.path.join(keep_replaced, str(index)), follow_symlinks=False)
        except OSError:
            pass  # not linkable (another filesystem, a leftover, a link limit): the rename frees it
    os.replace(temp, path)


def _replace_each(replacements: Sequence[Replacement], tag: str,
                  keep_replaced: str | None = None) -> None:
    for index, replacement in enumerate(replacements):
        temp = _write_temp(replacement, tag, fsync=True)
        try:
            _publish(temp, replacement, index, keep_replaced)
        except BaseException:
            _unlink_quietly([temp])
            raise


def _replace_batched(replacements: Sequence[Replacement], tag: str, folders: set[str],
                     keep_replaced: str | None) -> None:
    temps: list[str] = []
    try:
        for replacement in replacements:
            temps.append(_write_temp(replacement, tag, fsync=False))
        _flush_filesystems(folders)
    except BaseException:
        _unlink_quietly(temps)
        raise
    for index, (temp, replacement) in enumerate(zip(temps, replacements)):
        try:
            _publish(temp, replacement, index, keep_replaced)
        except BaseException:
            _unlink_quietly(temps[index:])
            raise


def _flush_filesystems(folders: Iterable[str]) -> None:
    """syncfs(2) once for each filesystem holding one of the folders."""
    assert _syncfs is not None
    seen: set[int] = set()
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            device = os.fstat(fd).st_dev
            if device not in seen:
                seen.add(device)
                if _syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"syncfs: {os.strerror(err)}", folder)
        finally:
            os.close(fd)


def _unlink_quietly(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux >= 2.6.39), or None where there is none."""
    try:
        # CDLL(None): the symbols already loaded into this process, libc among them
        # (find_library would spawn ldconfig on every import).
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_syncfs = _load_syncfs()
