"""The module-level helper functions the rules' inserted code calls.

Each is inserted once per module (by the `imports` rule) and recognised by its
fixed name on the next run. They read the environment at call time and never
raise, so a bad value cannot stop a running backtest.
"""

from __future__ import annotations

ENV_INT = "_marketsim_env_int"
ENV_FLAG = "_marketsim_env_flag"
FAST_BUDGET = "_marketsim_fast_budget"

TRUTHY = ("1", "true", "yes", "on")

_SOURCES = {
    ENV_INT: f'''\
def {ENV_INT}(name, default):
    """An integer setting from the environment (added by `migrate apply`).

    Unset, empty or not an integer: `default`; below 1: 1. Never raises.
    """
    try:
        value = int(os.environ.get(name, "").strip())
    except ValueError:
        return default
    return max(1, value)
''',
    ENV_FLAG: f'''\
def {ENV_FLAG}(name):
    """Whether an environment flag is on: {"/".join(TRUTHY)}, any case (added by `migrate apply`)."""
    return os.environ.get(name, "").strip().lower() in {{{", ".join(f'"{v}"' for v in TRUTHY)}}}
''',
    FAST_BUDGET: f'''\
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

ORDER = (ENV_INT, ENV_FLAG, FAST_BUDGET)
NAMES = frozenset(ORDER)


def with_dependencies(names: set[str]) -> list[str]:
    """`names` plus the helpers they call, in a fixed order."""
    wanted = set(names)
    for name in names:
        wanted.update(_REQUIRES.get(name, ()))
    return [name for name in ORDER if name in wanted]


def source(name: str) -> str:
    """The helper's definition, written with 4-space indents and \\n."""
    return _SOURCES[name]
