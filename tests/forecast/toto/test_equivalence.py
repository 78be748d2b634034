"""The optimized engine forecasts the baseline's distribution: parameters, draws, aggregates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from migrator.errors import BadInputError
from migrator.forecast.toto import equivalence
from migrator.forecast.toto.engines import (
    Workload,
    baseline_call_draws,
    baseline_engine,
    next_step_distributions,
    optimized_draws,
    optimized_engine,
    schedule,
)
from migrator.forecast.toto.equivalence import check_equivalence, param_rel_diff
from migrator.forecast.toto.model import (
    MixtureParams,
    TotoConfig,
    TotoModel,
    build_model,
    left_pad,
)

KEYS = ("Close", "Low", "High", "Open")


@pytest.fixture(scope="module")
def model() -> TotoModel:
    return build_model("small", seed=0)


def make_series(length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.standard_t(4, length) * 0.01 for key in KEYS}


def distinct_contexts(series: dict[str, np.ndarray], workload: Workload) -> list[tuple[str, int]]:
    return list(dict.fromkeys(call.context for call in schedule(series, workload)))


def context_tensor(series: dict[str, np.ndarray], key: str, length: int) -> torch.Tensor:
    return torch.as_tensor(series[key][:length], dtype=torch.float32)


# Context lengths 92..97, 124..129 (across a patch boundary: two groups), 250..255, 315..320.
@pytest.mark.parametrize("length", [99, 131, 257, 322])
def test_batched_params_equal_each_contexts_own_full_forward(model: TotoModel, length: int) -> None:
    series = make_series(length, seed=length)
    workload = Workload(sims=3, horizon=4, samples=32, batch=32)
    contexts = distinct_contexts(series, workload)
    tensors = [context_tensor(series, key, n) for key, n in contexts]
    with torch.inference_mode():
        batched, _ = next_step_distributions(model, tensors)
        for row, context in enumerate(tensors):
            alone = model(*left_pad([context], 64)).select((slice(None), -64))
            assert param_rel_diff(batched.select(slice(row, row + 1)), alone) <= 1e-5


def mixture_moments(params: MixtureParams) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each mixture (df > 2, so both are finite)."""
    weights = params.weights().double()
    df, loc, scale = params.df.double(), params.loc.double(), params.scale.double()
    mean = (weights * loc).sum(-1)
    second = (weights * (scale**2 * df / (df - 2) + loc**2)).sum(-1)
    return mean.numpy(), (second - mean**2).numpy()


def test_pooled_draws_and_aggregates_match_the_baseline(model: TotoModel) -> None:
    series = make_series(200, seed=1)
    workload = Workload(sims=2, horizon=3, samples=512, batch=64, keys=("Close", "High"))
    contexts = distinct_contexts(series, workload)
    calls = schedule(series, workload)
    tensors = [context_tensor(series, key, n) for key, n in contexts]
    with torch.random.fork_rng(), torch.inference_mode():
        torch.manual_seed(0)
        params, _ = next_step_distributions(model, tensors)
        optimized_draws = params.sample(2048).T
        pvalues = []
        for row, context in enumerate(contexts):
            # The baseline's draws pooled over every call that has this context.
            pooled = torch.cat([
                baseline_call_draws(model, tensors[row], workload)
                for call in calls
                if call.context == context
            ])
            pvalues.append(ks_2samp(pooled.numpy(), optimized_draws[row].numpy()).pvalue)
    assert min(pvalues) >= 0.01 / len(contexts), pvalues

    # Point forecasts (mean) and band quantiles agree within their Monte Carlo standard error.
    baseline = baseline_engine(model, series, workload, seed=1)
    optimized = optimized_engine(model, series, workload, seed=2)
    mean, variance = mixture_moments(params)
    distribution = params.distribution()
    n = workload.samples
    for row, context in enumerate(contexts):
        call = next(c for c in calls if c.context == context)
        b = baseline.forecasts[(call.sim, call.key, call.pred_idx)]
        o = optimized.forecasts[(call.sim, call.key, call.pred_idx)]
        assert abs(b.point - o.point) <= 4.5 * np.sqrt(2 * variance[row] / n)
        for p, low_or_high in ((0.4, "band_low"), (0.6, "band_high")):
            quantile = np.quantile(optimized_draws[row].numpy(), p)
            density = distribution.log_prob(torch.tensor(quantile, dtype=torch.float32)).exp()[row].item()
            standard_error = np.sqrt(p * (1 - p) / n) / density
            assert abs(getattr(b, low_or_high) - getattr(o, low_or_high)) <= 4.5 * np.sqrt(2) * standard_error


def test_check_equivalence_passes_for_the_optimized_engine(model: TotoModel) -> None:
    result = check_equivalence(model, make_series(300, seed=2), Workload(sims=5, horizon=3), pairs=4, seed=0)
    assert result["same_distribution"] is True
    assert result["max_param_rel_diff"] <= 1e-5
    assert result["ks_min_pvalue"] >= result["ks_threshold"] == 0.01 / 4
    assert len(result["pairs"]) == 4


