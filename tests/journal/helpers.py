"""What the journal's CLI tests share: running migrate on a root, and checking a clean refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.journal import FileChange, Migration, write_migration


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--root", str(root)])


def clean_exit(result: Result, code: int, *needles: str) -> None:
    """Exit `code`, one line on stderr naming what it must, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("migrate: error:") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]


def apply_changes(root: Path, kind: str, argv: list[str], changes: Sequence[FileChange]) -> Migration | None:
    """Journal and apply changes the test built up front: write_migration with a plan that
    returns them (the package's writers plan under the lock instead)."""
    return write_migration(root, kind, argv, lambda: changes)
