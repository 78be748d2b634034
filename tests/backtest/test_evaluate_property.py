"""Property: random modules of constants and arithmetic are evaluated within the budget: each value
is exactly what Python computes, or unknown with a reason; the step count never passes the budget.
(Step counts and reasons are asserted, never wall time.)"""

from __future__ import annotations

import ast
import math

from hypothesis import given, settings, strategies as st

from migrator.backtest import Unknown
from migrator.backtest.evaluate import Budget, Evaluator, final_value

MAX_STEPS = 5_000

_LEAVES = st.one_of(
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(repr),
    st.integers(min_value=-3, max_value=40).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["'ab'", "'%d%%'"]),
    st.sampled_from(["A", "B"]),  # the module's first constants (integers)
)
_OPERATORS = ["+", "-", "*", "//", "%", "**", "/"]


def _expression(leaves: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.recursive(leaves, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(_OPERATORS), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"(-{e})"),
    ), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=-(2 ** 40), max_value=2 ** 40).map(repr), min_size=2, max_size=2),
       st.lists(_expression(_LEAVES), min_size=1, max_size=6))
def test_arithmetic_modules_finish_within_the_budget_and_never_guess(constants, later):
    expressions = constants + later
    names = ["A", "B"] + [f"C{i}" for i in range(len(later))]
    source = "".join(f"{name} = {expression}\n" for name, expression in zip(names, expressions))
    tree = ast.parse(source)  # the generator only writes valid Python
    evaluator = Evaluator(tree, {}, Budget(max_steps=MAX_STEPS, seconds=3600))
    values = {name: final_value(evaluator, name) for name in names}
    assert evaluator.budget.steps <= MAX_STEPS + len(names)
    python: dict = {}
    for name, expression in zip(names, expressions):
        value = values[name]
        if isinstance(value, Unknown):
            assert value.reason  # and Python is not asked: it may not finish
            python[name] = value
            continue
        # explain computed it within its budget, so Python computes the same thing quickly.
        assert not any(isinstance(python.get(n), Unknown) for n in ("A", "B") if n in expression)
        expected = eval(expression, {}, python)  # noqa: S307 (the generated arithmetic above)
        python[name] = expected
        assert type(value) is type(expected)
        assert value == expected or (isinstance(value, float) and math.isnan(value) and math.isnan(expected))
