"""Kronos's procedure against the exact optimized engine: logits, tokens, distributions, schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from migrator.errors import BadInputError
from migrator.forecast.data import synthetic_ohlc
from migrator.forecast.equivalence import LOGIT_TOLERANCE
from migrator.forecast.kronos.equivalence import check_kronos_equivalence
from migrator.forecast.kronos.model import KronosModel, build_kronos
from migrator.forecast.kronos.engines import (CallTrace, KronosWorkload, baseline_call, kronos_baseline_engine,
                                              kronos_optimized_engine, kronos_schedule, optimized_call, optimized_calls,
                                              prepare_input)

WORKLOAD = KronosWorkload(sims=3, pred_len=5, samples=12, context=40, top_p=0.9)


@pytest.fixture(scope="module")
def model() -> KronosModel:
    return build_kronos("tiny", seed=3)


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlc(days=90, seed=5)


def rel_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours.double() - theirs.double()).abs().max() / theirs.double().abs().max()).item()


@pytest.mark.parametrize("workload", [WORKLOAD, KronosWorkload(sims=3, pred_len=7, samples=9, context=24, top_k=20,
                                                                temperature=0.5)])
def test_same_draws_same_tokens_and_logits(model: KronosModel, frame, workload: KronosWorkload) -> None:
    inputs = prepare_input(frame, len(frame) - 1, workload)
    uniforms = torch.rand(workload.pred_len, 2, workload.samples, generator=torch.Generator().manual_seed(7))
    baseline, optimized = CallTrace(), CallTrace()
    with torch.inference_mode():
        expected = baseline_call(model, inputs, workload, uniforms=uniforms, trace=baseline)
        got = optimized_call(model, inputs, workload, uniforms=uniforms, trace=optimized)
    assert len(optimized.s1) == len(optimized.s2) == workload.pred_len
    for which in ("s1", "s2"):
        for step, (ours, theirs) in enumerate(zip(getattr(optimized, which), getattr(baseline, which))):
            assert torch.equal(ours, theirs), (which, step)
        for ours, theirs in zip(getattr(optimized, f"{which}_logits"), getattr(baseline, f"{which}_logits")):
            assert ours.shape == theirs.shape == (workload.samples, 1024)
            assert rel_diff(ours, theirs) <= LOGIT_TOLERANCE
    # The paths differ from each other (sampling happened), and the mean paths agree.
    assert len({tuple(t.tolist()) for t in torch.stack(baseline.s1, 1)}) > 1
    assert got.shape == (1, workload.pred_len, 6)
    assert torch.allclose(got[0], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_copies_are_independent_calls_in_one_batch(model: KronosModel, frame) -> None:
    inputs = prepare_input(frame, len(frame) - 2, WORKLOAD)
    uniforms = torch.rand(WORKLOAD.pred_len, 2, 3 * WORKLOAD.samples, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        batched = optimized_call(model, inputs, WORKLOAD, copies=3, uniforms=uniforms)
        for copy in range(3):
            alone = baseline_call(model, inputs, WORKLOAD,
                                  uniforms=uniforms[..., copy * WORKLOAD.samples:(copy + 1) * WORKLOAD.samples])
            assert torch.allclose(batched[copy], alone, rtol=1e-4, atol=1e-4 * float(alone.abs().max()))
    assert not torch.allclose(batched[0], batched[1])


def test_several_windows_in_one_batch_are_their_own_calls(model: KronosModel, frame) -> None:
    windows = [prepare_input(frame, end, WORKLOAD) for end in (89, 80, 71)]
    per_call = 2 * WORKLOAD.samples
    uniforms = torch.rand(WORKLOAD.pred_len, 2, 3 * per_call, generator=torch.Generator().manual_seed(2))
    trace = CallTrace()
    with torch.inference_mode():
        batched = optimized_calls(model, windows, WORKLOAD, copies=2, uniforms=uniforms, trace=trace)
        assert batched.shape == (3, 2, WORKLOAD.pred_len, 6)
        for index, window in enumerate(windows):
            for copy in range(2):
                first = index * per_call + copy * WORKLOAD.samples
                alone = CallTrace()
                expected = baseline_call(model, window, WORKLOAD, trace=alone,
                                         uniforms=uniforms[..., first:first + WORKLOAD.samples])
                assert torch.allclose(batched[index, copy], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
                for step in range(WORKLOAD.pred_len):
                    assert torch.equal(trace.s1[step][first:first + WORKLOAD.samples], alone.s1[step])
                    assert rel_diff(trace.s2_logits[step][first:first + WORKLOAD.samples],
                                    alone.s2_logits[step]) <= LOGIT_TOLERANCE


def test_pooled_paths_pass_ks_and_a_different_temperature_fails(model: KronosModel, frame) -> None:
    inputs = prepare_input(frame, len(frame) - 1, WORKLOAD)
    cold = KronosWorkload(**{**WORKLOAD.__dict__, "temperature": 0.2})
    traces = {name: CallTrace() for name in ("baseline", "optimized", "cold")}
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        baseline_call(model, inputs, KronosWorkload(**{**WORKLOAD.__dict__, "samples": 96}), trace=traces["baseline"])
        optimized_call(model, inputs, WORKLOAD, copies=8, trace=traces["optimized"])
        optimized_call(model, inputs, cold, copies=8, trace=traces["cold"])
    close = {name: trace.paths[..., 3].flatten().numpy() for name, trace in traces.items()}
    assert ks_2samp(close["baseline"], close["optimized"]).pvalue >= 0.01
    assert ks_2samp(close["baseline"], close["cold"]).pvalue < 0.01  # the test can tell distributions apart


def test_equivalence_report(model: KronosModel, frame) -> None:
    report = check_kronos_equivalence(model, frame, WORKLOAD, pairs=2, seed=4)
    assert report["same_distribution"] is True and report["same_tokens"] is True
    assert 0 < report["max_logit_rel_diff"] <= LOGIT_TOLERANCE
    assert report["pvalue"] >= 0.01 and report["calls"] == [0, 2]
    with pytest.raises(BadInputError, match="at least 1 call"):
        check_kronos_equivalence(model, frame, WORKLOAD, pairs=0)


def test_engines_over_the_schedule(model: KronosModel, frame) -> None:
    workload = KronosWorkload(**{**WORKLOAD.__dict__, "all_keys": True})
    calls = kronos_schedule(frame, workload)
    assert [(c.sim, c.end) for c in calls] == [(0, 89), (1, 88), (2, 87)]
    fast = kronos_optimized_engine(model, frame, workload, seed=2)
    again = kronos_optimized_engine(model, frame, workload, seed=2)
    other = kronos_optimized_engine(model, frame, workload, seed=3)
    assert set(fast.forecasts) == {(sim, key) for sim in range(3) for key in ("Close", "Low", "High", "Open")}
    assert fast.model_calls == 12 and fast.forward_passes == 9 and not fast.extrapolated  # one batch
    assert all(np.array_equal(fast.forecasts[k], again.forecasts[k]) for k in fast.forecasts)  # deterministic
    assert not np.array_equal(fast.forecasts[(0, "Close")], other.forecasts[(0, "Close")])
    assert all(v.shape == (5,) and np.all(np.isfinite(v)) for v in fast.forecasts.values())
    assert set(fast.breakdown) == {"tokenizer", "prefill", "decoding", "sampling", "overhead"}
    assert fast.notes == ["simulations per batch: up to 3 (48 paths each)"]
    timed = kronos_optimized_engine(model, frame, workload, seed=2, max_calls=2)
    assert timed.extrapolated and set(timed.forecasts) == {(sim, key) for sim in (0, 2) for key in workload.keys}

    slow = kronos_baseline_engine(model, frame, WORKLOAD, seed=2, max_calls=2)
    assert slow.extrapolated and slow.model_calls == 3 and slow.forward_passes == 3 * 5
    assert set(slow.forecasts) == {(0, "Close"), (2, "Close")}
    assert slow.seconds == pytest.approx(sum(slow.breakdown.values()))
    assert all(np.all(np.isfinite(v)) and v.shape == (5,) for v in slow.forecasts.values())

    stepped = kronos_baseline_engine(model, frame, WORKLOAD, seed=2, max_calls=1, max_steps=2)
    assert stepped.extrapolated and stepped.forecasts == {} and stepped.model_calls == 3
    assert stepped.notes == ["each timed call ran 2 of its 5 steps, scaled (every step runs the same full window)"]
    assert stepped.seconds == pytest.approx(sum(stepped.breakdown.values())) and stepped.breakdown["prefill"] == 0


def test_bad_workloads() -> None:
    with pytest.raises(BadInputError, match="must be longer than pred_len"):
        KronosWorkload(context=7)
    with pytest.raises(BadInputError, match="--kronos-samples must be a positive integer"):
        KronosWorkload(samples=0)
    with pytest.raises(BadInputError, match="temperature > 0"):
        KronosWorkload(temperature=0)
    with pytest.raises(BadInputError, match="Kronos \\(50 simulations x 232 bars of context\\) needs at least 282"):
        kronos_schedule(synthetic_ohlc(days=100), KronosWorkload())


def test_baseline_estimate_times_the_first_steps(model: KronosModel, frame) -> None:
    from migrator.forecast.kronos.engines import PHASES, estimate_baseline_call

    inputs = prepare_input(frame, len(frame) - 1, WORKLOAD)
    with torch.inference_mode():
        assert baseline_call(model, inputs, WORKLOAD, steps=2).shape == (2, 6)
    split = estimate_baseline_call(model, inputs, WORKLOAD, steps=1)
    assert set(split) == set(PHASES) and split["decoding"] > 0 and split["tokenizer"] > 0
    assert split["prefill"] == 0  # Kronos's procedure has no shared prefill
