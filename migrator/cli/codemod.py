"""`migrate apply` and `migrate rules` (migrator.codemod)."""

from __future__ import annotations

import sys
from typing import Any
from pathlib import Path

import click

from migrator.cli.common import EXIT_CODES_HELP, OUTPUT, ROOT, WRITING_MODE, Settings, takes
from migrator.cli.group import main
from migrator.errors import BadInputError
from migrator.hints import root_option
from migrator.output import Outcome


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

    hint = root_option(settings.root)  # `--root DIR` in printed commands, when not the cwd
    try:
        result = run_apply(settings.root, list(paths), names,
                           RuleOptions(max_horizon=max_horizon, fast_simulations=fast_simulations,
                                       allow_unsafe_horizon=allow_unsafe_horizon,
                                       root_option=hint),
                           write=mode == "apply", argv=settings.argv, jobs=jobs, steps=show_diffs,
                           on_count=start_bar, on_done=lambda _: bar and bar.update(1))
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    settings.finish(Outcome(
        report.document(result, mode, with_diffs=show_diffs, root_hint=hint),
        text=(report.diffs(result, color=settings.color) if show_diffs else "")
        + report.summary(result, mode, verbose=verbose, root_hint=hint),
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


