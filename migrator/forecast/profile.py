"""One symbol's backtest per engine, timed the way the speed-up guide's table splits it.

For each engine the backtest is: data processing (percent-change series from the bars,
and each simulation's validation bars), forecasting (the engine: every (simulation, key,
origin) forecast), MaxDiff optimisation (one offset fit per simulation on its `horizon`
validation days) and other (whatever the wall clock saw beyond those three). Loading the
bars and building the model happen once, before the engines, and are reported as setup.
With a prediction_length above 1 MaxDiff still pairs each forecast with the bar right after
its context (the backtest's pairing, for prediction_length 1): the fit costs the same.

The equivalence of the optimized engine's forecast distribution with the baseline's is
checked in the same run on a sample of (key, origin) pairs. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from migrator.errors import BadInputError
from migrator.forecast.data import OHLCFrame, load_csv, pct_change_series, synthetic_ohlc
from migrator.forecast.engines import EngineResult, Forecast, Workload, baseline_engine, optimized_engine
from migrator.forecast.equivalence import check_equivalence
from migrator.forecast.maxdiff import ValidationDays, evaluation_budget, fit_offsets
from migrator.forecast.model import MODEL_CONFIGS, build_model

ENGINES: tuple[str, ...] = ("baseline", "optimized")
SECTIONS: tuple[str, ...] = ("forecasting", "maxdiff", "data_processing", "other")
# The earliest forecast still sees at least one full patch of history.
MIN_CONTEXT = 64


@dataclasses.dataclass(frozen=True)
class EngineProfile:
    """One engine's backtest of the symbol."""

    result: EngineResult
    sections: dict[str, float]  # seconds per SECTIONS entry
    timed_calls: int  # model calls actually run (fewer than result.model_calls if extrapolated)
    maxdiff_fits: int
    maxdiff_evaluations: int
    # Simulations whose High/Low forecasts the (extrapolated) engine did not produce: their
    # MaxDiff fit runs on a no-change prediction, which costs the same.
    maxdiff_unforecast_sims: int

    @property
    def total_seconds(self) -> float:
        return sum(self.sections.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.result.seconds,
            "model_calls": self.result.model_calls,
            "forward_passes": self.result.forward_passes,
            "extrapolated": self.result.extrapolated,
            "timed_calls": self.timed_calls,
            "breakdown": dict(self.result.breakdown),
            "notes": list(self.result.notes),
            "sections": dict(self.sections),
            "total_seconds": self.total_seconds,
            "maxdiff": {
                "fits": self.maxdiff_fits,
                "evaluations": self.maxdiff_evaluations,
                "unforecast_sims": self.maxdiff_unforecast_sims,
            },
        }


@dataclasses.dataclass(frozen=True)
class ProfileResult:
    workload: Workload
    model: str
    checkpoint: Path | None  # None: seeded random weights
    parameters: int
    data_source: str
    context_lengths: tuple[int, int]  # (shortest, longest) context of the workload
    seed: int
    maxdiff_budget: int
    setup_seconds: dict[str, float]  # "data" (load or generate bars), "model" (build)
    engines: dict[str, EngineProfile]
    equivalence: dict[str, Any]
    equivalence_pairs: int  # (key, origin) pairs checked
    equivalence_seconds: float
    peak_rss_mib: float

    @property
    def speedup(self) -> float | None:
        """Baseline forecasting seconds / optimized forecasting seconds (None unless both ran)."""
        if set(ENGINES) <= set(self.engines):
            return self.engines["baseline"].result.seconds / self.engines["optimized"].result.seconds
        return None

    @property
    def total_speedup(self) -> float | None:
        """The same ratio for the whole backtest (all four sections)."""
        if set(ENGINES) <= set(self.engines):
            return self.engines["baseline"].total_seconds / self.engines["optimized"].total_seconds
        return None

    def to_json(self) -> dict[str, Any]:
        w = self.workload
        return {
            "workload": {
                "sims": w.sims,
                "keys": list(w.keys),
                "horizon": w.horizon,
                "samples": w.samples,
                "batch": w.batch,
                "prediction_length": w.prediction_length,
                "aggregate": w.aggregate,
                "model": self.model,
                "parameters": self.parameters,
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
                "context_length": self.context_lengths[1],
                "context_length_min": self.context_lengths[0],
                "data": self.data_source,
                "seed": self.seed,
                "maxdiff_budget": self.maxdiff_budget,
            },
            "setup_seconds": dict(self.setup_seconds),
            "engines": {name: profile.to_json() for name, profile in self.engines.items()},
            "speedup": self.speedup,
            "total_speedup": self.total_speedup,
            "equivalence": {**self.equivalence, "seconds": self.equivalence_seconds},
            "peak_rss_mib": self.peak_rss_mib,
        }


