"""Reading the user's backtest with Python's `ast`, never importing it: one package below
codemod, explain and configs, which all read the same module.

Modules: module_facts (the plain-`ast` facts the codemod's rules need: tail windows,
`max_horizon`, class imports, simulation runners), evaluate (the bounded evaluator of
a module's top-level statements), hooks (the env reads migrate's hooks and the user's
code make), facts (the settings the backtest resolves Toto and Kronos parameters from),
clamp (the backtest's Toto clamp under an environment).

Public surface: what codemod, explain and configs use, named below.
"""

from migrator.backtest.clamp import (
    TotoAdvice, TotoRuntime, clamp_toto, effective_toto, toto_advice, toto_bounds, toto_floors,
)
from migrator.backtest.evaluate import Unknown, budget_seconds, to_json
from migrator.backtest.facts import (
    HYPERPARAM_ROOT_ENV, KRONOS_SAMPLE_COUNT_ENV, TOTO_KEYS, BacktestFacts, Resolved, Setting, Site,
    read_backtest_facts,
)
from migrator.backtest.hooks import HookEffect, hook_effects
from migrator.backtest.module_facts import (
    HORIZON, HORIZON_ENV, SIMULATIONS, TOTO_CLASS, TOTO_MODULES, WAS_COMMENT, ClassImport, ModuleFacts, Window,
)

__all__ = [
    "HORIZON", "HORIZON_ENV", "HYPERPARAM_ROOT_ENV", "KRONOS_SAMPLE_COUNT_ENV", "SIMULATIONS", "TOTO_CLASS",
    "TOTO_KEYS", "TOTO_MODULES", "WAS_COMMENT", "BacktestFacts", "ClassImport", "HookEffect", "ModuleFacts",
    "Resolved", "Setting", "Site", "TotoAdvice", "TotoRuntime", "Unknown", "Window", "budget_seconds",
    "clamp_toto", "effective_toto", "hook_effects", "read_backtest_facts", "to_json", "toto_advice",
    "toto_bounds", "toto_floors",
]
