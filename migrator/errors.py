"""Exceptions that map to the documented exit codes.

The CLI turns these into a one-line message on stderr and the exit code below
(and Ctrl-C into 130, a stray OSError into 3, naming the file).
"""

from __future__ import annotations

EXIT_OK = 0  # done, or nothing to do
EXIT_PENDING = 1  # --check found changes that would be made
EXIT_BAD_INPUT = 2  # bad input or usage; nothing was written
EXIT_REFUSED = 3  # refused for safety: lock held, files changed since, unfinished migration
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class MigrateError(Exception):
    """A user-facing error: one line, no traceback."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(MigrateError):
    """Invalid file, argument or data. Nothing was written."""

    exit_code = EXIT_BAD_INPUT


class SafetyError(MigrateError):
    """Refused because going on could lose or corrupt a user's bytes."""

    exit_code = EXIT_REFUSED