def run_profile(
    workload: Workload,
    *,
    engines: Sequence[str] = ENGINES,
    model: str = "small",
    checkpoint: Path | None = None,
    data: Path | None = None,
    seed: int = 0,
    baseline_calls: int | None = 8,
    equivalence_pairs: int = 8,
) -> ProfileResult:
    """Backtest one symbol with each engine in `engines`; bars from `data` (CSV) or synthetic.

    `baseline_calls`: time the baseline on its first K calls and scale to all of them
    (None: run every call). Errors in the inputs raise BadInputError before any model work.
    """
    _validate(workload, engines, model, baseline_calls, equivalence_pairs)
    started = time.perf_counter()
    frame = synthetic_ohlc(seed=seed) if data is None else load_csv(data)
    frame.require_rows(workload.sims + workload.horizon + 1 + MIN_CONTEXT,
                       f"the workload ({workload.sims} simulations, horizon {workload.horizon}, "
                       f"{MIN_CONTEXT} points of context for the earliest forecast)")
    shortest, longest = context_lengths(len(frame), workload)
    loaded = time.perf_counter()
    network = build_model(model, seed=seed, checkpoint=checkpoint)
    built = time.perf_counter()

    profiles = {}
    for name in engines:
        profiles[name] = _backtest(name, network, frame, workload, seed, baseline_calls)
    equivalence_started = time.perf_counter()
    equivalence = check_equivalence(network, pct_change_series(frame), workload, pairs=equivalence_pairs, seed=seed)
    equivalence_seconds = time.perf_counter() - equivalence_started
    return ProfileResult(
        workload=workload,
        model=model,
        checkpoint=checkpoint,
        parameters=sum(p.numel() for p in network.parameters()),
        data_source=frame.source,
        context_lengths=(shortest, longest),
        seed=seed,
        maxdiff_budget=evaluation_budget(),
        setup_seconds={"data": loaded - started, "model": built - loaded},
        engines=profiles,
        equivalence=dict(equivalence),
        equivalence_pairs=min(equivalence_pairs, len(workload.keys) * (workload.sims + workload.horizon - 1)),
        equivalence_seconds=equivalence_seconds,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def context_lengths(rows: int, workload: Workload) -> tuple[int, int]:
    """(shortest, longest) context over the schedule for `rows` bars.

    The series has rows - 1 changes; simulation s drops its last s + 1 bars, and origin
    p = 1..horizon forecasts its series' p-th value from the end from everything before it.
    """
    changes = rows - 1
    return changes - workload.sims - workload.horizon, changes - 2


def validation_row(rows: int, sim: int, origin: int) -> int:
    """The bar a (simulation, origin) forecast predicts; origin counts 1..horizon back from the end."""
    return rows - sim - 1 - origin


def _backtest(name: str, network: Any, frame: OHLCFrame, workload: Workload, seed: int,
              baseline_calls: int | None) -> EngineProfile:
    started = time.perf_counter()
    series = pct_change_series(frame)
    data_processing = time.perf_counter() - started

    if name == "baseline":
        result = baseline_engine(network, series, workload, seed=seed, max_calls=baseline_calls)
    else:
        result = optimized_engine(network, series, workload, seed=seed)
    engine_finished = time.perf_counter()
    timed_calls = _timed_calls(result, baseline_calls)

    days, unforecast = validation_days(frame, result.forecasts, workload)
    fitting = time.perf_counter()
    evaluations = sum(fit_offsets(simulation).evaluations for simulation in days)
    finished = time.perf_counter()
    data_processing += fitting - engine_finished
    maxdiff = finished - fitting

    # The engine's own clock covers what it reports; the rest of its wall time (building the
    # schedule, collecting results) is "other". An extrapolated engine's clock ran for
    # timed_calls / model_calls of its reported seconds.
    engine_clocked = result.seconds * timed_calls / result.model_calls
    return EngineProfile(
        result=result,
        sections={
            "forecasting": result.seconds,
            "maxdiff": maxdiff,
            "data_processing": data_processing,
            "other": max(0.0, finished - started - engine_clocked - maxdiff - data_processing),
        },
        timed_calls=timed_calls,
        maxdiff_fits=len(days),
        maxdiff_evaluations=evaluations,
        maxdiff_unforecast_sims=unforecast,
    )


def validation_days(frame: OHLCFrame, forecasts: dict[tuple[int, str, int], Forecast],
                    workload: Workload) -> tuple[list[ValidationDays], int]:
    """Each simulation's MaxDiff inputs: its `horizon` forecast bars (oldest first) with the
    High/Low point forecasts for them, and how many simulations lacked some of those forecasts
    (an extrapolated engine's): their missing predictions are 0.0, a no-change prediction."""
    origins = range(workload.horizon, 0, -1)  # oldest bar first
    simulations, unforecast = [], 0
    for sim in range(workload.sims):
        today = np.array([validation_row(len(frame), sim, origin) for origin in origins])
        yesterday = today - 1
        predicted = {key: [forecasts.get((sim, key, origin)) for origin in origins] for key in ("High", "Low")}
        if any(f is None for values in predicted.values() for f in values):
            unforecast += 1
        points = {key: np.array([0.0 if f is None else f.point for f in values]) for key, values in predicted.items()}
        simulations.append(ValidationDays(
            prev_high=frame.high[yesterday], prev_low=frame.low[yesterday],
            open=frame.open[today], high=frame.high[today], low=frame.low[today], close=frame.close[today],
            pred_high=points["High"], pred_low=points["Low"],
        ))
    return simulations, unforecast


def _timed_calls(result: EngineResult, baseline_calls: int | None) -> int:
    if result.extrapolated and baseline_calls is not None:
        return min(baseline_calls, result.model_calls)
    return result.model_calls


def _validate(workload: Workload, engines: Sequence[str], model: str, baseline_calls: int | None,
              equivalence_pairs: int) -> None:
    # Workload itself rejects non-positive sizes, samples not a multiple of batch and unknown aggregates.
    missing_keys = {"High", "Low"} - set(workload.keys)
    if missing_keys:
        raise BadInputError(f"MaxDiff needs the High and Low keys; the workload lacks {', '.join(sorted(missing_keys))}")
    unknown = [name for name in engines if name not in ENGINES]
    if unknown or not engines:
        raise BadInputError(f"unknown engine {', '.join(unknown) or '(none)'}; choose from {', '.join(ENGINES)}")
    if model not in MODEL_CONFIGS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODEL_CONFIGS)}")
    if baseline_calls is not None and baseline_calls < 1:
        raise BadInputError(f"--baseline-calls must be at least 1 (or all), got {baseline_calls}")
    if equivalence_pairs < 1:
        raise BadInputError(f"equivalence needs at least 1 (key, origin) pair, got {equivalence_pairs}")


