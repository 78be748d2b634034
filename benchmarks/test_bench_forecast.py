"""Forecast core: the guide's schedule (baseline engine) against the optimized engine.

One symbol, four years of synthetic daily bars (contexts of 950-1,005 points), the guide's
default workload (50 simulations x 4 keys x 7 origins, 128 samples in batches of 32), plus the
guide's lossy recipe (35 simulations, horizon 1, 32 samples in batches of 16) on the baseline.

    python -m pytest benchmarks/test_bench_forecast.py            # small model (CI, < 1 min)
    python -m pytest benchmarks/test_bench_forecast.py -m slow    # base model (a few minutes)

Each row benchmarks one engine. Baseline rows time K calls spread evenly over the schedule and
scale to all calls (its calls cost the same); extra_info["engine_seconds"] is that estimate.
Every baseline row also runs the optimized engine right before and after each of its rounds
and asserts the median ratio: CI floors for `small` set from measurements with a wide margin (the box is
shared), the issue's targets for `base`. Never an absolute time.
"""

from __future__ import annotations

import functools
import resource
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from migrator.forecast.data import pct_change_series, synthetic_ohlc
from migrator.forecast.engine import EngineResult
from migrator.forecast.registry import engine_for
from migrator.forecast.toto.engines import baseline_engine
from migrator.forecast.toto.model import TotoModel, build_model
from migrator.workload import Workload

BASELINE, OPTIMIZED = engine_for("toto", "baseline"), engine_for("toto", "optimized")

DEFAULT = Workload()
LOSSY = Workload(sims=35, horizon=1, samples=32, batch=16)


@dataclass(frozen=True)
class Case:
    model: str
    baseline_calls: int  # K: baseline calls timed, then scaled to the whole schedule
    rounds: int  # rounds of (optimized, slower variant) per comparison
    optimized_repeats: int  # optimized runs per round, the fastest kept (short runs are noisy)
    min_speedup: dict[str, float]  # variant -> the ratio asserted (optimized vs that variant)
    min_forward_share: float  # of the optimized engine's time


CASES = {
    # Medians measured on the shared 2-core box: 5,000-7,400x, 840-1,150x, 140-175x. The floors
    # leave 2.5x for its noise and still catch a lost optimization (forecasting every call
    # instead of each distinct context costs 6x, a pass per batch of samples more).
    # The small model's forward share measured 0.64-0.76 there; 0.35 still fails if grouping,
    # padding or sampling grew to cost as much as the forwards themselves.
    "small": Case("small", 12, 3, 5, {"baseline": 2_000, "baseline+cache": 300, "lossy": 60}, 0.35),
    # The targets.
    "base": Case("base", 2, 4, 1, {"baseline": 1_000, "baseline+cache": 150, "lossy": 30}, 0.8),
}
MODELS = [
    pytest.param("small", id="small"),
    pytest.param("base", id="base", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    return pct_change_series(synthetic_ohlc())


@functools.cache
def model_named(name: str) -> TotoModel:
    return build_model(name, seed=0)


VARIANTS: dict[str, Callable[[TotoModel, dict, int], EngineResult]] = {
    "baseline": lambda model, series, k: BASELINE.run(model, series, DEFAULT, max_calls=k),
    "baseline+cache": lambda model, series, k: baseline_engine(
        model, series, DEFAULT, max_calls=k, cache=True
    ),
    "lossy": lambda model, series, k: BASELINE.run(model, series, LOSSY, max_calls=k),
}


def fastest_optimized(model: TotoModel, series: dict, repeats: int) -> EngineResult:
    runs = [OPTIMIZED.run(model, series, DEFAULT) for _ in range(repeats)]
    return min(runs, key=lambda result: result.seconds)


def record(benchmark, case: Case, result: EngineResult) -> None:
    benchmark.extra_info.update(
        model=case.model,
        engine_seconds=result.seconds,
        extrapolated=result.extrapolated,
        model_calls=result.model_calls,
        forward_passes=result.forward_passes,
        breakdown=result.breakdown,
        torch_threads=torch.get_num_threads(),
    )


@pytest.mark.parametrize("model_name", MODELS)
def test_optimized(benchmark, series: dict, model_name: str) -> None:
    case = CASES[model_name]
    model = model_named(model_name)
    benchmark.group = f"forecast-{model_name}"
    results: list[EngineResult] = []
    benchmark.pedantic(
        lambda: results.append(OPTIMIZED.run(model, series, DEFAULT)),
        rounds=3,
        iterations=1,
    )
    best = min(results, key=lambda r: r.seconds)
    record(benchmark, case, best)
    benchmark.extra_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # One forward per distinct context: simulation s, origin k uses the history minus s + k rows.
    distinct_contexts = len(DEFAULT.keys) * (DEFAULT.sims + DEFAULT.horizon - 1)
    assert best.model_calls == distinct_contexts and len(best.forecasts) == DEFAULT.calls
    assert best.breakdown["forward"] / best.seconds >= case.min_forward_share, best.breakdown


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("model_name", MODELS)
def test_speedup_over(benchmark, series: dict, model_name: str, variant: str) -> None:
    """Rounds of (optimized, the slower variant, optimized again), so both see the same load on
    a shared machine: each round's ratio is against the mean of the optimized runs around it,
    and the asserted speed-up is the median over rounds."""
    if benchmark.disabled:  # --benchmark-disable runs no setup/teardown: no interleaved rounds to compare
        pytest.skip("a speed-up ratio needs the benchmark enabled")
    case = CASES[model_name]
    model = model_named(model_name)
    benchmark.group = f"forecast-{model_name}"
    before: list[EngineResult] = []
    after: list[EngineResult] = []
    slower: list[EngineResult] = []
    benchmark.pedantic(
        lambda: slower.append(VARIANTS[variant](model, series, case.baseline_calls)),
        setup=lambda: before.append(fastest_optimized(model, series, case.optimized_repeats)),
        teardown=lambda: after.append(fastest_optimized(model, series, case.optimized_repeats)),
        rounds=case.rounds,
        iterations=1,
    )
    optimized = [(b.seconds + a.seconds) / 2 for b, a in zip(before, after, strict=True)]
    ratios = [s.seconds / o for s, o in zip(slower, optimized, strict=True)]
    speedup = float(np.median(ratios))
    typical = sorted(slower, key=lambda result: result.seconds)[len(slower) // 2]
    record(benchmark, case, typical)
    benchmark.extra_info.update(
        baseline_calls_timed=min(case.baseline_calls, typical.model_calls),
        optimized_seconds=float(np.median(optimized)),
        speedup=speedup,
        speedups=ratios,
    )
    assert typical.extrapolated == (case.baseline_calls < typical.model_calls)
    assert speedup >= case.min_speedup[variant], (
        f"optimized is {speedup:.0f}x faster than {variant} (rounds: {ratios}); "
        f"floor {case.min_speedup[variant]}x"
    )
