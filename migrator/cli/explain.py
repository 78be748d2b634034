"""`migrate explain` (migrator.explain)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from migrator.cli.common import _BACKTEST_OPTION, _SYMBOL_OPTION, OUTPUT, ROOT, Settings, backtest_path, takes
from migrator.cli.group import main
from migrator.names import printable_document
from migrator.output import Outcome


@main.command("explain", short_help="What the backtest will really run with, per symbol, and why.")
@click.option("--hyperparams", default=None, metavar="DIR",
              help="Explain as if HYPERPARAM_ROOT=DIR [default: the backtest's own resolution].")
@_BACKTEST_OPTION
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
    from migrator.explain import explain as run_explain, render_text

    assert settings.root is not None
    env = dict(os.environ)
    if hyperparams is not None:
        env["HYPERPARAM_ROOT"] = str(Path(hyperparams).resolve())
    path = backtest_path(settings, backtest)
    result = run_explain(settings.root, path, env, symbols)
    settings.finish(Outcome(printable_document(result.as_json()),
                            text=render_text(result, tty=settings.color, root=settings.root)))


