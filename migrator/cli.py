"""Command line: parses arguments, calls one module per concern, prints.

No logic lives here beyond turning arguments into calls and results into text
or JSON. Heavy modules (libcst, torch) are imported inside the commands that
need them so `migrate --help` stays fast. Every command ends through
`Settings.finish` (migrator.output.finish): one meaning for --json, -q and --check.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from migrator import __version__
from migrator.errors import BadInputError, MigrateError
from migrator.hints import root_option
from migrator.names import printable, printable_document
from migrator.output import ColorChoice, Outcome, color_enabled, emit_json, error_document, finish

from migrator.configs.models import MODELS as CONFIG_MODELS
from migrator.configs.models.base import ConfigModel

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


# --- config migrations (migrator.configs) ---------------------------------

_SYMBOL_OPTION = click.option(
    "--symbol", "symbols", multiple=True, metavar="SYMBOL",
    help="Only this symbol's files (repeatable).")
_SKIP_INVALID_OPTION = click.option(
    "--skip-invalid", is_flag=True,
    help="Migrate the valid files and report the invalid ones (default: any invalid file stops "
         "everything, nothing written).")
_CREATE_MISSING_OPTION = click.option(
    "--create-missing", is_flag=True,
    help="Also write HYPERPARAMS/<model>/SYMBOL.json for each best/ selection that has none (the file "
         "the backtest reads; without it the module's defaults run), as upstream's store writes it. "
         "Journaled: `migrate revert` deletes exactly the files it created.")
BACKTEST_FILE = "backtest_test3_inline.py"  # read (never imported) for the run-time facts


def _config_command(model: ConfigModel) -> click.Command:
    """The subcommand of a registered config model, its options from the model's declaration."""

    def command(settings: Settings, symbols: tuple[str, ...], skip_invalid: bool, create_missing: bool,
                **values: Any) -> None:
        _run_config_migration(settings, model, values, symbols, skip_invalid, create_missing)

    callback: Any = takes(ROOT, HYPERPARAMS, WRITING_MODE, OUTPUT, warn_unfinished=True)(command)
    callback = _CREATE_MISSING_OPTION(callback)
    callback = _SKIP_INVALID_OPTION(callback)
    callback = _SYMBOL_OPTION(callback)
    for option in reversed(model.options):
        callback = click.option(option.flag, option.dest, type=option.type, required=model.all_required,
                                metavar=option.metavar, help=option.help)(callback)
    return click.command(model.name, help=model.help, short_help=model.summary,
                         epilog=EXIT_CODES_HELP)(callback)


for _model in CONFIG_MODELS:
    main.add_command(_config_command(_model))


def _run_config_migration(settings: Settings, model: ConfigModel, values: dict[str, Any],
                          symbols: tuple[str, ...], skip_invalid: bool, create_missing: bool) -> None:
    from migrator.configs import report
    from migrator.configs.migrations import plan_and_apply

    spec = model.spec(**values)
    runtime = model.runtime_note(spec.values, os.environ, settings.root / BACKTEST_FILE)
    mode = settings.mode
    plan, migration_id = plan_and_apply(settings.root, settings.hyperparams, spec, symbols, settings.argv,
                                        write=mode == "apply", skip_invalid=skip_invalid,
                                        create_missing=create_missing)
    refused = bool(plan.invalid) and not skip_invalid
    warnings = list(plan.warnings)
    unread = report.unread_warning(plan, created=create_missing, root=settings.root)
    if unread:
        warnings.append(unread)
    runtime_warning = runtime.warning() if runtime is not None else None
    if runtime_warning:
        warnings.append(runtime_warning)
    if skip_invalid:
        warnings += [f"skipped invalid file {line}" for line in plan.invalid]
    show_diffs = mode != "apply" and (settings.json or not settings.quiet)
    diff_texts = report.diffs(plan, color=settings.color) if show_diffs else None
    settings.finish(Outcome(
        report.document(plan, mode, runtime=runtime, written=migration_id is not None,
                        migration_id=migration_id, diff_texts=diff_texts, warnings=warnings,
                        root=settings.root),
        text="".join(diff_texts or ()) + report.summary(plan, mode, migration_id, refused=refused,
                                                        root=settings.root),
        warnings=warnings,
        errors=plan.invalid if refused else (),
        pending=bool(plan.changes),
        failure=BadInputError(
            f"nothing written: {len(plan.invalid)} invalid file{'s' if len(plan.invalid) > 1 else ''} "
            "(fix, or pass --skip-invalid to migrate the valid ones)") if refused else None))


