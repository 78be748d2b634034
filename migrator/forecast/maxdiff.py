"""MaxDiff: fit an entry and an exit offset to the predicted low and high.

The strategy, per validation day t (in the spirit of lee101/stock-prediction's maxdiff):

- predictions are percent changes of the Low and High columns into day t, so the
  predicted low is  prev_low[t] * (1 + pred_low[t])  and likewise for the high;
- a limit buy is placed at  entry[t] = prev_low[t] * (1 + pred_low[t] + a);
  it fills if the day trades down to it (low[t] <= entry[t]), at min(entry[t], open[t])
  (a limit above the open fills at the open);
- a filled position is sold at  exit[t] = prev_high[t] * (1 + pred_high[t] + b)  if the
  day trades up to it (high[t] >= exit[t]), otherwise at the close. Daily bars do not
  say whether the high came before the fill; like the original, we assume it can follow;
- the day's return is exit / fill - 1 when filled, else 0; the objective is the sum of
  the daily returns over the validation days, maximised over the additive offsets
  (a, b) in [-0.03, 0.03]^2 with scipy.optimize.direct.

The evaluation budget is 500 objective evaluations, 100 when MARKETSIM_FAST_OPTIMIZE is
truthy (1/true/yes/on, any case), as in the backtest. The objective is vectorised over
days (and over any number of offset pairs) in numpy.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np
from scipy.optimize import direct

FULL_BUDGET = 500
FAST_BUDGET = 100
OFFSET_BOUND = 0.03
_TRUTHY = {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class ValidationDays:
    """Realised bars and predictions for the days the offsets are fit on (arrays of equal length)."""

    prev_high: np.ndarray
    prev_low: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    pred_high: np.ndarray  # predicted percent change of High into the day
    pred_low: np.ndarray  # predicted percent change of Low into the day


@dataclasses.dataclass(frozen=True)
class MaxDiffFit:
    entry_offset: float  # a: added to the predicted low change
    exit_offset: float  # b: added to the predicted high change
    total_return: float  # the objective at (a, b): sum of daily returns
    evaluations: int  # objective evaluations direct used


def evaluation_budget(environ: Mapping[str, str] | None = None) -> int:
    """500, or 100 when MARKETSIM_FAST_OPTIMIZE is truthy."""
    env = os.environ if environ is None else environ
    fast = env.get("MARKETSIM_FAST_OPTIMIZE", "").strip().lower() in _TRUTHY
    return FAST_BUDGET if fast else FULL_BUDGET


def daily_returns(days: ValidationDays, offsets: np.ndarray) -> np.ndarray:
    """Strategy return of each day for each offset pair.

    `offsets` has shape (..., 2) holding (a, b); the result has shape (..., n_days).
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    a = offsets[..., 0:1]
    b = offsets[..., 1:2]
    entry = days.prev_low * (1.0 + days.pred_low + a)
    target = days.prev_high * (1.0 + days.pred_high + b)
    filled = days.low <= entry
    fill = np.minimum(entry, days.open)
    exit_price = np.where(days.high >= target, target, days.close)
    # Where not filled the fill price may be <= 0 for absurd predictions; never divide there.
    safe_fill = np.where(filled, fill, 1.0)
    return np.where(filled, exit_price / safe_fill - 1.0, 0.0)


def total_return(days: ValidationDays, offsets: np.ndarray) -> np.ndarray:
    """The objective: sum of daily returns, shape (...) for offsets of shape (..., 2)."""
    return daily_returns(days, offsets).sum(axis=-1)


def fit_offsets(days: ValidationDays, budget: int | None = None) -> MaxDiffFit:
    """Maximise the total return over (a, b) with DIRECT; `budget` defaults to evaluation_budget()."""
    maxfun = evaluation_budget() if budget is None else budget
    bounds = [(-OFFSET_BOUND, OFFSET_BOUND)] * 2
    result = direct(lambda x: -float(total_return(days, x)), bounds, maxfun=maxfun)
    return MaxDiffFit(
        entry_offset=float(result.x[0]),
        exit_offset=float(result.x[1]),
        total_return=-float(result.fun),
        evaluations=int(result.nfev),
    )
