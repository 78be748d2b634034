"""How every command ends: what goes to stdout and stderr, and the exit code.

One place, so that `--json`, `-q` and `--check` mean the same thing for every
command: with --json stdout holds exactly one JSON document (an error too);
otherwise text for people unless -q; warnings and errors are one line each on
stderr, prefixed `migrate:`; --check exits 1 when something would change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import IO, Any, Literal, Sequence

import click

from migrator.errors import EXIT_PENDING, MigrateError
from migrator.names import printable

ColorChoice = Literal["auto", "always", "never"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a command has to say once it has done its work."""

    document: Any  # the --json document
    text: str = ""  # for people; not printed with -q
    warnings: Sequence[str] = ()
    errors: Sequence[str] = ()  # printed before `failure` is raised
    pending: bool = False  # --check: something would change (exit 1)
    failure: MigrateError | None = None  # ends the command with its exit code


def finish(outcome: Outcome, *, as_json: bool, quiet: bool, check: bool) -> None:
    """Print the outcome and end the command with the documented exit code."""
    if as_json:
        emit_json(outcome.document)
    elif not quiet and outcome.text:
        click.echo(outcome.text, nl=not outcome.text.endswith("\n"))
    for warning in outcome.warnings:  # after the report, where they are seen
        click.echo(f"migrate: warning: {warning}", err=True)
    for error in outcome.errors:  # one line each, whatever the file names in them
        click.echo(f"migrate: error: {printable(error)}", err=True)
    if outcome.failure is not None:
        # Already reported in the document: the group prints only the stderr line.
        setattr(outcome.failure, "reported_in_json", as_json)
        raise outcome.failure
    if check and outcome.pending:
        click.get_current_context().exit(EXIT_PENDING)


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, sort_keys=False))


def error_document(message: str, exit_code: int) -> dict[str, Any]:
    """The --json document of a command that failed: stdout always holds one document."""
    return {"error": {"message": message, "exit_code": exit_code}}


def color_enabled(choice: ColorChoice, stream: IO[str] | None = None) -> bool:
    """Color for diffs: always / never as asked; auto means a terminal and no NO_COLOR.

    NO_COLOR (https://no-color.org): any non-empty value turns color off under auto.
    """
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream if stream is not None else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressLine:
    """Progress lines on stderr (`migrate: profile: 12.3 s: ...`), once a run has taken longer than 2 s."""

    def __init__(self) -> None:
        self.clock = time.perf_counter
        self.started = self.clock()

    def __call__(self, message: str) -> None:
        elapsed = self.clock() - self.started
        if elapsed > 2.0:
            click.echo(f"migrate: profile: {elapsed:5.1f} s: {message}", err=True)
