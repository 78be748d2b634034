"""What every command shares: the option groups, the Settings they resolve to, `takes`,
and the exit codes' help text."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from migrator.names import printable
from migrator.output import Outcome, finish

EXIT_CODES_HELP = """\b
Exit codes:
  0  done, or nothing to do
  1  --check: changes are pending
  2  bad input or usage, or input too large for Python
     itself (nothing written)
  3  refused for safety (lock held, files changed since the
     migration, an unfinished migration needs attention,
     a damaged journal, a file system error); an internal
     error (a bug: the message says so)
  130 interrupted (Ctrl-C)
"""

# Keys in click's ctx.meta, shared by the group and the command it runs.
_JSON = "migrate.json"  # the command's --json, once its options are parsed
_ARGV = "migrate.argv"  # the arguments after `migrate`, for errors raised before that


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the option groups a command takes resolved to; a group it does not take
    leaves its fields at these defaults (no root, no writing mode, text output)."""

    root: Path | None = None  # ROOT
    hyperparams: Path | None = None  # HYPERPARAMS
    dry_run: bool = False  # WRITING_MODE
    check: bool = False
    json: bool = False  # OUTPUT
    quiet: bool = False
    color: bool = False  # colored diffs: the group's --color, else a terminal and no NO_COLOR; never with --json
    argv: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        """"check", "dry-run" or "apply": what a writing command does with its plan."""
        return "check" if self.check else "dry-run" if self.dry_run else "apply"

    def finish(self, outcome: Outcome) -> None:
        """End the command: print the outcome as --json / -q say, exit as --check says."""
        finish(outcome, as_json=self.json, quiet=self.quiet, check=self.check)


@dataclasses.dataclass(frozen=True)
class OptionGroup:
    """Options that go together, and the parameter names they pass to the command."""

    options: tuple[Callable[[Any], Any], ...]
    names: tuple[str, ...]


ROOT = OptionGroup((
    click.option("--root", default=".", show_default=True, metavar="DIR",
                 help="The project root (where backtest_test3_inline.py and .migrate/ live)."),
), ("root",))
HYPERPARAMS = OptionGroup((
    click.option("--hyperparams", default=None, metavar="DIR",
                 help="Hyperparams folder [default: $HYPERPARAM_ROOT, else ROOT/hyperparams]."),
), ("hyperparams",))
WRITING_MODE = OptionGroup((
    click.option("--dry-run", is_flag=True, help="Show what would change; write nothing."),
    click.option("--check", is_flag=True, help="Write nothing; exit 1 if anything would change."),
), ("dry_run", "check"))
OUTPUT = OptionGroup((
    click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout."),
    click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings."),
), ("as_json", "quiet"))


def takes(*groups: OptionGroup, warn_unfinished: bool = False) -> Callable[[Any], Any]:
    """Give a command the options of `groups`; it gets what they resolve to as `settings=`.

    With warn_unfinished (a command that takes ROOT), a migration a killed run left
    unfinished is reported on stderr before the command runs.
    """
    assert HYPERPARAMS not in groups or ROOT in groups, "HYPERPARAMS resolves against ROOT"
    assert not warn_unfinished or ROOT in groups, "the unfinished migration is ROOT's"

    def decorate(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for group in groups for name in group.names}
            settings = _resolve_settings(groups, given)
            if warn_unfinished:
                from migrator.journal import Journal, unfinished_notice

                assert settings.root is not None
                unfinished = Journal(settings.root).unfinished()
                if unfinished is not None:
                    click.echo(f"migrate: warning: {unfinished_notice(unfinished, settings.root)}",
                               err=True)
            return func(settings=settings, **kwargs)

        command: Any = wrapper
        for option in reversed([option for group in groups for option in group.options]):
            command = option(command)
        return command

    return decorate


def _resolve_settings(groups: Sequence[OptionGroup], given: dict[str, Any]) -> Settings:
    ctx = click.get_current_context()
    as_json = bool(given.get("as_json", False))
    ctx.meta[_JSON] = as_json  # before anything can fail: the group reports errors in JSON too
    root_path = hp_path = None
    if ROOT in groups:
        root_path = Path(given["root"]).resolve()
        if not root_path.is_dir():
            raise click.BadParameter(f"{printable(given['root'])}: not a directory", param_hint="--root")
    if HYPERPARAMS in groups:
        assert root_path is not None
        if given["hyperparams"] is None:
            # Same resolution as the backtest: $HYPERPARAM_ROOT, else ROOT/hyperparams.
            env_root = os.environ.get("HYPERPARAM_ROOT")
            hp = Path(env_root) if env_root else Path("hyperparams")
            hp_path = (hp if hp.is_absolute() else root_path / hp).resolve()
        else:
            hp = Path(given["hyperparams"])
            hp_path = (hp if hp.is_absolute() else Path.cwd() / hp).resolve()
    return Settings(
        root=root_path,
        hyperparams=hp_path,
        dry_run=bool(given.get("dry_run", False)),
        check=bool(given.get("check", False)),
        json=as_json,
        quiet=bool(given.get("quiet", False)),
        color=not as_json and bool(ctx.color),
        argv=tuple(["migrate", *sys.argv[1:]]),
    )


_SYMBOL_OPTION = click.option(
    "--symbol", "symbols", multiple=True, metavar="SYMBOL",
    help="Only this symbol's files (repeatable).")
BACKTEST_FILE = "backtest_test3_inline.py"  # read (never imported) for the run-time facts
_BACKTEST_OPTION = click.option(
    "--backtest", default=None, metavar="FILE",
    help="The backtest module, read (never imported) for what it does with the values "
         "[default: ROOT/backtest_test3_inline.py].")


def backtest_path(settings: Settings, backtest: str | None) -> Path:
    """--backtest as given (relative to the current directory), else ROOT's backtest module."""
    assert settings.root is not None
    return Path(backtest).resolve() if backtest else settings.root / BACKTEST_FILE
