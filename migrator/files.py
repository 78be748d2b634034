"""Reading the user's files: only regular files, never blocking, never past a size cap.

Every file of the user's that migrate reads (configs, modules) comes through
`read_user_file`. It opens without blocking (a FIFO, a socket or a device named
*.json or *.py must not hang the run), checks with fstat that it is a regular
file, and reads at most the cap, so /dev/zero or a huge file ends in one line
instead of memory exhaustion. The caps are configurable through the environment.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from typing import Mapping

from migrator.errors import BadInputError

CONFIG_LIMIT_ENV = "MIGRATE_MAX_CONFIG_BYTES"
MODULE_LIMIT_ENV = "MIGRATE_MAX_MODULE_BYTES"
DATA_LIMIT_ENV = "MIGRATE_MAX_DATA_BYTES"
DEFAULT_CONFIG_LIMIT = 16 * 1024 * 1024
DEFAULT_MODULE_LIMIT = 8 * 1024 * 1024
DEFAULT_DATA_LIMIT = 256 * 1024 * 1024

_CHUNK = 1 << 16  # bytes per read past the size fstat gave
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class UnreadableFile(Exception):
    """Why a file cannot be read, in a few words (callers put the file's name in front).

    `missing`: it does not exist (some callers treat that as a normal case).
    `directory`: it is a folder (some callers name what they expected instead).
    """

    def __init__(self, reason: str, *, missing: bool = False, directory: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing
        self.directory = directory


@dataclasses.dataclass(frozen=True)
class Cap:
    """A size cap: `default` bytes unless the environment variable `variable` says otherwise."""

    variable: str
    default: int

    def limit(self, environ: Mapping[str, str] | None = None) -> int:
        """The cap in bytes; BadInputError when the variable is not a positive integer."""
        text = (os.environ if environ is None else environ).get(self.variable, "").strip()
        if not text:
            return self.default
        if not text.isdigit() or len(text) > 18 or int(text) < 1:
            raise BadInputError(f"{self.variable}={text[:40]!r}: not a positive number of bytes")
        return int(text)


CONFIG = Cap(CONFIG_LIMIT_ENV, DEFAULT_CONFIG_LIMIT)  # a hyperparams JSON file
MODULE = Cap(MODULE_LIMIT_ENV, DEFAULT_MODULE_LIMIT)  # a Python module (the backtest, codemod targets)
DATA = Cap(DATA_LIMIT_ENV, DEFAULT_DATA_LIMIT)  # a CSV of bars (`migrate profile --data`)


def check_regular(path: str | os.PathLike[str]) -> None:
    """UnreadableFile unless `path` is a regular file, found without blocking.

    For files handed whole to a library that opens them itself (a torch checkpoint, of any
    size): a FIFO or a device there would block it or feed it without end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _unreadable(exc) from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    _require_regular(mode)


def read_user_file(path: str | os.PathLike[str], cap: Cap, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file within `cap`; UnreadableFile (one line) otherwise.

    `follow_symlinks=False` for a path already resolved: a symlink put there since is refused.
    """
    limit = cap.limit()
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(exc) from None
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode)
        if info.st_size > limit:
            raise UnreadableFile(_too_large(info.st_size, limit, cap))
        # Read one byte past the cap: a file growing meanwhile (or a size fstat cannot tell,
        # as in /proc) is refused, never read without end. Each read asks for what fstat
        # promised (+1 to see the end) or a chunk, never the whole cap: os.read allocates
        # what it is asked for.
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, max(info.st_size + 1 - total, _CHUNK)))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UnreadableFile(_too_large(None, limit, cap))
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(exc) from None
    finally:
        os.close(fd)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a FIFO", "a folder"...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def _require_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise UnreadableFile(os.strerror(errno.EISDIR), directory=True)
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"not a regular file ({kind_of(mode)})")


def _too_large(size: int | None, limit: int, cap: Cap) -> str:
    what = f"{size:,} bytes" if size is not None else "more bytes"
    return f"too large: {what}, over the limit of {limit:,} bytes (set {cap.variable} to raise it)"


def _unreadable(exc: OSError) -> UnreadableFile:
    if exc.errno == errno.ENXIO:  # a socket, or a FIFO's writer side (O_NONBLOCK)
        return UnreadableFile("not a regular file (a socket or a FIFO)")
    return UnreadableFile(exc.strerror or str(exc), missing=exc.errno == errno.ENOENT,
                          directory=exc.errno == errno.EISDIR)
