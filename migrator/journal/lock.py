"""The root's lock: one migrate at a time plans and writes (flock on .migrate/lock)."""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from typing import Iterator

from migrator.errors import SafetyError
from migrator.journal.paths import JournalPaths

_LOCK_LABEL = ".migrate/lock"


class RootLock:
    """Re-entrant within one object; SafetyError (exit 3) at once if another process holds it."""

    def __init__(self, paths: JournalPaths) -> None:
        self._paths = paths
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self._fd is None:
            self._fd = self._acquire()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                os.close(self._fd)  # releases the flock
                self._fd = None

    def _acquire(self) -> int:
        import fcntl

        try:
            fd = os.open(self._paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise SafetyError(f"{_LOCK_LABEL}: is {'a symlink' if exc.errno == errno.ELOOP else 'a folder'}"
                                  ", not migrate's lock file (remove it); nothing written") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SafetyError(f"{_LOCK_LABEL}: is not a regular file (remove it); nothing written")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SafetyError(f"another migrate is working on {self._paths.root} "
                              f"(lock {self._paths.lock} held)") from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now. Creates nothing.

        Probes with a shared flock (the holder's is exclusive), released at once.
        """
        if self._fd is not None:
            return False
        import fcntl

        try:
            fd = os.open(self._paths.lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:  # absent, or not a lock file: nobody holds it (a write refuses it anyway)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False
