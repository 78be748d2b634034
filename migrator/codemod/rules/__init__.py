"""The codemod's rules, in the order they run. One rule per module."""

from __future__ import annotations

from migrator.codemod.rule import Rule
from migrator.codemod.rules import (
    eod_comment, exact_kronos, exact_toto, fast_optimize, fast_simulate, imports, max_horizon,
)

# `imports` last: it inserts what the code added by the others needs.
RULES: tuple[Rule, ...] = (
    max_horizon.RULE,
    fast_simulate.RULE,
    fast_optimize.RULE,
    eod_comment.RULE,
    exact_toto.RULE,
    exact_kronos.RULE,
    imports.RULE,
)
BY_NAME = {rule.name: rule for rule in RULES}


def select(names: list[str] | None) -> tuple[Rule, ...]:
    """The named rules in run order (all when `names` is None), plus `imports`.

    `imports` always runs: without it a selected rule's code would call a helper
    the module does not define. Unknown names raise KeyError.
    """
    if names is None:
        return RULES
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise KeyError(", ".join(unknown))
    wanted = {*names, imports.RULE.name}
    return tuple(rule for rule in RULES if rule.name in wanted)
