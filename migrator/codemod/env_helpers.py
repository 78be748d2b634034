"""The module-level helper functions the rules' inserted code calls.

Each is inserted once per module (by the `imports` rule). A helper is reused on
the next run only when the module defines it exactly as it would be inserted
now; when the module binds the name to anything else (its own
`_marketsim_env_int`, an older version of ours), the helper gets a free name
(`_marketsim_env_int_2`, ...) and the inserted calls use that. The helpers
import `os` themselves, so whatever the module binds `os` to does not matter.
They read the environment at call time and never raise, so a bad value cannot
stop a running backtest.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from migrator.backtest import ModuleFacts

ENV_INT = "_marketsim_env_int"
ENV_FLAG = "_marketsim_env_flag"
FAST_BUDGET = "_marketsim_fast_budget"

TRUTHY = ("1", "true", "yes", "on")
# Values that mean "off" without a warning (unset reads as "").
FALSY = ("", "0", "false", "no", "off")
TRUTHY_SET = "{" + ", ".join(f'"{v}"' for v in TRUTHY) + "}"

# Written with {ENV_INT}-style placeholders for the names the module gives the helpers.
_TEMPLATES = {
    ENV_INT: '''\
def {ENV_INT}(name, default, low=1, high=None, _warned={}):
    """An integer setting from the environment (added by `migrate apply`).

    Unset, empty or not an integer: `default`. Outside [low, high]: the nearest
    bound, and one logged warning per value (dict.setdefault: once, even across
    threads). Never raises.
    """
    import os
    try:
        value = int(os.environ.get(name, "").strip())
    except ValueError:
        return default
    bounded = max(low, value) if high is None else min(max(low, value), high)
    first = object()
    if bounded != value and _warned.setdefault((name, value), first) is first:
        import logging
        logging.getLogger(__name__).warning(
            "%s=%d: this code supports %d to %s; using %d", name, value, low,
            "any" if high is None else high, bounded)
    return bounded
''',
    ENV_FLAG: f'''\
def {{ENV_FLAG}}(name):
    """Whether an environment flag is on: {"/".join(TRUTHY)}, any case (added by `migrate apply`)."""
    import os
    return os.environ.get(name, "").strip().lower() in {TRUTHY_SET}
''',
    FAST_BUDGET: '''\
def {FAST_BUDGET}(budget, cap=None, divisor=5):
    """An optimizer budget, reduced when MARKETSIM_FAST_OPTIMIZE is on (added by `migrate apply`).

    Flag off: `budget` unchanged. Flag on: at most `cap` when given, else
    `budget // divisor` (at least 1). A budget that is not a number (None) is kept.
    """
    if not {ENV_FLAG}("MARKETSIM_FAST_OPTIMIZE"):
        return budget
    try:
        return min(budget, cap) if cap is not None else max(1, budget // divisor)
    except TypeError:
        return budget
''',
}

# Helpers a helper calls; inserted with it.
_REQUIRES = {FAST_BUDGET: (ENV_FLAG,)}

ORDER = (ENV_INT, ENV_FLAG, FAST_BUDGET)  # a helper after those it calls


def with_dependencies(names: set[str]) -> list[str]:
    """`names` plus the helpers they call, in a fixed order."""
    wanted = set(names)
    for name in names:
        wanted.update(_REQUIRES.get(name, ()))
    return [name for name in ORDER if name in wanted]


_PLACEHOLDERS = {ENV_INT: "{ENV_INT}", ENV_FLAG: "{ENV_FLAG}", FAST_BUDGET: "{FAST_BUDGET}"}


def source(base: str, names: dict[str, str]) -> str:
    """The helper's definition under the module's names, with 4-space indents and \\n."""
    text = _TEMPLATES[base]
    for helper, placeholder in _PLACEHOLDERS.items():
        text = text.replace(placeholder, names.get(helper, helper))
    return text


@lru_cache(maxsize=64)
def _dump(base: str, name_items: tuple[tuple[str, str], ...]) -> str:
    return ast.dump(ast.parse(source(base, dict(name_items))).body[0])


def is_ours(facts: ModuleFacts, base: str, name: str, names: dict[str, str]) -> bool:
    """Whether the module defines `name` exactly as the helper `base` is inserted now."""
    node = facts.top_level_defs.get(name)
    wanted = tuple(sorted({**names, base: name}.items()))
    return node is not None and ast.dump(node) == _dump(base, wanted)


def resolve(facts: ModuleFacts) -> dict[str, str]:
    """Each helper's name in this module: its base name, else `<base>_2`, `_3`, ...: the
    first that the module defines exactly as ours or does not bind at all (a name it only
    reads is a call to a helper whose definition is missing: ours to insert)."""
    bound = facts.bound_names
    names: dict[str, str] = {}
    for base in ORDER:
        number = 1
        while True:
            name = base if number == 1 else f"{base}_{number}"
            if name not in bound or is_ours(facts, base, name, names):
                names[base] = name
                break
            number += 1
    return names