# --- code patches (migrator.codemod) ----------------------------------------
@main.command("apply", epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rules", "rule_list", default=None, metavar="A,B",
              help="Only these rules (see `migrate rules`); `imports` always runs.")
@click.option("--max-horizon", type=click.IntRange(min=1), default=None,
              help="max_horizon when MARKETSIM_MAX_HORIZON is unset or invalid "
                   "[default: the value it replaces, so nothing changes until it is set]. Given "
                   "again with another value, it replaces the default an earlier apply inserted.")
@click.option("--allow-unsafe-horizon", is_flag=True,
              help="Accept a --max-horizon that the module's fixed forecast window cannot take.")
@click.option("--fast-simulations", type=click.IntRange(min=1), default=None,
              help="num_simulations cap when MARKETSIM_FAST_SIMULATE is on [default: 35]. Given "
                   "again with another value, it replaces the cap an earlier apply inserted.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel worker processes.")
@click.option("-v", "--verbose", is_flag=True,
              help="Name every file looked at, also those no rule applies to.")
@takes(ROOT, WRITING_MODE, OUTPUT, warn_unfinished=True)
def apply(settings: Settings, paths: tuple[Path, ...], rule_list: str | None,
          max_horizon: int | None, allow_unsafe_horizon: bool, fast_simulations: int | None,
          jobs: int, verbose: bool) -> None:
    """Patch backtest code with env-driven speed-ups (a libcst codemod).

    PATHS are files or folders relative to ROOT (.py files below, skipping .git,
    venvs, site-packages, build output, .migrate and nested repositories);
    default: every module under ROOT that a rule applies to (the backtest, its
    parallel copy, the optimizers, the modules importing TotoForecaster or
    KronosPredictor). Idempotent; all files or none are written, through the journal (`migrate
    revert` undoes). With no MARKETSIM_* variable set the patched code computes
    what the original did; it reads MARKETSIM_MAX_HORIZON, MARKETSIM_FAST_SIMULATE,
    MARKETSIM_FAST_OPTIMIZE, MARKETSIM_EXACT_TOTO and MARKETSIM_EXACT_KRONOS at run time and never raises
    on a bad value (`migrate rules` for details). A --max-horizon the backtest's
    fixed forecast window cannot take exits 2 unless --allow-unsafe-horizon.
    """
    from migrator.codemod import report
    from migrator.codemod.apply import run_apply
    from migrator.codemod.rule import RuleOptions

    mode = settings.mode
    names = [n.strip() for n in rule_list.split(",") if n.strip()] if rule_list else None
    show_diffs = settings.dry_run and not settings.quiet
    bar: Any = None

    def start_bar(count: int) -> None:
        nonlocal bar
        if count > 5 and not (settings.quiet or settings.json):
            bar = click.progressbar(length=count, label="patching", file=sys.stderr)
            bar.__enter__()

    try:
        result = run_apply(settings.root, list(paths), names,
                           RuleOptions(max_horizon=max_horizon, fast_simulations=fast_simulations,
                                       allow_unsafe_horizon=allow_unsafe_horizon,
                                       root_option=root_option(settings.root)),
                           write=mode == "apply", argv=settings.argv, jobs=jobs, steps=show_diffs,
                           on_count=start_bar, on_done=lambda _: bar and bar.update(1))
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    settings.finish(Outcome(
        report.document(result, mode, with_diffs=show_diffs, root_hint=root_option(settings.root)),
        text=(report.diffs(result, color=settings.color) if show_diffs else "")
        + report.summary(result, mode, verbose=verbose, root_hint=root_option(settings.root)),
        errors=result.errors,
        pending=bool(result.changed),
        failure=BadInputError("nothing written" if mode == "apply" else "some files cannot be patched")
        if result.errors else None))