def test_check_equivalence_catches_contexts_padded_too_far(model: TotoModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong optimization: batching every context with one extra patch of padding.
    def overpadded(network: TotoModel, contexts: list[torch.Tensor], step: int = 0) -> tuple[MixtureParams, int]:
        inputs, mask = left_pad(contexts, 64)
        inputs = torch.cat([torch.zeros(len(contexts), 64), inputs], dim=1)
        mask = torch.cat([torch.zeros(len(contexts), 64, dtype=torch.bool), mask], dim=1)
        return network.next_step_params(inputs, mask, step), 1

    monkeypatch.setattr(equivalence, "next_step_distributions", overpadded)
    result = check_equivalence(model, make_series(300, seed=2), Workload(sims=5, horizon=3), pairs=4)
    assert result["same_distribution"] is False
    assert result["max_param_rel_diff"] > 1e-3


def test_check_equivalence_needs_a_pair(model: TotoModel) -> None:
    with pytest.raises(BadInputError, match="at least 1 pair"):
        check_equivalence(model, make_series(300), Workload(sims=5, horizon=3), pairs=0)


# Prediction lengths: the Forecast of a call is the step prediction_length after its context.


@pytest.mark.parametrize("prediction_length", [1, 5, 64])
def test_needed_steps_params_equal_each_contexts_own_full_forward(model: TotoModel, prediction_length: int) -> None:
    series = make_series(131, seed=prediction_length)
    workload = Workload(sims=3, horizon=4, samples=32, batch=32, prediction_length=prediction_length)
    tensors = [context_tensor(series, key, n) for key, n in distinct_contexts(series, workload)]
    step = prediction_length - 1
    with torch.inference_mode():
        batched, _ = next_step_distributions(model, tensors, step=step)
        first, _ = next_step_distributions(model, tensors)
        for row, context in enumerate(tensors):
            alone = model(*left_pad([context], 64)).select((slice(None), step - 64))
            assert param_rel_diff(batched.select(slice(row, row + 1)), alone) <= 1e-5
            if step:  # not vacuous: a later step has its own mixture
                assert param_rel_diff(first.select(slice(row, row + 1)), alone) > 1e-3
    with pytest.raises(ValueError, match="step 64 is not within the patch"):
        next_step_distributions(model, tensors[:1], step=64)


def pooled_pvalues(model: TotoModel, series: dict[str, np.ndarray], workload: Workload) -> list[float]:
    """Per distinct context: KS p-value of the optimized engine's draws (2,048) against the
    baseline's draws pooled over every call with that context."""
    contexts = distinct_contexts(series, workload)
    calls = schedule(series, workload)
    tensors = [context_tensor(series, key, n) for key, n in contexts]
    many = dataclasses.replace(workload, samples=2048, batch=512)
    with torch.random.fork_rng(), torch.inference_mode():
        torch.manual_seed(0)
        optimized, _ = optimized_draws(model, tensors, many)
        pvalues = []
        for row, context in enumerate(contexts):
            pooled = torch.cat([
                baseline_call_draws(model, tensors[row], workload) for call in calls if call.context == context
            ])
            pvalues.append(ks_2samp(pooled.numpy(), optimized[row].numpy()).pvalue)
    return pvalues


def test_draws_five_steps_ahead_match_the_baseline(model: TotoModel) -> None:
    series = make_series(200, seed=3)
    workload = Workload(sims=2, horizon=3, samples=512, batch=64, keys=("Close", "High"), prediction_length=5)
    pvalues = pooled_pvalues(model, series, workload)
    assert min(pvalues) >= 0.01 / len(pvalues), pvalues


@pytest.fixture(scope="module")
def tiny() -> TotoModel:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TotoModel(TotoConfig(embed_dim=32, num_layers=3, num_heads=2, mlp_dim=64, num_components=4)).eval()


def test_beyond_one_patch_the_optimized_engine_runs_the_baseline_path(tiny: TotoModel) -> None:
    series = make_series(140, seed=4)
    workload = Workload(sims=2, horizon=2, samples=256, batch=64, keys=("Close", "High"), prediction_length=70)
    result = optimized_engine(tiny, series, workload)
    distinct = len(distinct_contexts(series, workload))
    # Per distinct context once: 4 batches of samples, each two patches decoded.
    assert result.model_calls == distinct and result.forward_passes == distinct * 4 * 2
    assert len(result.notes) == 1 and "prediction length 70 > 64" in result.notes[0]
    assert "baseline's path" in result.notes[0]
    assert optimized_engine(tiny, series, dataclasses.replace(workload, prediction_length=64)).notes == []

    pvalues = pooled_pvalues(tiny, series, workload)
    assert min(pvalues) >= 0.01 / len(pvalues), pvalues
    check = check_equivalence(tiny, series, workload, pairs=2)
    assert check["same_distribution"] is True and check["max_param_rel_diff"] is None
