"""fast-simulate: before/after table, statuses, the cap option."""

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
                return simulate(symbol, num_simulations)
    '''), code(f'''
        class Backtester:
            def run(self, symbol, *, num_simulations: int = 50) -> list:
                {NOTE.format(35)}
                {CHECK}
                    num_simulations = min(num_simulations, 35)
                # first the data
                return simulate(symbol, num_simulations)
    '''), id="method-keyword-only-no-docstring"),
    pytest.param(code('''
        def outer():
            def inner(num_simulations):
                return num_simulations
            return inner
    '''), code(f'''
        def outer():
            def inner(num_simulations):
                {NOTE.format(35)}
                {CHECK}
                    num_simulations = min(num_simulations, 35)
                return num_simulations
            return inner
    '''), id="nested-function"),
    pytest.param(code('''
        def quick(num_simulations): return num_simulations  # one line
    '''), code(f'''
        def quick(num_simulations):  # one line
            {NOTE.format(35)}
            {CHECK}
                num_simulations = min(num_simulations, 35)
            return num_simulations
    '''), id="one-line-def"),
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


def test_cap_comes_from_the_option() -> None:
    patched = after(BASIC_BEFORE, RULE, fast_simulations=10)
    assert b"num_simulations = min(num_simulations, 10)" in patched
    assert NOTE.format(10).encode() in patched
