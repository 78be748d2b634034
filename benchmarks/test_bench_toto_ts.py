"""The exact forecaster against Datadog's toto-ts on the backtest's own call pattern.

One symbol's seed workload: 50 simulations x 4 keys x 7 walk-forward origins = 1,400 calls,
128 samples in batches of 32, prediction_length 1, contexts of 943-999 points (224 distinct).
Three ways to serve it, measured side by side in one run:
- toto-ts: its own TotoForecaster per call, timed on K calls spread evenly over the schedule
  (half of them before, half after the exact run, so load drift hits both) and scaled to 1,400;
- toto-ts + context cache (upstream's disk cache: identical contexts computed once): the same
  per-call time scaled to the 224 distinct contexts;
- exact: ExactTotoForecaster called 1,400 times, one call at a time, in the backtest's order.

    python -m pytest benchmarks/test_bench_toto_ts.py             # small config (CI), K = 2
    python -m pytest benchmarks/test_bench_toto_ts.py -m slow     # Toto-Open-Base-1.0 shape, K = 4

Assertions are ratios only: the CI floor on the small config has a wide margin (the box is
shared), the base shape a floor under its measured ratios and > 80% of the time in forwards.
extra_info carries every number, including unavoidable_forward_share: the forward time scaled by
(distinct contexts / rows forwarded), i.e. without the speculative rows never used.
"""

from __future__ import annotations

import resource

import pytest

try:  # the pinned toto-ts is part of the test install: without it these tests fail, never skip
    import toto.inference.forecaster  # noqa: F401
except ImportError as error:
    raise ImportError("toto-ts is missing: pip install --no-deps -r requirements/toto-ts.txt") from error

import torch  # noqa: E402
from toto.inference.forecaster import TotoForecaster  # noqa: E402

from migrator.runtime.bench import (  # noqa: E402
    BASE_CONFIG,
    SMALL_CONFIG,
    Workload,
    backtest_contexts,
    distinct_contexts,
    random_backbone,
    run_exact,
    time_toto_ts_calls,
    workload_series,
)
from migrator.runtime.exact_toto import exact_forecaster_class  # noqa: E402

SHAPES = {
    # name: (config, K baseline calls, floor vs toto-ts, floor vs toto-ts + context cache).
    # Floors are regression guards set with a wide margin under the ratios measured on the shared
    # 2-core box (small: 778x / 124x; base: 409x / 65x at load average 5-7); the targets
    # for base (1,000x / 150x) are reported in extra_info, not met there (see README).
    "small": (SMALL_CONFIG, 2, 100.0, 15.0),
    "base": (BASE_CONFIG, 4, 200.0, 30.0),
}


@pytest.mark.parametrize("shape", ["small", pytest.param("base", marks=pytest.mark.slow)])
def test_bench_exact_vs_toto_ts(benchmark, shape):
    if benchmark.disabled:  # --benchmark-disable records no time to take ratios of
        pytest.skip("a speed-up ratio needs the benchmark enabled")
    config, k, floor_toto_ts, floor_cache = SHAPES[shape]
    model = random_backbone(config, seed=0)
    workload = Workload()
    contexts = list(backtest_contexts(workload_series(workload), workload))
    distinct = len(distinct_contexts(contexts))
    forecaster_cls = exact_forecaster_class(TotoForecaster)
    toto_ts = TotoForecaster(model)

    half = max(1, k // 2)
    before = time_toto_ts_calls(toto_ts, contexts[: len(contexts) // 2], workload, half)
    runs = []

    def exact_run():
        forecaster = forecaster_cls(model)  # a fresh memo every round
        run_exact(forecaster, contexts, workload)
        runs.append(forecaster)

    benchmark.pedantic(exact_run, rounds=1, iterations=1)
    after = time_toto_ts_calls(toto_ts, contexts[len(contexts) // 2 :], workload, k - half)
    per_call = (before * half + after * (k - half)) / k

    exact_seconds = benchmark.stats.stats.median
    stats = runs[-1].exact_stats
    toto_ts_seconds = per_call * len(contexts)
    cache_seconds = per_call * distinct
    vs_toto_ts, vs_cache = toto_ts_seconds / exact_seconds, cache_seconds / exact_seconds
    unavoidable_share = stats.forward_seconds / exact_seconds * (distinct / stats.rows_forwarded)
    benchmark.extra_info.update(
        calls=len(contexts),
        distinct_contexts=distinct,
        baseline_calls_timed=k,
        toto_ts_seconds=round(toto_ts_seconds, 2),
        context_cache_seconds=round(cache_seconds, 2),
        exact_seconds=round(exact_seconds, 3),
        ratio_vs_toto_ts=round(vs_toto_ts, 1),
        ratio_vs_context_cache=round(vs_cache, 1),
        forwards=stats.forwards,
        rows_forwarded=stats.rows_forwarded,
        speculative_rows_unused=stats.wasted_rows,
        forward_share=round(stats.forward_seconds / exact_seconds, 3),
        unavoidable_forward_share=round(unavoidable_share, 3),
        memo_mib=round(runs[-1].memo_bytes() / 2**20, 2),
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    print(f"\n{shape}: {benchmark.extra_info}")

    # Every distinct context is forwarded exactly once; speculation wastes at most W-1 rows per key.
    assert stats.calls == len(contexts) and stats.fallback_calls == 0
    assert stats.rows_forwarded - stats.wasted_rows == distinct
    assert stats.wasted_rows <= len(workload.keys) * (runs[-1].exact_window - 1)
    assert stats.forwards < distinct / 4  # batched: far fewer forwards than contexts
    assert vs_toto_ts >= floor_toto_ts, benchmark.extra_info
    assert vs_cache >= floor_cache, benchmark.extra_info
    if shape == "base":
        assert stats.forward_seconds / exact_seconds > 0.8, benchmark.extra_info