SECTION_LABELS = {
    "forecasting": "Forecasting",
    "maxdiff": "MaxDiff optimization",
    "data_processing": "Data processing",
    "other": "Other",
}
BREAKDOWN_LABELS = {
    "forward": "forward",
    "sampling": "sampling",
    "aggregation": "aggregation",
    "grouping_padding": "grouping/padding",
    "overhead": "Python overhead",
}


def render_text(profile: ProfileResult) -> str:
    """The guide's table per engine, then the speed-up and the equivalence line."""
    w = profile.workload
    weights = "seeded random weights" if profile.checkpoint is None else f"weights from {profile.checkpoint}"
    lines = [
        f"Profile of one symbol: {profile.data_source}; model {profile.model} "
        f"({profile.parameters:,} parameters, {weights})",
        f"Workload: {w.sims} simulations x {len(w.keys)} keys x {w.horizon} origins = "
        f"{w.sims * len(w.keys) * w.horizon:,} forecasts; {w.samples} samples in batches of {w.batch}; "
        f"aggregate {w.aggregate}; contexts of {profile.context_lengths[0]:,} to {profile.context_lengths[1]:,} points",
    ]
    if w.prediction_length != 1:
        lines.append(f"Prediction length {w.prediction_length}: each forecast aggregates the samples of the "
                     f"step {w.prediction_length} ahead of its context")
    for name, engine in profile.engines.items():
        result = engine.result
        lines += ["", f"{name.capitalize()} engine: {_count(result.model_calls, 'model call')}, "
                      f"{_count(result.forward_passes, 'forward pass', 'forward passes')}"]
        if result.extrapolated:
            lines.append(f"  timed on {engine.timed_calls:,} of its {result.model_calls:,} calls and scaled to all "
                         "(its calls cost the same: each runs the same passes on a context of similar length)")
        lines += [f"  {note}" for note in result.notes]
        lines += _table(engine)
        breakdown_total = sum(result.breakdown.values())
        if breakdown_total > 0:
            parts = [f"{BREAKDOWN_LABELS.get(part, part)} {100 * seconds / breakdown_total:.1f}%"
                     for part, seconds in result.breakdown.items()]
            lines.append(f"  Inside forecasting: {', '.join(parts)}")
        budget_note = "MARKETSIM_FAST_OPTIMIZE" if profile.maxdiff_budget < 500 else "full budget"
        lines.append(f"  MaxDiff: {engine.maxdiff_fits} fits (one per simulation), {engine.maxdiff_evaluations:,} "
                     f"objective evaluations (budget {profile.maxdiff_budget} each: {budget_note})")
        if engine.maxdiff_unforecast_sims:
            lines.append(f"  MaxDiff for the {engine.maxdiff_unforecast_sims} simulations the timed calls did not "
                         "forecast ran on a no-change prediction (same cost)")
    lines.append("")
    if profile.speedup is not None:
        base, fast = profile.engines["baseline"], profile.engines["optimized"]
        scaled = f", extrapolated from {base.timed_calls:,} calls" if base.result.extrapolated else ""
        lines.append(f"Speed-up in forecasting: {profile.speedup:,.0f}x (baseline {_seconds(base.result.seconds)}"
                     f"{scaled}; optimized {_seconds(fast.result.seconds)}); "
                     f"whole backtest: {profile.total_speedup:,.0f}x")
    eq = profile.equivalence
    params = ("n/a: both engines decode autoregressively" if eq["max_param_rel_diff"] is None
              else f"{eq['max_param_rel_diff']:.1e}")
    lines.append(f"Equivalence on {profile.equivalence_pairs} (key, origin) pairs: same distribution: "
                 f"{'yes' if eq['same_distribution'] else 'NO'} (max parameter relative difference "
                 f"{params}, smallest KS p-value {eq['ks_min_pvalue']:.3f})")
    return "\n".join(lines)


def _table(engine: EngineProfile) -> list[str]:
    total = engine.total_seconds
    rows = [(SECTION_LABELS[name], engine.sections[name]) for name in SECTIONS]
    lines = ["  | Component            |       Time | % of total |",
             "  |----------------------|------------|------------|"]
    for label, seconds in rows:
        share = 100 * seconds / total if total > 0 else 0.0
        lines.append(f"  | {label:<20} | {_seconds(seconds):>10} | {share:>9.1f}% |")
    lines.append(f"  | {'Total':<20} | {_seconds(total):>10} | {100.0 if total > 0 else 0.0:>9.1f}% |")
    return lines


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value:.4f} s"
