"""One symbol's forecast workload, shared by forecast/ (the bundled engines, `migrate profile`)
and runtime/ (the toto-ts comparison that runs inside the user's process).

Pure Python on purpose: runtime/ imports it, and it must add neither torch nor numpy there.

The backtest's schedule: simulation s uses the history minus its last s + 1 rows; for each key
and each walk-forward origin in reversed(range(1, horizon + 1)) one call forecasts from the
series up to that origin, drawing `samples` values in batches of `batch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrator.errors import BadInputError

KEYS: tuple[str, ...] = ("Close", "Low", "High", "Open")

_SPEC = re.compile(r"(?P<kind>trimmed_mean|quantile)_(?P<value>\d+(?:\.\d*)?|\.\d+)")
_SPEC_HELP = "mean, median, trimmed_mean_X or quantile_X (X > 1 is a percent, X <= 1 a fraction)"


def parse_aggregate(spec: str) -> tuple[str, float | None]:
    """(kind, fraction) of an aggregate spec: ("mean", None), ("median", None),
    ("trimmed_mean", f) or ("quantile", f); BadInputError for anything else (see
    forecast/aggregates.py for what each means)."""
    if spec in ("mean", "median"):
        return spec, None
    match = _SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise BadInputError(f"unknown aggregate {spec!r}; expected {_SPEC_HELP}")
    number = float(match["value"])
    fraction = number / 100.0 if number > 1 else number
    if match["kind"] == "trimmed_mean":
        if not 0.0 <= fraction < 0.5:
            raise BadInputError(
                f"aggregate {spec!r} drops {fraction:.0%} from each end, nothing would be left; "
                "X > 1 is a percent and X <= 1 a fraction (1% is trimmed_mean_0.01)"
            )
        return "trimmed_mean", fraction
    if not 0.0 <= fraction <= 1.0 or fraction != fraction:
        raise BadInputError(f"aggregate {spec!r} is not a quantile between 0 and 100%")
    return "quantile", fraction


@dataclass(frozen=True)
class Workload:
    sims: int = 50
    horizon: int = 7  # walk-forward origins per (simulation, key)
    samples: int = 128  # num_samples per call
    batch: int = 32  # samples_per_batch
    aggregate: str = "mean"
    keys: tuple[str, ...] = KEYS
    # Steps each call forecasts after its context, as Toto's forecaster does; the call's
    # forecast is the aggregate of the samples of the last one (prediction_length steps ahead).
    prediction_length: int = 1
    # The synthetic series' length when no bars are given (runtime.bench): simulation 0's last
    # origin; earlier ones are shorter.
    longest_context: int = 1000

    def __post_init__(self) -> None:
        for name in ("sims", "horizon", "samples", "batch", "prediction_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                option = name.replace("_", "-")
                raise BadInputError(f"--{option} must be a positive integer, got {value!r}")
        if self.samples % self.batch:
            raise BadInputError(
                f"--samples {self.samples} is not a multiple of --batch {self.batch} "
                "(Toto requires num_samples % samples_per_batch == 0)"
            )
        if not self.keys:
            raise BadInputError("the workload needs at least one key")
        parse_aggregate(self.aggregate)  # unknown spec: BadInputError now, not mid-run

    @property
    def calls(self) -> int:
        return self.sims * len(self.keys) * self.horizon


def evenly_spaced(count: int, chosen: int | None) -> list[int]:
    """`chosen` indices of range(count) spread evenly, first and last included (None or at
    least count: all of them). The same picks as numpy's linspace(0, count - 1, chosen) rounded
    half to even, computed the way linspace does (i * step, the last one exact)."""
    if chosen is None or chosen >= count:
        return list(range(count))
    if chosen < 1:
        raise BadInputError(f"--baseline-calls must be at least 1, got {chosen}")
    if chosen == 1:
        return [0]
    step = (count - 1) / (chosen - 1)
    return sorted({round(i * step) for i in range(chosen - 1)} | {count - 1})
