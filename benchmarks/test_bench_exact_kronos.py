"""The exact Kronos drop-in against the real KronosPredictor.predict (kronos-finance 0.1.5's
vendored Kronos), one call as the backtest makes it: pred_len 7, lookback = max_context, one
thread, the same frame, models and seed, side by side in one run.

    python -m pytest benchmarks/test_bench_exact_kronos.py              # CI: mini, 32 paths, context 64
    python -m pytest benchmarks/test_bench_exact_kronos.py -m slow -s   # the issue's two shapes

CI times the real call whole, before and after the exact rounds (load drift hits both), and
asserts only a ratio with a wide margin under the measured one. The slow shapes time the real
call on its first step plus one step timed alone, scaled to 7 (a whole call is 10-20 minutes
here): Kronos-small, 320 paths, context 512 (target 80x) and Kronos-base, 160 paths, context
232, the backtest's shape (target 50x). Never an absolute time.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from kronos_finance._vendor.kronos_model import kronos as K
from migrator.runtime.exact_kronos import exact_predictor_class
from migrator.runtime.kronos_bench import KronosCallShape, daily_frame, random_kronos, time_predict
from migrator.forecast.kronos.real_profile import profile_kronos

CI_SHAPE = KronosCallShape(model="mini", samples=32, context=64)
# Measured on the shared 2-core box (one thread, loaded): 6-9x for this shape, whose exact call
# is bound by per-operation overhead; every path computing the shared window brings it to ~1x.
CI_FLOOR = 3.0
SLOW = {
    "small-320-512": (KronosCallShape(model="small", samples=320, context=512), 80.0),
    "base-160-232": (KronosCallShape(model="base", samples=160, context=232), 50.0),
}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside Kronos's calc_time_stamps
        yield
    torch.set_num_threads(previous)


def test_bench_exact_kronos_vs_real_predict(benchmark):
    if benchmark.disabled:  # --benchmark-disable records no time to take ratios of
        pytest.skip("a speed-up ratio needs the benchmark enabled")
    shape = CI_SHAPE
    model, tokenizer = random_kronos(K, shape.model, seed=0, random_biases=True)
    real = K.KronosPredictor(model, tokenizer, device="cpu", max_context=shape.context)
    exact = exact_predictor_class(K.KronosPredictor)(model, tokenizer, device="cpu", max_context=shape.context)
    frame, x_ts, y_ts = daily_frame(shape.context, shape.pred_len, seed=0)

    before, _ = time_predict(real, frame, x_ts, y_ts, shape)
    benchmark.pedantic(lambda: time_predict(exact, frame, x_ts, y_ts, shape), rounds=3, iterations=1,
                       warmup_rounds=1)
    after, _ = time_predict(real, frame, x_ts, y_ts, shape)
    real_seconds = (before + after) / 2
    ratio = real_seconds / benchmark.stats.stats.median
    benchmark.extra_info.update(real_seconds=round(real_seconds, 3), ratio=round(ratio, 1),
                                fallback_calls=exact.exact_stats.fallback_calls)
    print(f"\n{shape}: {benchmark.extra_info}")
    assert exact.exact_stats.fallback_calls == 0
    assert ratio >= CI_FLOOR, benchmark.extra_info


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_bench_exact_kronos_at_the_issue_shapes(name):
    shape, target = SLOW[name]
    profile = profile_kronos(K, shape, baseline_steps=1, rounds=3, progress=print)
    print(f"\n{name}: {profile.to_json()}")
    assert profile.speedup >= target, profile.to_json()
