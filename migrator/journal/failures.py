"""One line saying why a write or a revert stopped, files named relative to the root."""

from __future__ import annotations

import errno
import os

from migrator import atomic
from migrator.errors import MigrateError
from migrator.journal.store import Store


def describe_failure(exc: BaseException, journal: Store) -> str:
    if isinstance(exc, atomic.ChangedMeanwhile):
        return f"{journal.paths.label(exc.path)} changed while migrate was writing (left as it is)"
    if isinstance(exc, OSError):
        return describe_os_error(exc, journal)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, MigrateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def describe_os_error(exc: OSError, journal: Store) -> str:
    """`FILE: reason`, the file relative to the root where it is inside."""
    name = exc.filename
    label = "" if name is None else journal.paths.label(os.fsdecode(name))
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return f"{label}: {reason}" if label else reason
