"""Conformance of migrator.runtime.exact_toto against the real toto-ts 0.2.0.

A seeded, randomly initialised Toto (a small config in CI; Toto-Open-Base-1.0's config under
-m slow). The exact path's distribution must equal toto-ts's own forward, its samples must come
from the same distribution as toto-ts's `forecast` samples, and everything the exact path does
not cover must return toto-ts's own result.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

try:  # the pinned toto-ts is part of the test install: without it these tests fail, never skip
    import toto.inference.forecaster  # noqa: F401
except ImportError as error:
    raise ImportError("toto-ts is missing: pip install --no-deps -r requirements/toto-ts.txt") from error

import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402
from toto.data.util.dataset import MaskedTimeseries, pad_array, pad_id_mask  # noqa: E402
from toto.inference.forecaster import Forecast, TotoForecaster  # noqa: E402

from migrator.runtime import exact_toto  # noqa: E402
from migrator.runtime.bench import (  # noqa: E402
    BASE_CONFIG,
    SMALL_CONFIG,
    masked,
    random_backbone,
    synthetic_returns,
)

ExactTotoForecaster = exact_toto.exact_forecaster_class(TotoForecaster)


@pytest.fixture(scope="module")
def small():
    return random_backbone(SMALL_CONFIG, seed=0)


def batch_of(*series: torch.Tensor) -> MaskedTimeseries:
    return masked(torch.stack(series).unsqueeze(1))  # (B, 1 variate, L)


def toto_ts_last_patch(model, inputs: MaskedTimeseries, use_kv_cache: bool = True, copies: int = 2):
    """toto-ts's own first forward in generate_samples: padded batch repeated `copies` times."""
    stride = model.patch_embed.stride
    series = pad_array(inputs.series, stride).repeat(copies, 1, 1)
    mask = pad_array(inputs.padding_mask, stride).repeat(copies, 1, 1)
    ids = pad_id_mask(inputs.id_mask, stride).repeat(copies, 1, 1)
    kv = None
    if use_kv_cache:
        kv = model.allocate_kv_cache(
            batch_size=series.shape[0],
            num_variates=series.shape[1],
            max_time_steps=series.shape[-1] + stride,
            device=series.device,
            dtype=series.dtype,
        )
    with torch.no_grad():
        base, loc, scale = model(
            inputs=series, input_padding_mask=mask, id_mask=ids, kv_cache=kv, scaling_prefix_length=series.shape[-1]
        )
    distr = TotoForecaster.create_affine_transformed(base, loc, scale)
    rows = inputs.series.shape[0]
    mixture, comp = base.mixture_distribution, base.component_distribution
    patch = model.patch_embed.patch_size
    return {
        "probs": mixture.probs[:rows, :, -patch:],
        "df": comp.df[:rows, :, -patch:],
        "loc": comp.loc[:rows, :, -patch:],
        "scale": comp.scale[:rows, :, -patch:],
        "affine_loc": distr.loc[:rows, :, -patch:],
        "affine_scale": distr.scale[:rows, :, -patch:],
    }


def exact_params(distr) -> dict[str, torch.Tensor]:
    base = distr.base_dist
    comp = base.component_distribution
    return {
        "probs": base.mixture_distribution.probs,
        "df": comp.df,
        "loc": comp.loc,
        "scale": comp.scale,
        "affine_loc": distr.loc,
        "affine_scale": distr.scale,
    }


def assert_params_equal(exact: dict, reference: dict, steps: int, rtol: float = 1e-5) -> None:
    """Equal within `rtol` relative to each parameter tensor's magnitude."""
    for name, ref in reference.items():
        ref = ref[:, :, :steps].float()
        got = exact[name].float()
        assert got.shape == ref.shape, name
        bound = rtol * ref.abs().max().item()
        worst = (got - ref).abs().max().item()
        assert worst <= bound, f"{name}: max |exact - toto-ts| = {worst:.3g} > {bound:.3g}"


# -- the exact path's distribution is toto-ts's own forward ----------------------------------------


@pytest.mark.parametrize("length", [64, 100, 128, 200])
@pytest.mark.parametrize("use_kv_cache", [True, False])
def test_distribution_equals_toto_ts_forward(small, length, use_kv_cache):
    a, b = synthetic_returns(length, 1), synthetic_returns(length, 2)
    inputs = batch_of(a, b, a)  # B = 3 with a repeated series
    forecaster = ExactTotoForecaster(small)
    with torch.inference_mode():
        distr = forecaster.exact_distribution(inputs, 64, use_kv_cache=use_kv_cache)
        reference = toto_ts_last_patch(small, inputs, use_kv_cache)
    assert_params_equal(exact_params(distr), reference, 64)
    assert forecaster.exact_stats.rows_forwarded == 2  # the repeated series is forwarded once


