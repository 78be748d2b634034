"""The `migrate` group: the one place every error becomes one line and an exit code."""

from __future__ import annotations

import os
from typing import Any

import click

from migrator import __version__
from migrator.cli.common import _ARGV, _JSON, EXIT_CODES_HELP
from migrator.errors import MigrateError
from migrator.names import printable
from migrator.output import ColorChoice, color_enabled, emit_json, error_document

class MigrateGroup(click.Group):
    """Turns every error into one line on stderr and a documented exit code, never a traceback;
    with --json, also into a JSON document on stdout (unless the command printed its own).

    MigrateError: its own code. Usage errors: click's message, exit 2. Ctrl-C: 130.
    An OSError no module turned into a MigrateError (a read-only root, a full disk...):
    3, naming the file (what was written is whole, as after a kill; the next command
    says what to run). Input too large or malformed for Python itself (MemoryError,
    RecursionError, OverflowError, ValueError, UnicodeError): 2. Any other exception
    is a bug in migrate: one line saying so, 3 (a write in progress was rolled back,
    as for any failure). Every message is shown with control characters escaped.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        argv = tuple(args)
        try:
            ctx = super().make_context(info_name, list(args), parent, **extra)
        except click.ClickException as exc:  # the group's own options: `migrate --color pink ...`
            exc.message = printable(exc.message)  # it may quote what was typed
            if "--json" in argv:
                emit_json(error_document(exc.format_message(), exc.exit_code))
            raise
        ctx.meta[_ARGV] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        from migrator.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_REFUSED

        try:
            return super().invoke(ctx)
        except MigrateError as exc:
            self._fail(ctx, str(exc), exc.exit_code, reported_in_json=getattr(exc, "reported_in_json", False))
        except click.ClickException as exc:  # click prints it (usage, exit 2): the document only
            exc.message = printable(exc.message)  # it may quote what was typed
            if _wants_json(ctx):
                emit_json(error_document(exc.format_message(), exc.exit_code))
            raise
        except (KeyboardInterrupt, click.Abort):
            self._fail(ctx, "interrupted", EXIT_INTERRUPTED, prefix="migrate: ")
        except OSError as exc:
            where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
            self._fail(ctx, f"{where}{exc.strerror or exc}", EXIT_REFUSED)
        except click.exceptions.Exit:  # ctx.exit(): the command's own exit code
            raise
        except _TOO_MUCH_FOR_PYTHON as exc:
            self._fail(ctx, f"cannot handle this input: {_one_line(exc)}", EXIT_BAD_INPUT)
        except Exception as exc:
            self._fail(ctx, f"internal error (a bug in migrate, please report it): {_one_line(exc)}",
                       EXIT_REFUSED)

    @staticmethod
    def _fail(ctx: click.Context, message: str, exit_code: int, *, reported_in_json: bool = False,
              prefix: str = "migrate: error: ") -> None:
        message = printable(message)
        if _wants_json(ctx) and not reported_in_json:
            emit_json(error_document(message, exit_code))
        click.echo(f"{prefix}{message}", err=True)
        ctx.exit(exit_code)


# Raised by Python itself on input too large or malformed for it (an integer of 5,000 digits,
# nesting deeper than the stack, bytes that do not decode), wherever no module caught it first.
_TOO_MUCH_FOR_PYTHON = (MemoryError, RecursionError, OverflowError, ValueError, UnicodeError)
_MESSAGE_LIMIT = 300  # characters of an unexpected exception's message


def _one_line(exc: BaseException) -> str:
    """`Type: message`, shortened; what a MemoryError (no message) means, in words."""
    text = str(exc) or ("out of memory" if isinstance(exc, MemoryError) else "")
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _wants_json(ctx: click.Context) -> bool:
    """The command was given --json: as parsed, else (it failed before) as typed."""
    return bool(ctx.meta.get(_JSON, "--json" in ctx.meta.get(_ARGV, ())))


@click.group(cls=MigrateGroup, epilog=EXIT_CODES_HELP,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Color diffs: auto means on a terminal unless NO_COLOR is set. Never with --json.")
@click.version_option(__version__, prog_name="migrate")
@click.pass_context
def main(ctx: click.Context, color: ColorChoice) -> None:
    """Safe, reversible speed-ups for marketsim backtests.

    Config migrations (toto, kronos, chronos2), a code patch (apply), a journal
    (history, revert) and a benchmarked forecast core (profile).
    """
    # click.echo strips escapes unless ctx.color (inherited by the command's context) says otherwise.
    ctx.color = color_enabled(color)


