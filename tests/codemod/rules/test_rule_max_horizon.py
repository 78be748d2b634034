"""max-horizon: before/after table, then statuses and the options it takes."""

from __future__ import annotations

import pytest

from migrator.codemod.rule import PatchError

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
        {NOTE.format(7, 7)}
        max_horizon = {READ.format(7)}
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
                    {NOTE.format(3, 3)}
                    max_horizon: int = {READ.format(3)}  # keep short
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
            {NOTE.format(7, 7)}
            max_horizon = {READ.format(7)}

            def inner():
                {NOTE.format(2, 2)}
                max_horizon = {READ.format(2)}
                return max_horizon
            return inner() + max_horizon
    '''), id="nested-functions-comment-kept"),
    pytest.param(code('''
        async def run():
            steps = 0; max_horizon = 7
    '''), code(f'''
        async def run():
            {NOTE.format(7, 7)}
            steps = 0; max_horizon = {READ.format(7)}
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


# The real backtest's consumer (UPSTREAM.md section 1): a fixed 7-row window compared
# with the 7 walk-forward forecasts; any other horizon breaks it.
WINDOWED = code('''
    def _compute_toto_forecast(symbol, price_frame):
        predictions = []
        max_horizon = 7
        for pred_idx in reversed(range(1, max_horizon + 1)):
            predictions.append(price_frame["y"][-pred_idx])
        return predictions


    def run_single_simulation(symbol, price):
        validation = price[-7:]
        prediction_np = np.asarray(_compute_toto_forecast(symbol, price)[:-1])
        return validation["y"][:-1] - prediction_np
''')
PINNED = '_marketsim_env_int("MARKETSIM_MAX_HORIZON", 7, low=7, high=7)'


def test_a_fixed_forecast_window_pins_the_horizon() -> None:
    result = run(WINDOWED, RULE)
    assert result.after is not None and PINNED.encode() in result.after
    assert result.notes == (
        "example.py:10: `validation = price[-7:]` compares the forecasts with a fixed 7-row "
        "window: MARKETSIM_MAX_HORIZON other than 7 would break the backtest, so the patched "
        "code runs with 7 and logs one warning",)
    assert after(result.after, RULE) == result.after


@pytest.mark.parametrize("consumer", [
    pytest.param("    recent = price[-7:]\n    return recent.mean()\n", id="window-not-compared"),
    pytest.param("    validation = price[-5:]\n    return validation - 1\n", id="other-size"),
    pytest.param("    n = 7\n    validation = price[-n:]\n    return validation - 1\n",
                 id="not-a-literal"),
    pytest.param("    validation = price[-7:-1]\n    return validation - 1\n", id="not-a-tail"),
])
def test_windows_that_do_not_pin(consumer: str) -> None:
    source = WINDOWED.split(b"\n\n\ndef run_single")[0] + \
        b"\n\n\ndef run_single_simulation(symbol, price):\n" + consumer.encode()
    result = run(source, RULE)
    assert result.after is not None
    assert READ.format(7).encode() + b"\n" in result.after and b"low=" not in result.after
    assert result.notes == ()


def test_max_horizon_option_below_the_window_is_refused() -> None:
    with pytest.raises(PatchError, match=r"^example.py:10: --max-horizon 1 would break this "
                       r"backtest: `validation = price\[-7:\]` compares the walk-forward "
                       r"forecasts with a fixed 7-row window, which needs max_horizon 7 "
                       r"\(pass --allow-unsafe-horizon to patch anyway\)$"):
        run(WINDOWED, RULE, max_horizon=1)
    with pytest.raises(PatchError, match="--max-horizon 9 would break"):
        run(WINDOWED, RULE, max_horizon=9)


def test_unsafe_horizon_when_insisted_on() -> None:
    result = run(WINDOWED, RULE, max_horizon=1, allow_unsafe_horizon=True)
    assert result.after is not None and READ.format(1).encode() + b"\n" in result.after
    assert any("--max-horizon 1 with --allow-unsafe-horizon" in note for note in result.notes)
    assert any(note.startswith("example.py:3: --max-horizon 1: with MARKETSIM_MAX_HORIZON unset, "
                               "_compute_toto_forecast walks 1 forecast origins instead of 7")
               for note in result.notes)
    # The flag only matters for a value the window cannot take.
    assert PINNED.encode() in after(WINDOWED, RULE, max_horizon=7, allow_unsafe_horizon=True)


def test_an_earlier_patch_with_another_default_is_reported() -> None:
    """What migrate wrote before (default 1 for a `max_horizon = 7`) changes the results with
    the variable unset: the rule leaves it (already applied) and says how to fix it."""
    earlier = code('''
        def f():
            # PERF: was 7; MARKETSIM_MAX_HORIZON sets it (default 1, added by migrate apply)
            max_horizon = _marketsim_env_int("MARKETSIM_MAX_HORIZON", 1)
            return max_horizon
    ''')
    result = run(earlier, RULE)
    assert result.after is None and status(result, RULE) == "already applied"
    assert result.notes == (
        "example.py:3: an earlier `migrate apply` made the default 1 (was 7): with "
        "MARKETSIM_MAX_HORIZON unset this walks 1 forecast origins and the results differ from "
        "the original's; `migrate apply --max-horizon 7` restores the original default",)
    assert run(BASIC_AFTER, RULE).notes == ()
    # ... and that command does: the default goes back to the literal it replaced.
    assert after(earlier, RULE, max_horizon=7) == code(f'''
        def f():
            {NOTE.format(7, 7)}
            max_horizon = {READ.format(7)}
            return max_horizon
    ''')


@pytest.mark.parametrize("before, value, expected", [
    pytest.param(BASIC_AFTER, 5, BASIC_AFTER.replace(b"default 7", b"default 5").replace(
        READ.format(7).encode(), READ.format(5).encode()), id="another-value"),
    pytest.param(BASIC_AFTER, 7, BASIC_AFTER, id="the-same-value"),
    pytest.param(BASIC_AFTER, None, BASIC_AFTER, id="not-given-keeps-it"),
])
def test_a_given_value_updates_the_default_an_earlier_apply_inserted(
        before: bytes, value: int | None, expected: bytes) -> None:
    result = run(before, RULE, max_horizon=value)
    assert (result.after or before) == expected
    assert status(result, RULE) == ("applied" if expected != before else "already applied")
    assert after(expected, RULE, max_horizon=value) == expected  # then idempotent
    if expected != before:
        assert result.notes == ("example.py: max_horizon's default 7 becomes 5 (--max-horizon)",)


def test_an_update_keeps_the_window_check() -> None:
    """Updating goes through the same checks as a first apply: a value the fixed forecast
    window cannot take is refused there too."""
    patched = after(WINDOWED, RULE)
    with pytest.raises(PatchError, match="--max-horizon 5 would break this backtest"):
        run(patched, RULE, max_horizon=5)