@main.command("rules")
@takes(OUTPUT)
def rules(settings: Settings) -> None:
    """List the codemod rules `migrate apply` runs, in order, and the env var each reads."""
    from migrator.codemod import report
    from migrator.codemod.rules import RULES

    settings.finish(Outcome(report.rules_document(RULES), text=report.rules_text(RULES)))


# --- journal (migrator.journal) ---------------------------------------------
@main.command("history", epilog=EXIT_CODES_HELP,
              short_help="List recorded migrations: id, time, kind, files, state, command.")
@click.option("--prune", is_flag=True,
              help="Drop the original bytes reverted migrations keep (and, with --keep, older "
                   "applied ones'); report the bytes freed.")
@click.option("--keep", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --prune: also drop the originals of applied migrations older than the N "
                   "newest (N >= 1); those can no longer be reverted [default: keep every applied one's].")
@takes(ROOT, OUTPUT)
def history(settings: Settings, prune: bool, keep: int | None) -> None:
    """List the migrations recorded under ROOT/.migrate, oldest first:
    id, time (UTC), kind, files, state, command. --json gives a list of
    objects with each file's path and sha256 before and after.
    """
    from migrator.journal import Journal, unfinished_notice
    from migrator.journal.report import history_table, migration_document, prune_document, prune_summary

    if keep is not None and not prune:
        raise click.UsageError("--keep N goes with --prune")
    journal = Journal(settings.root)
    if prune:
        result = journal.prune(keep)
        settings.finish(Outcome(prune_document(result), text=prune_summary(result)))
        return
    migrations = journal.history()
    unfinished = journal.unfinished(migrations)
    unfinished_id = unfinished.id if unfinished else None
    settings.finish(Outcome(
        [migration_document(m, unfinished_id) for m in migrations],
        text=history_table(migrations, unfinished_id) if migrations else
        f"no migrations recorded under {settings.root / '.migrate'}\n",
        warnings=[unfinished_notice(unfinished, settings.root)] if unfinished is not None else ()))


@main.command("revert", epilog=EXIT_CODES_HELP,
              short_help="Undo migrations, newest first, restoring the exact original bytes.")
@click.argument("migration_id", required=False, metavar="[ID]")
@click.option("--all", "everything", is_flag=True, help="Undo every applied migration, newest first.")
@click.option("--to", "to", default=None, metavar="ID",
              help="Undo every applied migration after ID, newest first.")
@click.option("--force", is_flag=True,
              help="Also restore files changed since the migration (their current bytes are "
                   "kept under ROOT/.migrate/overwritten/ID/).")