def test_walk_forward_prefixes_are_each_padded_as_alone(small):
    """Speculated prefixes straddle a padding boundary (128): each equals toto-ts on it alone."""
    series = synthetic_returns(140, 3)
    forecaster = ExactTotoForecaster(small)
    contexts = [series[: 140 - (sim + 1) - origin] for sim in range(12) for origin in (3, 2, 1)]
    with torch.inference_mode():
        for context in contexts:
            forecaster.forecast(masked(context.unsqueeze(0)), 1, num_samples=8, samples_per_batch=8)
        distinct = {len(c) for c in contexts}
        assert min(distinct) < 128 < max(distinct)
        stats_ = forecaster.exact_stats
        assert stats_.speculative_rows > 0 and stats_.forwards < len(distinct)
        for length in sorted(distinct):
            inputs = masked(series[:length].reshape(1, 1, -1))
            distr = forecaster.exact_distribution(inputs, 64)
            assert_params_equal(exact_params(distr), toto_ts_last_patch(small, inputs), 64)
        assert forecaster.exact_stats.forwards == stats_.forwards  # all served from the memo


# -- the samples come from toto-ts's forecast distribution -----------------------------------------


def quantile_agreement(exact: torch.Tensor, reference: torch.Tensor, q: float) -> tuple[float, float]:
    """Share of exact samples at or below toto-ts's q-quantile, and 5 standard errors around q."""
    n1, n2 = exact.numel(), reference.numel()
    share = (exact <= torch.quantile(reference, q)).float().mean().item()
    return share, 5 * (q * (1 - q) * (1 / n1 + 1 / n2)) ** 0.5


