"""Reducing forecast samples to a point forecast and a band, as the backtest does.

Specs (the hyperparams `aggregate` value):
- "mean", "median";
- "trimmed_mean_X": sort, drop X% of the samples from each end (floor(n * X / 100) of them),
  average the rest (scipy.stats.trim_mean);
- "quantile_X": the X% quantile (numpy's default linear interpolation).

X > 1 is a percent (trimmed_mean_5 drops 5%); X <= 1 is a fraction (trimmed_mean_0.05 is the
same as trimmed_mean_5, quantile_0.5 is the median). So trimmed_mean_1 means a fraction of 1,
which is refused: write trimmed_mean_0.01 for 1%. The band is the 40%-60% quantile range.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import stats

from migrator.workload import parse_aggregate

BAND_QUANTILES = (0.4, 0.6)


def parse_spec(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    """The reducer for a spec: maps samples [..., n] to [...]. Unknown spec -> BadInputError."""
    kind, fraction = parse_aggregate(spec)
    if kind == "mean":
        return partial(np.mean, axis=-1)
    if kind == "median":
        return partial(np.median, axis=-1)
    if kind == "trimmed_mean":
        return partial(stats.trim_mean, proportiontocut=fraction, axis=-1)
    return partial(np.quantile, q=fraction, axis=-1)


def aggregate(samples: np.ndarray, spec: str) -> float | np.ndarray:
    """Reduce samples along the last axis: a float for 1-D input, else an array."""
    reduced = parse_spec(spec)(np.asarray(samples, dtype=np.float64))
    return float(reduced) if np.ndim(reduced) == 0 else reduced


def quantile_band(samples: np.ndarray) -> tuple[float | np.ndarray, float | np.ndarray]:
    """The (40%, 60%) quantiles along the last axis."""
    low, high = np.quantile(np.asarray(samples, dtype=np.float64), BAND_QUANTILES, axis=-1)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high
