"""max-horizon: before/after table, then statuses and the options it takes."""

from __future__ import annotations

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "max-horizon"
NOTE = "# PERF: was {}; MARKETSIM_MAX_HORIZON sets it (default {}, added by migrate apply)"
READ = '_marketsim_env_int("MARKETSIM_MAX_HORIZON", {})'

BASIC_BEFORE = code('''
    def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
        predictions = []
        bands = []
        max_horizon = 7
        for pred_idx in reversed(range(1, max_horizon + 1)):
            predictions.append(pred_idx)
        return predictions
''')
BASIC_AFTER = code(f'''
    def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
        predictions = []
        bands = []
        {NOTE.format(7, 1)}
        max_horizon = {READ.format(1)}
        for pred_idx in reversed(range(1, max_horizon + 1)):
            predictions.append(pred_idx)
        return predictions
''')

CASES = [
    pytest.param(BASIC_BEFORE, BASIC_AFTER, id="4-space"),
    pytest.param(tabs(BASIC_BEFORE), tabs(BASIC_AFTER), id="tabs"),
    pytest.param(crlf(BASIC_BEFORE).rstrip(), crlf(BASIC_AFTER).rstrip(), id="crlf-no-final-newline"),
    pytest.param(code('''
        class Forecaster:
            max_horizon = 7

            def forecast(self):
                if self.ready:
                    max_horizon: int = 3  # keep short
                return max_horizon
    '''), code(f'''
        class Forecaster:
            max_horizon = 7

            def forecast(self):
                if self.ready:
                    {NOTE.format(3, 1)}
                    max_horizon: int = {READ.format(1)}  # keep short
                return max_horizon
    '''), id="method-annotated-8-spaces-class-attribute-untouched"),
    pytest.param(code('''
        def outer():
            # how far ahead
            max_horizon = 7

            def inner():
                max_horizon = 2
                return max_horizon
            return inner() + max_horizon
    '''), code(f'''
        def outer():
            # how far ahead
            {NOTE.format(7, 1)}
            max_horizon = {READ.format(1)}

            def inner():
                {NOTE.format(2, 1)}
                max_horizon = {READ.format(1)}
                return max_horizon
            return inner() + max_horizon
    '''), id="nested-functions-comment-kept"),
    pytest.param(code('''
        async def run():
            steps = 0; max_horizon = 7
    '''), code(f'''
        async def run():
            {NOTE.format(7, 1)}
            steps = 0; max_horizon = {READ.format(1)}
    '''), id="async-two-statements-on-a-line"),
]

UNCHANGED = [
    pytest.param(code('''
        max_horizon = 7
        MAX_HORIZON: int = 7

        def f(max_horizon=7):
            return max_horizon
    '''), id="module-level-and-parameter"),
    pytest.param(code('''
        def f():
            max_horizon = 7
            max_horizon = int(os.getenv("MARKETSIM_MAX_HORIZON", max_horizon))
            return max_horizon
    '''), id="already-reads-the-variable-guide-style"),
    pytest.param(code('''
        def f():
            global max_horizon
            max_horizon = 7
    '''), id="global-declaration"),
    pytest.param(code('''
        def f():
            max_horizon = compute()
            max_horizon = 7.5
            max_horizon, other = 7, 8
    '''), id="not-an-int-literal"),
]


@pytest.mark.parametrize(("before", "expected"), CASES)
def test_rewrites(before: bytes, expected: bytes) -> None:
    assert after(before, RULE) == expected
    assert after(expected, RULE) == expected  # idempotent


@pytest.mark.parametrize("before", UNCHANGED)
def test_leaves_alone(before: bytes) -> None:
    assert after(before, RULE) == before


def test_statuses() -> None:
    assert status(run(BASIC_BEFORE, RULE), RULE) == "applied"
    assert status(run(BASIC_AFTER, RULE), RULE) == "already applied"
    assert status(run(code("max_horizon = 7\n"), RULE), RULE) == "not applicable"
    assert status(run(code("x = 1\n"), RULE), RULE) == "not applicable"


def test_default_comes_from_the_option() -> None:
    patched = after(BASIC_BEFORE, RULE, max_horizon=4)
    assert READ.format(4).encode() in patched
    assert NOTE.format(7, 4).encode() in patched