@takes(ROOT, WRITING_MODE, OUTPUT)
def revert(settings: Settings, migration_id: str | None, everything: bool, to: str | None,
           force: bool) -> None:
    """Give back the exact original bytes of migrations and mark them reverted.

    \b
    Without ID: the unfinished migration a killed run left, else the newest
    applied one (run again: the one before; nothing left: exit 0). --all:
    every applied one; --to ID: every one after ID. Naming an older ID whose
    files a newer applied migration changed is refused (exit 3), with the
    command that works. A file changed since the migration: refused (exit 3),
    nothing written; --force restores anyway and keeps its bytes. An unknown
    or already reverted ID is exit 2. --dry-run shows the diffs.
    """
    from migrator.journal import Journal, NothingToRevert
    from migrator.journal.report import revert_diffs, revert_document, revert_summary

    if sum((migration_id is not None, everything, to is not None)) > 1:
        raise click.UsageError("give at most one of ID, --all, --to ID")
    mode = settings.mode
    try:
        results = Journal(settings.root).revert_many(migration_id, everything=everything, to=to,
                                                     force=force, dry_run=mode != "apply")
    except NothingToRevert as exc:
        settings.finish(Outcome(revert_document(None, mode, str(exc)), text=f"{exc}\n"))
        return
    documents = [revert_document(result, mode) for result in results]
    settings.finish(Outcome(
        documents[0] if len(documents) == 1 and not (everything or to) else documents,
        text="".join((revert_diffs(result, color=settings.color) if mode != "apply" else "")
                     + revert_summary(result) for result in results),
        pending=any(result.restored for result in results)))


# --- what the backtest runs with (migrator.explain) --------------------------
@main.command("explain", short_help="What the backtest will really run with, per symbol, and why.")
@click.option("--hyperparams", default=None, metavar="DIR",
              help="Explain as if HYPERPARAM_ROOT=DIR [default: the backtest's own resolution].")
@click.option("--backtest", default=None, metavar="FILE",
              help="The backtest module [default: ROOT/backtest_test3_inline.py].")
@_SYMBOL_OPTION
@takes(ROOT, OUTPUT)
def explain(settings: Settings, hyperparams: str | None, backtest: str | None,
            symbols: tuple[str, ...]) -> None:
    """Per symbol, the Toto and Kronos values the backtest will run with in the current
    environment, and why: read from the backtest's own code (its defaults, env overrides,
    FAST_TESTING, clamp floors and ceilings) and the hyperparams files it loads; and every
    MARKETSIM_* read, whether `migrate apply` added it, and what it does now. A value that
    cannot be determined is shown as unknown with the reason. Writes nothing.

    \b
    Exit codes: 0 done; 2 the backtest is missing or not valid Python, or bad usage.
    """
    from migrator.explain.report import render_text
    from migrator.explain.resolve import explain as run_explain

    assert settings.root is not None
    env = dict(os.environ)
    if hyperparams is not None:
        env["HYPERPARAM_ROOT"] = str(Path(hyperparams).resolve())
    path = Path(backtest) if backtest else settings.root / BACKTEST_FILE
    result = run_explain(settings.root, path, env, symbols)
    settings.finish(Outcome(printable_document(result.as_json()),
                            text=render_text(result, tty=settings.color, root=settings.root)))


