"""Offset optimizers for the MaxDiff strategies (example in the shape of upstream).

MaxDiff trades at the predicted high/low shifted by two additive offsets; the
offsets are fitted on the last validation days with scipy's DIRECT, falling
back to differential evolution when DIRECT fails.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import differential_evolution, direct

logger = logging.getLogger(__name__)

OFFSET_BOUNDS = (-0.03, 0.03)


def _maxdiff_profit(close: np.ndarray, high_pred: np.ndarray, low_pred: np.ndarray,
                    high: np.ndarray, low: np.ndarray, high_offset: float,
                    low_offset: float, close_at_eod: bool = False) -> float:
    """Profit of buying at predicted low + offset and selling at predicted high + offset."""
    buy_price = close * (1.0 + low_pred + low_offset)
    sell_price = close * (1.0 + high_pred + high_offset)
    filled_buy = low <= buy_price
    filled_sell = filled_buy & (high >= sell_price)
    exit_price = np.where(filled_sell, sell_price, close if close_at_eod else buy_price)
    pnl = np.where(filled_buy, (exit_price - buy_price) / np.maximum(buy_price, 1e-9), 0.0)
    return float(pnl.sum())


def _fit(objective: Callable[[Sequence[float]], float], bounds: list[tuple[float, float]],
         maxiter: int, popsize: int) -> tuple[np.ndarray, float, int]:
    """Minimise with DIRECT; fall back to differential evolution if it does not succeed."""
    maxfun = maxiter * popsize
    try:
        result = direct(objective, bounds=bounds, maxfun=maxfun)
        if not result.success and result.status not in (1, 2):
            raise RuntimeError(result.message)
    except (RuntimeError, ValueError) as exc:
        logger.warning("DIRECT failed (%s); using differential evolution", exc)
        result = differential_evolution(
            objective,
            bounds,
            maxiter=maxiter,
            popsize=popsize,
            seed=42,
            polish=False,
        )
    return np.asarray(result.x, dtype=float), float(result.fun), int(result.nfev)


def optimize_entry_exit_multipliers(close: np.ndarray, high_pred: np.ndarray,
                                    low_pred: np.ndarray, high: np.ndarray, low: np.ndarray,
                                    close_at_eod: bool = False, maxiter: int = 50,
                                    popsize: int = 10) -> dict[str, float]:
    """Fit (high_offset, low_offset) for MaxDiff; 50 x 10 = 500 evaluations by default."""

    def objective(offsets: Sequence[float]) -> float:
        return -_maxdiff_profit(close, high_pred, low_pred, high, low,
                                offsets[0], offsets[1], close_at_eod)

    x, fun, nfev = _fit(objective, [OFFSET_BOUNDS, OFFSET_BOUNDS], maxiter, popsize)
    return {"high_offset": float(x[0]), "low_offset": float(x[1]), "profit": -fun,
            "evaluations": nfev}


def optimize_always_on_multipliers(close: np.ndarray, high_pred: np.ndarray,
                                   low_pred: np.ndarray, high: np.ndarray, low: np.ndarray,
                                   maxiter: int = 30, popsize: int = 8) -> dict[str, float]:
    """Fit offsets for MaxDiffAlwaysOn (always quoting both sides); 30 x 8 = 240 evaluations."""

    def objective(offsets: Sequence[float]) -> float:
        long_leg = _maxdiff_profit(close, high_pred, low_pred, high, low, offsets[0], offsets[1])
        short_leg = _maxdiff_profit(close, -low_pred, -high_pred, -low, -high,
                                    -offsets[1], -offsets[0])
        return -(long_leg + short_leg)

    x, fun, nfev = _fit(objective, [OFFSET_BOUNDS, OFFSET_BOUNDS], maxiter, popsize)
    return {"high_offset": float(x[0]), "low_offset": float(x[1]), "profit": -fun,
            "evaluations": nfev}


def refine_with_differential_evolution(objective: Callable[[Sequence[float]], float],
                                       bounds: list[tuple[float, float]], maxiter: int = 50,
                                       popsize: int = 10) -> tuple[np.ndarray, int]:
    """Differential evolution alone, for callers that want its global search (nit, x)."""
    result = differential_evolution(objective, bounds, maxiter=maxiter, popsize=popsize,
                                    seed=7, polish=False, tol=0)
    return np.asarray(result.x, dtype=float), int(result.nit)
