"""fast-optimize: before/after table for scipy's direct and differential_evolution."""

from __future__ import annotations

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "fast-optimize"
NOTE = "# PERF: MARKETSIM_FAST_OPTIMIZE=1 shrinks the optimizer budget (added by migrate apply)"

BASIC_BEFORE = code('''
    from scipy.optimize import differential_evolution, direct


    def fit(objective, bounds, maxiter=50, popsize=10):
        maxfun = maxiter * popsize
        try:
            result = direct(objective, bounds=bounds, maxfun=maxfun)
        except ValueError:
            result = differential_evolution(
                objective,
                bounds,
                maxiter=maxiter,
                popsize=popsize,
            )
        return result
''')
BASIC_AFTER = code(f'''
    from scipy.optimize import differential_evolution, direct


    def fit(objective, bounds, maxiter=50, popsize=10):
        maxfun = maxiter * popsize
        try:
            {NOTE}
            result = direct(objective, bounds=bounds, maxfun=_marketsim_fast_budget(maxfun, cap=100))
        except ValueError:
            {NOTE}
            result = differential_evolution(
                objective,
                bounds,
                maxiter=_marketsim_fast_budget(maxiter, divisor=5),
                popsize=popsize,
            )
        return result
''')

CASES = [
    pytest.param(BASIC_BEFORE, BASIC_AFTER, id="from-import-4-space"),
    pytest.param(tabs(BASIC_BEFORE), tabs(BASIC_AFTER), id="tabs"),
    pytest.param(crlf(BASIC_BEFORE).rstrip(), crlf(BASIC_AFTER).rstrip(), id="crlf-no-final-newline"),
    pytest.param(code('''
        import scipy.optimize as so
        from scipy import optimize as opt
        from scipy.optimize import direct as run_direct

        # MARKETSIM_FAST_OPTIMIZE is mentioned in a comment only
        a = so.direct(f, b, maxfun=500)
        b = opt.differential_evolution(f, b, maxiter=30, popsize=8)
        c = run_direct(f, b, maxfun = 240)
    '''), code(f'''
        import scipy.optimize as so
        from scipy import optimize as opt
        from scipy.optimize import direct as run_direct

        # MARKETSIM_FAST_OPTIMIZE is mentioned in a comment only
        {NOTE}
        a = so.direct(f, b, maxfun=_marketsim_fast_budget(500, cap=100))
        {NOTE}
        b = opt.differential_evolution(f, b, maxiter=_marketsim_fast_budget(30, divisor=5), popsize=8)
        {NOTE}
        c = run_direct(f, b, maxfun = _marketsim_fast_budget(240, cap=100))
    '''), id="aliases-module-level"),
]

UNCHANGED = [
    pytest.param(code('''
        from mylib import direct

        def go():
            return direct(f, maxfun=500)
    '''), id="not-scipy"),
    pytest.param(code('''
        import os
        from scipy.optimize import direct

        FAST = os.getenv("MARKETSIM_FAST_OPTIMIZE") in {"1", "true", "yes", "on"}

        def go():
            return direct(f, b, maxfun=100 if FAST else 500)
    '''), id="module-already-reads-the-variable"),
    pytest.param(code('''
        from scipy.optimize import differential_evolution, direct

        def go():
            differential_evolution(f, b, popsize=8)
            return direct(f, b)
    '''), id="no-budget-keyword"),
]


@pytest.mark.parametrize(("before", "expected"), CASES)
def test_rewrites(before: bytes, expected: bytes) -> None:
    assert after(before, RULE) == expected
    assert after(expected, RULE) == expected


@pytest.mark.parametrize("before", UNCHANGED)
def test_leaves_alone(before: bytes) -> None:
    assert after(before, RULE) == before


def test_statuses() -> None:
    assert status(run(BASIC_BEFORE, RULE), RULE) == "applied"
    assert status(run(BASIC_AFTER, RULE), RULE) == "already applied"
    assert status(run(UNCHANGED[0].values[0], RULE), RULE) == "not applicable"
    assert status(run(UNCHANGED[1].values[0], RULE), RULE) == "already applied"