# --- forecast core (migrator.forecast) --------------------------------------
def _baseline_calls(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        calls = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor 'all'") from None
    if calls < 1:
        raise click.BadParameter(f"{value} is not at least 1")
    return calls


def _engine_roles() -> list[str]:
    from migrator.forecast.registry import ROLES  # light: names only, no torch

    return [*ROLES, "both"]


_FORECAST_EXTRA = ("numpy", "scipy", "torch")


def _require_forecast_extra() -> None:
    """numpy, scipy and torch are the `forecast` extra: without them, one line saying how to get it."""
    for name in _FORECAST_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == name
            raise BadInputError("migrate profile needs the forecast extra: pip install 'migrate[forecast]'"
                                + ("" if missing else f" (importing {name} failed: {exc})")) from None


# The options each `profile --backend` takes (click parameter names); None: every option.
# A backend's entry is its declaration: any other option given is a usage error (exit 2).
PROFILE_BACKENDS: dict[str, frozenset[str] | None] = {
    "bundled": None,
    "toto-ts": frozenset({
        "backend", "sims", "horizon", "samples", "batch", "prediction_length", "model_name",
        "checkpoint", "data", "seed", "baseline_calls", "equivalence_pairs", "rounds", "threads",
        "as_json", "quiet"}),
    "kronos": frozenset({
        "backend", "kronos_model", "kronos_samples", "kronos_context", "kronos_temperature", "kronos_top_k",
        "kronos_top_p", "kronos_baseline_steps", "rounds", "seed", "threads", "as_json", "quiet"}),
}


def _refuse_options_the_backend_does_not_take(ctx: click.Context, backend: str) -> None:
    takes = PROFILE_BACKENDS[backend]
    if takes is None:
        return
    given = [param for param in ctx.command.params if param.name not in takes
             and ctx.get_parameter_source(param.name or "") in (click.core.ParameterSource.COMMANDLINE,
                                                              click.core.ParameterSource.ENVIRONMENT)]
    if given:
        # A --no-x flag is named as typed.
        names = ", ".join(param.secondary_opts[0] if getattr(param, "secondary_opts", None)
                          and not ctx.params.get(param.name or "") else param.opts[0] for param in given)
        raise click.UsageError(f"{names} do{'es' if len(given) == 1 else ''} not apply to "
                               f"--backend {backend} (see `migrate profile --help`)")


class _Progress:
    """Progress lines on stderr, once a run has taken longer than 2 s."""

    def __init__(self) -> None:
        import time

        self.clock = time.perf_counter
        self.started = self.clock()

    def __call__(self, message: str) -> None:
        elapsed = self.clock() - self.started
        if elapsed > 2.0:
            click.echo(f"migrate: profile: {elapsed:5.1f} s: {message}", err=True)


@main.command("profile")
@click.option("--engine", type=click.Choice(_engine_roles()), default="both",
              show_default=True, help="Which engine role(s) to run, for Toto and Kronos.")
@click.option("--backend", type=click.Choice(list(PROFILE_BACKENDS)), default="bundled", show_default=True,
              help="bundled: our Toto-style and Kronos-style models, the whole backtest. toto-ts: the Toto "
                   "calls on Datadog's installed toto-ts (its forecaster, + a context cache, the exact one). "
                   "kronos: one Kronos call on the real Kronos code (its KronosPredictor vs the exact one).")
@click.option("--sims", type=click.IntRange(min=1), default=None,
              help="Simulations per symbol (simulation s drops the last s+1 bars); Toto and Kronos "
                   "[default: 50; 20 with --backend toto-ts].")
@click.option("--horizon", type=click.IntRange(min=1), default=7, show_default=True,
              help="Walk-forward origins per simulation and key (max_horizon).")
@click.option("--samples", type=click.IntRange(min=1), default=128, show_default=True,
              help="num_samples per forecast.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="samples_per_batch; --samples must be a multiple of it.")
@click.option("--aggregate", default="mean", show_default=True,
              help="mean, median, trimmed_mean_X or quantile_X.")
@click.option("--prediction-length", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Steps each forecast runs ahead of its context (Toto's prediction_length); the "
                   "forecast is the last step's. Beyond 64 the optimized engine runs the baseline's "
                   "autoregressive path.")
@click.option("--model", "model_name", type=click.Choice(["small", "base"]), default="small",
              show_default=True, help="small: 1.6M parameters; base: the Toto-Open-Base-1.0 shape (151M).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="A saved state dict for --model [default: seeded random weights].")
@click.option("--data", type=click.Path(path_type=Path), default=None, metavar="CSV",
              help="Daily bars: timestamp or Date, Open, High, Low, Close[, Volume] "
                   "[default: synthetic bars, about 4 years].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the synthetic bars, the random weights and the sampling.")
@click.option("--baseline-calls", default="4", show_default=True, metavar="K|all", callback=_baseline_calls,
              help="Time Toto's baseline on K of its calls per round, spread over the schedule, and scale "
                   "to all (its calls cost the same); 'all' runs every call.")
@click.option("--equivalence-pairs", type=click.IntRange(min=1), default=4, show_default=True, metavar="N",
              help="(key, origin) pairs on which Toto's engines' distributions are compared "
                   "(one baseline call each).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="Interleaved rounds per engine; each speed-up is the median of the rounds (min-max shown).")
@click.option("--kronos/--no-kronos", "with_kronos", default=True, show_default=True,
              help="Also profile Kronos's calls (the Close key of every simulation).")
@click.option("--kronos-model", type=click.Choice(["mini", "small", "base"]), default="mini", show_default=True,
              help="Kronos shape: mini 4.1M, small 24.7M, base 102.3M parameters (the backtest uses base).")
@click.option("--kronos-samples", type=click.IntRange(min=1), default=16, show_default=True, metavar="N",
              help="sample_count: paths per Kronos call (160 to 320 in the real configs).")
@click.option("--kronos-context", type=click.IntRange(min=2), default=64, show_default=True, metavar="N",
              help="max_context, and the lookback the backtest passes (192 to 288 in the real configs).")
@click.option("--kronos-all-keys", is_flag=True,
              help="Call Kronos for all four keys, as the backtest does when Kronos is the selected model.")
@click.option("--kronos-temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              metavar="T", help="Kronos sampling temperature (0.1 to 0.3 in the real configs).")
@click.option("--kronos-top-k", type=click.IntRange(min=0), default=0, show_default=True, metavar="K",
              help="Kronos top_k (0: off; when set, top_p is ignored, as in Kronos).")
@click.option("--kronos-top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=0.99,
              show_default=True, metavar="P", help="Kronos top_p.")
@click.option("--kronos-checkpoint", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="A saved KronosModel state dict for --kronos-model [default: seeded random weights].")
@click.option("--kronos-calls", default="1", show_default=True, metavar="K|all", callback=_baseline_calls,
              help="Time both Kronos engines on the same K of its calls per round, spread over the "
                   "simulations, and scale to all (they cost the same); 'all' runs every call.")
@click.option("--kronos-baseline-steps", type=click.IntRange(min=1), default=None, metavar="S",
              help="Time each of Kronos's baseline calls on its first S of 7 steps and scale (every step "
                   "runs the same full window) [default: all steps].")
@click.option("--kronos-equivalence-calls", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="Calls on which the Kronos engines are compared (one full baseline call each); 0 skips it.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="torch threads for the run; 0: torch's default (one per core). One thread gives "
                   "steadier figures on a shared machine, where threads wait on each other.")
@takes(OUTPUT)
def profile(backend: str, engine: str, sims: int | None, horizon: int, samples: int, batch: int, aggregate: str,
            prediction_length: int, model_name: str, checkpoint: Path | None, data: Path | None, seed: int,
            baseline_calls: int | None, equivalence_pairs: int, rounds: int, with_kronos: bool,
            kronos_model: str, kronos_samples: int, kronos_context: int, kronos_all_keys: bool,
            kronos_temperature: float, kronos_top_k: int, kronos_top_p: float, kronos_checkpoint: Path | None,
            kronos_calls: int | None, kronos_baseline_steps: int | None, kronos_equivalence_calls: int,
            threads: int, settings: Settings) -> None:
    """Time one symbol's backtest: Toto's schedule, Kronos's calls, MaxDiff, data.

    Prints, for the baseline and the optimized engines, the guide's table (Toto forecasting,
    Kronos forecasting, MaxDiff optimization, data processing, other), then the speed-ups
    (medians of interleaved rounds, with their min-max) and an equivalence check of each
    optimized engine against its baseline. Writes nothing.

    The defaults are a quick look (Kronos-mini, 16 paths, 64 bars). The backtest's own Kronos
    calls: --kronos-model base --kronos-samples 160 --kronos-context 232 (a baseline call
    takes many minutes: add --kronos-baseline-steps 1 --rounds 1
    --kronos-equivalence-calls 0). --samples/--batch are used as given (the backtest would
    clamp them to at least 128/32 unless MARKETSIM_TOTO_MIN_* are lowered). MaxDiff makes 500
    objective evaluations per fit, 100 when MARKETSIM_FAST_OPTIMIZE is 1/true/yes/on.

    --backend toto-ts (needs toto-ts: pip install --no-deps -r requirements/toto-ts.txt) times
    the Toto calls on toto-ts itself: its forecaster per call (K calls, scaled), plus a context
    cache, and the exact forecaster per call; --checkpoint also takes a toto-ts checkpoint
    directory or .safetensors file. It uses --sims, --horizon, --samples, --batch,
    --prediction-length, --model, --checkpoint, --data, --seed, --baseline-calls,
    --equivalence-pairs, --rounds and --threads; another option is a usage error (exit 2).

    --backend kronos (needs kronos-finance: pip install --no-deps -r requirements/kronos.txt)
    times one Kronos call as the backtest makes it (pred_len 7, lookback = max_context) on the
    real Kronos code: its KronosPredictor.predict against the exact drop-in. It uses
    --kronos-model, --kronos-samples, --kronos-context, --kronos-temperature, --kronos-top-k,
    --kronos-top-p, --kronos-baseline-steps, --rounds, --seed and --threads; another option is a
    usage error (exit 2).
    """
    _refuse_options_the_backend_does_not_take(click.get_current_context(), backend)
    _require_forecast_extra()  # torch: imported only when profiling
    if backend == "toto-ts":
        from migrator.forecast.render import render_toto_ts_text
        from migrator.forecast.toto_ts_profile import run_toto_ts_profile

        progress = None if settings.quiet else _Progress()  # counts toto-ts's import (seconds)
        toto_ts = run_toto_ts_profile(
            sims=sims, horizon=horizon, samples=samples, batch=batch, prediction_length=prediction_length,
            model=model_name, checkpoint=checkpoint, data=data, seed=seed, baseline_calls=baseline_calls,
            equivalence_pairs=equivalence_pairs, rounds=rounds, threads=threads or None,
            progress=progress)
        settings.finish(Outcome(toto_ts.to_json(), text=render_toto_ts_text(toto_ts)))
        return
    if backend == "kronos":
        from migrator.runtime.kronos_profile import profile_kronos_cli

        result, text = profile_kronos_cli(
            model=kronos_model, samples=kronos_samples, context=kronos_context, temperature=kronos_temperature,
            top_k=kronos_top_k, top_p=kronos_top_p, baseline_steps=kronos_baseline_steps, rounds=rounds, seed=seed,
            threads=threads or None, progress=None if settings.quiet else _Progress())
        settings.finish(Outcome(result, text=text + "\n"))
        return
    sims = 50 if sims is None else sims
    from migrator.forecast.engines import Workload
    from migrator.forecast.kronos_engines import KronosWorkload
    from migrator.forecast.profile import KronosSettings, run_profile
    from migrator.forecast.render import render_text

    kronos = None
    if with_kronos:
        kronos = KronosSettings(
            KronosWorkload(sims=sims, samples=kronos_samples, context=kronos_context, all_keys=kronos_all_keys,
                           temperature=kronos_temperature, top_k=kronos_top_k, top_p=kronos_top_p),
            model=kronos_model, checkpoint=kronos_checkpoint, calls=kronos_calls,
            baseline_steps=kronos_baseline_steps, equivalence_calls=kronos_equivalence_calls)
    result = run_profile(
        Workload(sims=sims, horizon=horizon, samples=samples, batch=batch, aggregate=aggregate,
                 prediction_length=prediction_length),
        engines=("baseline", "optimized") if engine == "both" else (engine,),
        model=model_name, checkpoint=checkpoint, data=data, seed=seed, baseline_calls=baseline_calls,
        equivalence_pairs=equivalence_pairs, rounds=rounds, kronos=kronos,
        progress=None if settings.quiet else _Progress(), threads=threads or None,
    )
    settings.finish(Outcome(result.to_json(), text=render_text(result) + "\n"))


if __name__ == "__main__":  # pragma: no cover
    main()