@pytest.mark.parametrize("prediction_length", [1, 7, 64])
def test_samples_follow_toto_ts_forecast(small, prediction_length):
    a, b = synthetic_returns(100, 4), synthetic_returns(100, 5)
    inputs = batch_of(a, b, a)
    n = 512
    torch.manual_seed(11)
    with torch.inference_mode():
        ours = ExactTotoForecaster(small).forecast(inputs, prediction_length, num_samples=n, samples_per_batch=256)
        theirs = TotoForecaster(small).forecast(inputs, prediction_length, num_samples=n, samples_per_batch=256)
    assert isinstance(ours, Forecast)
    assert ours.samples.shape == theirs.samples.shape == (3, 1, prediction_length, n)
    assert ours.samples.dtype == theirs.samples.dtype and ours.mean.dtype == theirs.mean.dtype
    torch.testing.assert_close(ours.mean, ours.samples.mean(dim=-1))
    steps = sorted({0, prediction_length // 2, prediction_length - 1})
    family_alpha = 1e-3 / (3 * len(steps))  # Bonferroni: false alarm <= 0.1% per parameter set
    for row in range(3):
        for t in steps:
            x, y = ours.samples[row, 0, t], theirs.samples[row, 0, t]
            p = stats.ks_2samp(x.numpy(), y.numpy()).pvalue
            assert p > family_alpha, f"row {row} step {t}: KS p = {p:.2g}"
            for q in (0.05, 0.25, 0.5, 0.75, 0.95):
                share, tol = quantile_agreement(x, y, q)
                assert abs(share - q) <= tol, f"row {row} step {t} q {q}: {share:.3f}"
            # The backtest's aggregate (trimmed mean) agrees within Monte Carlo error.
            xs, ys = x.sort().values[n // 10 : -n // 10], y.sort().values[n // 10 : -n // 10]
            se = (xs.var() / len(xs) + ys.var() / len(ys)).sqrt().item()
            assert abs(xs.mean().item() - ys.mean().item()) <= 6 * se


def test_unbatched_input_has_toto_ts_shapes(small):
    inputs = masked(synthetic_returns(70, 6).unsqueeze(0))  # (variates, time): upstream's pipeline
    with torch.inference_mode():
        ours = ExactTotoForecaster(small).forecast(inputs, 1, num_samples=32, samples_per_batch=16)
        theirs = TotoForecaster(small).forecast(inputs, 1, num_samples=32, samples_per_batch=16)
    assert ours.samples.shape == theirs.samples.shape == (1, 1, 1, 32)
    assert ours.mean.shape == theirs.mean.shape


# -- everything else is toto-ts's own result -------------------------------------------------------


def same_result(small, inputs, prediction_length, **kwargs):
    ours, theirs = ExactTotoForecaster(small), TotoForecaster(small)
    with torch.inference_mode():
        torch.manual_seed(5)
        a = ours.forecast(inputs, prediction_length, **kwargs)
        torch.manual_seed(5)
        b = theirs.forecast(inputs, prediction_length, **kwargs)
    assert ours.exact_stats.fallback_calls == 1 and ours.exact_stats.forwards == 0
    torch.testing.assert_close(a.mean, b.mean, rtol=0, atol=0)
    if b.samples is None:
        assert a.samples is None
    else:
        assert torch.equal(a.samples, b.samples)


def test_prediction_length_beyond_a_patch_is_toto_ts(small):
    same_result(small, batch_of(synthetic_returns(90, 7)), 65, num_samples=8, samples_per_batch=4)


def test_mean_forecast_is_toto_ts(small):
    same_result(small, batch_of(synthetic_returns(90, 7)), 7, num_samples=None)


def test_exogenous_inputs_are_toto_ts(small):
    series = torch.stack([synthetic_returns(90, 8), synthetic_returns(90, 9)]).unsqueeze(0)  # (1, 2, 90)
    base = masked(series)
    inputs = MaskedTimeseries(*base[:5], num_exogenous_variables=1)
    future = synthetic_returns(7, 10).reshape(1, 1, 7)
    same_result(small, inputs, 7, num_samples=8, samples_per_batch=4, future_exogenous_variables=future)


def test_indivisible_samples_raise_toto_ts_error(small):
    inputs = batch_of(synthetic_returns(90, 7))
    with pytest.raises(AssertionError, match="divisible"), torch.inference_mode():
        ExactTotoForecaster(small).forecast(inputs, 1, num_samples=10, samples_per_batch=4)


# -- compile, autocast, weights, memory and speculation bounds -------------------------------------


def test_compiled_model_goes_through_its_compiled_forward(small):
    compiled = torch.compile(small, backend="eager")
    forecaster = ExactTotoForecaster(compiled)
    assert not forecaster._plain_backbone()
    inputs = batch_of(synthetic_returns(100, 12))
    with torch.inference_mode():
        distr = forecaster.exact_distribution(inputs, 7)
        out = forecaster.forecast(inputs, 7, num_samples=16, samples_per_batch=8)
    assert_params_equal(exact_params(distr), toto_ts_last_patch(small, inputs), 7)
    assert out.samples.shape == (1, 1, 7, 16)


def test_autocast_is_part_of_the_memo_key(small):
    inputs = batch_of(synthetic_returns(100, 13))
    forecaster = ExactTotoForecaster(small)
    with torch.inference_mode():
        forecaster.forecast(inputs, 1, num_samples=16, samples_per_batch=8)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            distr = forecaster.exact_distribution(inputs, 1)
            reference = toto_ts_last_patch(small, inputs)
            # toto-ts cannot draw bf16 Student-T samples on CPU (gamma_cpu); neither can we.
            with pytest.raises(NotImplementedError):
                TotoForecaster(small).forecast(inputs, 1, num_samples=16, samples_per_batch=8)
            with pytest.raises(NotImplementedError):
                forecaster.forecast(inputs, 1, num_samples=16, samples_per_batch=8)
    assert forecaster.exact_stats.forwards == 2  # autocast did not reuse the fp32 forward
    assert distr.base_dist.component_distribution.df.dtype == reference["df"].dtype == torch.bfloat16
    assert_params_equal(exact_params(distr), reference, 1, rtol=5e-2)  # bf16 rounding


def test_memo_sees_new_weights(small):
    model = random_backbone(SMALL_CONFIG, seed=1)
    forecaster = ExactTotoForecaster(model)
    inputs = batch_of(synthetic_returns(100, 14))
    with torch.inference_mode():
        forecaster.forecast(inputs, 1, num_samples=8, samples_per_batch=8)
    model.load_state_dict(small.state_dict())
    with torch.inference_mode():
        distr = forecaster.exact_distribution(inputs, 7)
        reference = toto_ts_last_patch(small, inputs)
    assert forecaster.exact_stats.forwards == 2
    assert_params_equal(exact_params(distr), reference, 7)


def test_unrelated_contexts_are_never_speculated(small):
    forecaster = ExactTotoForecaster(small)
    with torch.inference_mode():
        for seed in range(6):
            forecaster.forecast(batch_of(synthetic_returns(80, 100 + seed)), 1, num_samples=8, samples_per_batch=8)
    assert forecaster.exact_stats.speculative_rows == 0
    assert forecaster.exact_stats.rows_forwarded == 6


def test_speculation_is_bounded_and_stops_when_it_never_pays(small, monkeypatch):
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO_WINDOW", "4")
    monkeypatch.setattr(exact_toto, "MEMO_ROWS", 6)
    forecaster = ExactTotoForecaster(small)
    assert forecaster.exact_window == 4 and forecaster.speculation_cap == 32
    with torch.inference_mode():
        # Contexts growing by 5: each extends the last, so each miss speculates the 3 prefixes
        # below it, which are never asked for; the tiny memo evicts them unused.
        series = synthetic_returns(256, 15)
        for length in range(70, 220, 5):
            before = forecaster.exact_stats.speculative_rows
            forecaster.forecast(batch_of(series[:length]), 1, num_samples=8, samples_per_batch=8)
            assert forecaster.exact_stats.speculative_rows - before <= forecaster.exact_window - 1
            assert len(forecaster._unused_speculative) <= forecaster.speculation_cap
            assert len(forecaster._memo) <= 6
    stats_ = forecaster.exact_stats
    assert not stats_.speculation_enabled
    assert stats_.speculative_rows_used == 0 and stats_.speculative_rows > 0
    assert stats_.wasted_rows <= 2 * forecaster.speculation_cap


def test_import_needs_neither_click_nor_libcst_nor_toto_ts():
    code = (
        "import sys, migrator.runtime.exact_toto as m\n"
        "bad = [n for n in ('click', 'libcst', 'migrator.forecast', 'toto', 'scipy') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_bf16_autocast_matches_toto_ts(small):
    model = random_backbone(SMALL_CONFIG, seed=0).cuda()
    inputs = masked(synthetic_returns(100, 16).reshape(1, 1, -1)).to(torch.device("cuda"))
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        ours = ExactTotoForecaster(model).forecast(inputs, 1, num_samples=2048, samples_per_batch=256)
        theirs = TotoForecaster(model).forecast(inputs, 1, num_samples=2048, samples_per_batch=256)
    assert ours.samples.device == theirs.samples.device and ours.samples.dtype == theirs.samples.dtype
    p = stats.ks_2samp(ours.samples.flatten().float().cpu().numpy(), theirs.samples.flatten().float().cpu().numpy())
    assert p.pvalue > 1e-3


@pytest.mark.slow
def test_base_config_distribution_and_samples():
    model = random_backbone(BASE_CONFIG, seed=0)
    a, b = synthetic_returns(1000, 17), synthetic_returns(1000, 18)
    inputs = batch_of(a, b, a)
    forecaster = ExactTotoForecaster(model)
    with torch.inference_mode():
        distr = forecaster.exact_distribution(inputs, 64)
        assert_params_equal(exact_params(distr), toto_ts_last_patch(model, inputs), 64)
        torch.manual_seed(3)
        ours = forecaster.forecast(inputs, 1, num_samples=512, samples_per_batch=128)
        theirs = TotoForecaster(model).forecast(inputs, 1, num_samples=512, samples_per_batch=128)
    for row in range(3):
        p = stats.ks_2samp(ours.samples[row, 0, 0].numpy(), theirs.samples[row, 0, 0].numpy()).pvalue
        assert p > 1e-3


def test_compare_counts_the_backtest_schedule(small):
    from migrator.runtime.bench import Workload, compare

    workload = Workload(sims=4, horizon=3, keys=("Close", "Low"), samples=8, batch=8,
                        longest_context=150)
    result = compare(model=small, workload=workload, baseline_calls=1)
    assert result.calls == 4 * 3 * 2
    assert result.distinct_contexts == (4 + 3 - 1) * 2  # a context depends only on sim + origin
    assert result.rows_forwarded - result.wasted_rows == result.distinct_contexts
    assert result.forwards < result.distinct_contexts
    assert result.context_cache_seconds < result.toto_ts_seconds
    assert "distinct contexts" in result.summary()


def test_a_subclass_of_toto_forecaster_keeps_its_own_behaviour(small):
    class Logged(TotoForecaster):
        def __init__(self, model):
            super().__init__(model)
            self.built = True

    forecaster = exact_toto.exact_forecaster_class(Logged)(small)
    assert forecaster.built and isinstance(forecaster, Logged)
    with torch.inference_mode():
        out = forecaster.forecast(batch_of(synthetic_returns(80, 19)), 1, num_samples=8, samples_per_batch=4)
    assert out.samples.shape == (1, 1, 1, 8) and forecaster.exact_stats.forwards == 1
    with pytest.raises(TypeError, match="not a toto-ts TotoForecaster"):
        exact_toto.exact_forecaster_class(dict)


_SOURCES = [synthetic_returns(150, 20), synthetic_returns(150, 21)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(40, 150)), min_size=1, max_size=8))
def test_any_call_order_forecasts_each_context_as_toto_ts_alone(small, monkeypatch, calls):
    """Whatever the order of prefixes (walk-forward or not), memo and speculation stay exact."""
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO_WINDOW", "6")
    forecaster = ExactTotoForecaster(small)
    with torch.inference_mode():
        for source, length in calls:
            inputs = masked(_SOURCES[source][:length].reshape(1, 1, -1))
            before = forecaster.exact_stats.speculative_rows
            distr = forecaster.exact_distribution(inputs, 7)
            assert forecaster.exact_stats.speculative_rows - before <= forecaster.exact_window - 1
            assert_params_equal(exact_params(distr), toto_ts_last_patch(small, inputs), 7)
