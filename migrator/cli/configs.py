"""`migrate toto|kronos|chronos2`: one subcommand per registered config model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from migrator.cli.common import (
    _BACKTEST_OPTION, _SYMBOL_OPTION, EXIT_CODES_HELP, HYPERPARAMS, OUTPUT, ROOT, WRITING_MODE, Settings, backtest_path, takes,
)
from migrator.cli.group import main
from migrator.configs.models import MODELS as CONFIG_MODELS
from migrator.configs.models.base import ConfigModel
from migrator.errors import BadInputError
from migrator.output import Outcome


_SKIP_INVALID_OPTION = click.option(
    "--skip-invalid", is_flag=True,
    help="Migrate the valid files and report the invalid ones (default: any invalid file stops "
         "everything, nothing written).")
_CREATE_MISSING_OPTION = click.option(
    "--create-missing", is_flag=True,
    help="Also write HYPERPARAMS/<model>/SYMBOL.json for each best/ selection that has none (the file "
         "the backtest reads; without it the module's defaults run), as upstream's store writes it. "
         "Journaled: `migrate revert` deletes exactly the files it created.")


def _config_command(model: ConfigModel) -> click.Command:
    """The subcommand of a registered config model, its options from the model's declaration."""

    def command(settings: Settings, symbols: tuple[str, ...], skip_invalid: bool, create_missing: bool,
                backtest: str | None, **values: Any) -> None:
        _run_config_migration(settings, model, values, symbols, skip_invalid, create_missing,
                              backtest_path(settings, backtest))

    callback: Any = takes(ROOT, HYPERPARAMS, WRITING_MODE, OUTPUT, warn_unfinished=True)(command)
    callback = _BACKTEST_OPTION(callback)
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
                          symbols: tuple[str, ...], skip_invalid: bool, create_missing: bool,
                          backtest: Path) -> None:
    from migrator.configs import report
    from migrator.configs.migrations import plan_and_apply

    spec = model.spec(**values)
    runtime = model.runtime_note(spec.values, os.environ, backtest)
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


