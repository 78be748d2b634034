"""fast-simulate: before/after table, statuses, the cap option; only in functions that
run the simulations."""

from __future__ import annotations

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "fast-simulate"
NOTE = ("# PERF: MARKETSIM_FAST_SIMULATE=1/true/yes/on caps the simulations at {} "
        "(added by migrate apply)")
CHECK = 'if _marketsim_env_flag("MARKETSIM_FAST_SIMULATE") and isinstance(num_simulations, int):'

BASIC_BEFORE = code('''
    def backtest_forecasts(symbol, num_simulations=50):
        """Run the simulations."""

        frame = load(symbol)
        return [simulate(frame, i) for i in range(num_simulations)]
''')
BASIC_AFTER = code(f'''
    def backtest_forecasts(symbol, num_simulations=50):
        """Run the simulations."""
        {NOTE.format(35)}
        {CHECK}
            num_simulations = min(num_simulations, 35)

        frame = load(symbol)
        return [simulate(frame, i) for i in range(num_simulations)]
''')

CASES = [
    pytest.param(BASIC_BEFORE, BASIC_AFTER, id="docstring-4-space"),
    pytest.param(tabs(BASIC_BEFORE), tabs(BASIC_AFTER), id="tabs"),
    pytest.param(crlf(BASIC_BEFORE).rstrip(), crlf(BASIC_AFTER).rstrip(), id="crlf-no-final-newline"),
    pytest.param(code('''
        class Backtester:
            def run(self, symbol, *, num_simulations: int = 50) -> list:
                # first the data
                return self.simulate_all(symbol, num_simulations)

            def simulate_all(self, symbol, num_simulations):
                return [simulate(symbol, i) for i in range(0, num_simulations - 1)]
    '''), code(f'''
        class Backtester:
            def run(self, symbol, *, num_simulations: int = 50) -> list:
                {NOTE.format(35)}
                {CHECK}
                    num_simulations = min(num_simulations, 35)
                # first the data
                return self.simulate_all(symbol, num_simulations)

            def simulate_all(self, symbol, num_simulations):
                {NOTE.format(35)}
                {CHECK}
                    num_simulations = min(num_simulations, 35)
                return [simulate(symbol, i) for i in range(0, num_simulations - 1)]
    '''), id="method-passes-it-on-to-a-method-that-loops"),
    pytest.param(code('''
        def outer():
            def inner(num_simulations):
                for sim_number in range(num_simulations):
                    yield sim_number
            return inner
    '''), code(f'''
        def outer():
            def inner(num_simulations):
                {NOTE.format(35)}
                {CHECK}
                    num_simulations = min(num_simulations, 35)
                for sim_number in range(num_simulations):
                    yield sim_number
            return inner
    '''), id="nested-function"),
    pytest.param(code('''
        def quick(num_simulations): return list(range(num_simulations))  # one line
    '''), code(f'''
        def quick(num_simulations):  # one line
            {NOTE.format(35)}
            {CHECK}
                num_simulations = min(num_simulations, 35)
            return list(range(num_simulations))
    '''), id="one-line-def"),
    pytest.param(code('''
        def f(num_simulations=50):
            "doc"; x = range(num_simulations)
            return x
    '''), code(f'''
        def f(num_simulations=50):
            "doc"
            {NOTE.format(35)}
            {CHECK}
                num_simulations = min(num_simulations, 35)
            x = range(num_simulations)
            return x
    '''), id="docstring-sharing-its-line"),
]

UNCHANGED = [
    pytest.param(code('''
        def backtest_forecasts(symbol, num_simulations=50):
            if os.getenv("MARKETSIM_FAST_SIMULATE") in {"1", "true", "yes", "on"}:
                num_simulations = min(num_simulations, 35)
                logger.info("fast simulate: %d", num_simulations)
            return num_simulations
    '''), id="upstream-newer-version"),
    pytest.param(code('''
        num_simulations = 50

        def run(symbol, simulations=50):
            return num_simulations
    '''), id="no-such-parameter"),
    pytest.param(code('''
        def _log_strategy_summary(results_df, symbol, num_simulations):
            logger.info("%s: %d simulations", symbol, num_simulations)
            for row in results_df:
                logger.info("%s", row)
    '''), id="logging-helper-runs-no-simulation"),
    pytest.param(code('''
        def run(symbol, num_simulations=50):
            return simulate_elsewhere(symbol, num_simulations)

        def loops(symbol, count):
            return [simulate(symbol, i) for i in range(count)]
    '''), id="passes-it-to-a-function-not-in-the-module"),
    pytest.param(code('''
        def run(symbol, num_simulations=50):
            width = len(str(num_simulations))
            return [format(i, width) for i in range(10)]
    '''), id="range-of-something-else"),
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
    assert status(run(UNCHANGED[0].values[0], RULE), RULE) == "already applied"
    assert status(run(UNCHANGED[1].values[0], RULE), RULE) == "not applicable"
    assert status(run(UNCHANGED[2].values[0], RULE), RULE) == "not applicable"


def test_docstring_stays_the_docstring() -> None:
    source = code('''
        def f(num_simulations=50):
            "doc"; x = 1
            return [x for _ in range(num_simulations)]
    ''')
    namespace: dict = {"_marketsim_env_flag": lambda name: False}
    exec(compile(after(source, RULE), "example.py", "exec"), namespace)
    assert namespace["f"].__doc__ == "doc" and len(namespace["f"]()) == 50


def test_cap_comes_from_the_option() -> None:
    patched = after(BASIC_BEFORE, RULE, fast_simulations=10)
    assert b"num_simulations = min(num_simulations, 10)" in patched
    assert NOTE.format(10).encode() in patched


def test_a_given_cap_updates_the_check_an_earlier_apply_inserted() -> None:
    first = after(BASIC_BEFORE, RULE)
    assert after(first, RULE) == first and after(first, RULE, fast_simulations=35) == first
    result = run(first, RULE, fast_simulations=20)
    assert result.after == after(BASIC_BEFORE, RULE, fast_simulations=20)  # as if applied with 20
    assert status(result, RULE) == "applied"
    assert result.notes == ("example.py: backtest_forecasts: the MARKETSIM_FAST_SIMULATE cap 35 "
                            "becomes 20 (--fast-simulations)",)
    assert after(result.after, RULE) == result.after  # not given: the cap stays 20
    assert after(result.after, RULE, fast_simulations=20) == result.after


def test_a_given_cap_does_not_touch_the_modules_own_check() -> None:
    own = code('''
        import os


        def backtest_forecasts(symbol, num_simulations=50):
            if os.getenv("MARKETSIM_FAST_SIMULATE") in {"1", "true"}:
                num_simulations = min(num_simulations, 35)
            return [symbol for _ in range(num_simulations)]
    ''')
    result = run(own, RULE, fast_simulations=20)
    assert result.after is None and status(result, RULE) == "already applied"
    assert result.notes == ("example.py: backtest_forecasts reads MARKETSIM_FAST_SIMULATE in its "
                            "own code (not added by migrate): --fast-simulations 20 does not change it",)
