"""MaxDiff: the vectorised objective against a plain loop, DIRECT on a known optimum, the budget."""

from __future__ import annotations

import numpy as np
import pytest

from migrator.forecast.maxdiff import (ValidationDays, daily_returns, evaluation_budget, fit_offsets,
                                       total_return)


def random_days(n: int, seed: int) -> ValidationDays:
    rng = np.random.default_rng(seed)
    prev_close = 100 * np.exp(rng.normal(0, 0.02, n))
    open_ = prev_close * (1 + rng.normal(0, 0.005, n))
    close = prev_close * (1 + rng.normal(0, 0.02, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    return ValidationDays(prev_high=prev_close * 1.01, prev_low=prev_close * 0.99, open=open_, high=high,
                          low=low, close=close, pred_high=rng.normal(0, 0.01, n), pred_low=rng.normal(0, 0.01, n))


def loop_reference(days: ValidationDays, a: float, b: float) -> list[float]:
    """The documented strategy, one day at a time."""
    returns = []
    for t in range(len(days.close)):
        entry = days.prev_low[t] * (1 + days.pred_low[t] + a)
        target = days.prev_high[t] * (1 + days.pred_high[t] + b)
        if days.low[t] > entry:
            returns.append(0.0)
            continue
        fill = min(entry, days.open[t])
        sell = target if days.high[t] >= target else days.close[t]
        returns.append(sell / fill - 1)
    return returns


def test_vectorised_objective_matches_loop() -> None:
    days = random_days(40, seed=1)
    grid = np.stack(np.meshgrid(np.linspace(-0.03, 0.03, 9), np.linspace(-0.03, 0.03, 7)), axis=-1)
    vectorised = daily_returns(days, grid)
    assert vectorised.shape == (7, 9, 40)
    filled_somewhere = False
    for i in range(7):
        for j in range(9):
            a, b = grid[i, j]
            expected = loop_reference(days, a, b)
            np.testing.assert_allclose(vectorised[i, j], expected, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(total_return(days, grid[i, j]), sum(expected), rtol=1e-12)
            filled_somewhere |= any(r != 0 for r in expected)
    assert filled_somewhere  # the data exercise fills, targets and closes


def constructed_days() -> ValidationDays:
    """Every day: predictions 0 around 100, low 98, high 102.5, close 100.

    Buying at 98 (a = -0.02, the lowest limit that still fills) and selling at 102.5
    (b = +0.025, the highest target still reached) is the unique best: 102.5/98 - 1 a day.
    """
    n = 5
    flat = np.full(n, 100.0)
    return ValidationDays(prev_high=flat, prev_low=flat, open=flat, high=np.full(n, 102.5), low=np.full(n, 98.0),
                          close=flat, pred_high=np.zeros(n), pred_low=np.zeros(n))


def test_direct_finds_the_known_optimum() -> None:
    fit = fit_offsets(constructed_days(), budget=500)
    best = 5 * (102.5 / 98.0 - 1)
    assert fit.total_return == pytest.approx(best, rel=5e-3)  # the exit side sits on a cliff
    assert fit.entry_offset == pytest.approx(-0.02, abs=5e-4)
    assert fit.exit_offset == pytest.approx(0.025, abs=5e-4)
    assert fit.total_return == pytest.approx(float(total_return(constructed_days(), [fit.entry_offset, fit.exit_offset])))
    # Beyond the optimum the strategy loses the fill or the target.
    assert total_return(constructed_days(), [-0.021, 0.025]) == 0.0
    assert total_return(constructed_days(), [-0.02, 0.026]) < best


@pytest.mark.parametrize(("value", "budget"), [
    ("1", 100), ("true", 100), ("TRUE", 100), ("Yes", 100), (" on ", 100),
    ("0", 500), ("false", 500), ("", 500), ("no", 500), ("2", 500), (None, 500),
])
def test_evaluation_budget_from_environment(value: str | None, budget: int) -> None:
    env = {} if value is None else {"MARKETSIM_FAST_OPTIMIZE": value}
    assert evaluation_budget(env) == budget


def test_fast_optimize_cuts_the_evaluations(monkeypatch: pytest.MonkeyPatch) -> None:
    days = random_days(7, seed=2)
    monkeypatch.delenv("MARKETSIM_FAST_OPTIMIZE", raising=False)
    full = fit_offsets(days)
    monkeypatch.setenv("MARKETSIM_FAST_OPTIMIZE", "1")
    fast = fit_offsets(days)
    # DIRECT checks its budget after each sweep, so it may overshoot by a few evaluations.
    assert 500 <= full.evaluations < 540
    assert 100 <= fast.evaluations < 140
    assert full.total_return >= fast.total_return
