"""The schedule and the two engines' bookkeeping: calls, contexts, caching, extrapolation,
grouping, determinism. Distribution equality is in test_equivalence.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from migrator.errors import BadInputError
from migrator.forecast.toto.engines import (
    PHASES,
    Workload,
    baseline_call_draws,
    baseline_engine,
    next_step_distributions,
    optimized_engine,
    schedule,
)
from migrator.forecast.toto.model import TotoConfig, TotoModel

KEYS = ("Close", "Low", "High", "Open")


@pytest.fixture(scope="module")
def model() -> TotoModel:
    torch.manual_seed(0)
    return TotoModel(
        TotoConfig(embed_dim=32, num_layers=3, num_heads=2, mlp_dim=64, num_components=4)
    ).eval()


def make_series(length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.standard_t(4, length) * 0.01 for key in KEYS}


SMALL = Workload(sims=3, horizon=2, samples=8, batch=4)


def test_default_workload_is_the_guides() -> None:
    workload = Workload()
    assert (workload.sims, workload.horizon, workload.samples, workload.batch) == (50, 7, 128, 32)
    assert workload.prediction_length == 1
    assert workload.keys == KEYS and workload.calls == 1400


def test_schedule_has_1400_calls_and_224_distinct_contexts() -> None:
    calls = schedule(make_series(1007), Workload())
    assert len(calls) == 1400
    assert len({call.context for call in calls}) == 224
    # The guide's order: simulation, key, farthest origin first.
    assert [(c.sim, c.key, c.pred_idx) for c in calls[:8]] == [(0, "Close", p) for p in range(7, 0, -1)] + [(0, "Low", 7)]
    # Simulation s drops its last s+1 rows, the origin pred_idx more: context = series[:n-s-1-p].
    assert calls[0].context_length == 1007 - 1 - 7
    assert calls[-1].context_length == 1007 - 50 - 1
    lengths = {call.context_length for call in calls}
    assert lengths == set(range(1007 - 57, 1007 - 1))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"samples": 100}, "not a multiple of --batch 32"),
        ({"sims": 0}, "--sims must be a positive integer"),
        ({"batch": -1}, "--batch must be a positive integer"),
        ({"aggregate": "mode"}, "unknown aggregate 'mode'"),
        ({"keys": ()}, "at least one key"),
        ({"prediction_length": 0}, "--prediction-length must be a positive integer, got 0"),
        ({"prediction_length": 2.5}, "--prediction-length must be a positive integer, got 2.5"),
    ],
)
def test_bad_workloads_are_bad_input(changes: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        Workload(**changes)


def test_short_missing_or_non_finite_series_are_bad_input() -> None:
    with pytest.raises(BadInputError, match="has 57 points; 50 simulations x 7 origins need at least 58"):
        schedule(make_series(57), Workload())
    partial = make_series(200)
    del partial["Open"]
    with pytest.raises(BadInputError, match="no series for key 'Open'"):
        schedule(partial, Workload())
    broken = make_series(200)
    broken["Low"][10] = np.nan
    with pytest.raises(BadInputError, match="'Low' must be 1-D and finite"):
        schedule(broken, Workload())


def test_baseline_makes_every_call_with_full_passes(model: TotoModel) -> None:
    result = baseline_engine(model, make_series(140), SMALL)
    assert result.model_calls == 24 and result.forward_passes == 24 * 2
    assert not result.extrapolated
    assert set(result.forecasts) == {(c.sim, c.key, c.pred_idx) for c in schedule(make_series(140), SMALL)}
    for forecast in result.forecasts.values():
        assert forecast.band_low <= forecast.band_high
    assert set(result.breakdown) == set(PHASES)
    assert sum(result.breakdown.values()) == pytest.approx(result.seconds, rel=1e-6)
    assert result.breakdown["forward"] > 0


def test_baseline_cache_forecasts_each_context_once(model: TotoModel) -> None:
    series = make_series(140)
    result = baseline_engine(model, series, SMALL, cache=True)
    calls = schedule(series, SMALL)
    distinct = {call.context for call in calls}
    assert result.model_calls == len(distinct) == 16
    assert result.forward_passes == 16 * 2
    # Calls with the same context share the one forecast: (sim 0, origin 2) == (sim 1, origin 1).
    assert result.forecasts[(0, "High", 2)] == result.forecasts[(1, "High", 1)]
    assert len(result.forecasts) == len(calls)


def test_baseline_extrapolates_from_evenly_spaced_calls(model: TotoModel) -> None:
    result = baseline_engine(model, make_series(140), SMALL, max_calls=5)
    assert result.extrapolated
    assert len(result.forecasts) == 5
    assert result.model_calls == 24 and result.forward_passes == 48  # the whole workload
    assert {sim for sim, _, _ in result.forecasts} == {0, 1, 2}  # spread over the schedule
    with pytest.raises(BadInputError, match="at least 1"):
        baseline_engine(model, make_series(140), SMALL, max_calls=0)


def test_optimized_forecasts_every_call_from_the_distinct_contexts(model: TotoModel) -> None:
    series = make_series(140)
    result = optimized_engine(model, series, SMALL)
    calls = schedule(series, SMALL)
    assert set(result.forecasts) == {(c.sim, c.key, c.pred_idx) for c in calls}
    assert result.model_calls == 16
    # Contexts 135..138 -> lengths 135..138 all pad to 192: one batched forward.
    assert result.forward_passes == 1
    assert result.forecasts[(0, "Close", 2)] == result.forecasts[(1, "Close", 1)]
    assert set(result.breakdown) == set(PHASES)
    assert sum(result.breakdown.values()) == pytest.approx(result.seconds, rel=1e-6)


def test_optimized_groups_contexts_by_padded_length(model: TotoModel) -> None:
    # Lengths 126..129 straddle 128: two groups, 128 and 192 wide.
    result = optimized_engine(model, make_series(131), Workload(sims=2, horizon=3, samples=8, batch=8))
    assert result.forward_passes == 2


def test_next_step_distributions_returns_input_order(model: TotoModel) -> None:
    contexts = [torch.randn(n) * 0.01 for n in (200, 60, 130, 64, 199)]
    batched, passes = next_step_distributions(model, contexts)
    assert passes == 3  # padded 64, 192, 256
    with torch.inference_mode():
        for row, context in enumerate(contexts):
            alone, _ = next_step_distributions(model, [context])
            torch.testing.assert_close(batched.loc[row], alone.loc[0], rtol=1e-5, atol=1e-7)


def test_optimized_is_deterministic_for_a_seed_and_leaves_the_global_rng(model: TotoModel) -> None:
    series = make_series(140)
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    first = optimized_engine(model, series, SMALL, seed=1)
    assert torch.equal(torch.rand(1), expected_next)
    assert optimized_engine(model, series, SMALL, seed=1).forecasts == first.forecasts
    assert optimized_engine(model, series, SMALL, seed=2).forecasts != first.forecasts


def test_baseline_is_deterministic_for_a_seed(model: TotoModel) -> None:
    series = make_series(140)
    first = baseline_engine(model, series, SMALL, seed=3)
    assert baseline_engine(model, series, SMALL, seed=3).forecasts == first.forecasts


def recorded_forwards(model: TotoModel, run) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, padding_mask) of every full forward `run()` makes."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = model.register_forward_pre_hook(lambda _, args: seen.append((args[0].clone(), args[1].clone())))
    try:
        run()
    finally:
        handle.remove()
    return seen


def test_baseline_decodes_beyond_one_patch_autoregressively(model: TotoModel) -> None:
    context = torch.as_tensor(make_series(100)["Close"], dtype=torch.float32)
    workload = Workload(sims=1, horizon=1, samples=8, batch=4, prediction_length=70)
    with torch.inference_mode():
        seen = recorded_forwards(model, lambda: baseline_call_draws(model, context, workload))
        within = recorded_forwards(
            model, lambda: baseline_call_draws(model, context, Workload(samples=8, batch=4, prediction_length=64))
        )
    assert [tuple(inputs.shape) for inputs, _ in within] == [(4, 128)] * 2  # one full pass per batch
    # Per batch of samples: the context (padded to 128), then it plus each row's sampled patch.
    assert [tuple(inputs.shape) for inputs, _ in seen] == [(4, 128), (4, 192)] * 2
    for first, second in (seen[0:2], seen[2:4]):
        assert torch.equal(second[0][:, :128], first[0]) and torch.equal(second[1][:, :128], first[1])
        assert second[1][:, 128:].all()  # the sampled steps are observed values
        appended = second[0][:, 128:]
        assert torch.isfinite(appended).all() and not torch.equal(appended[0], appended[1])  # rows diverge
    assert not torch.equal(seen[1][0][:, 128:], seen[3][0][:, 128:])


def test_baseline_counts_a_pass_per_decoded_patch(model: TotoModel) -> None:
    workload = Workload(sims=3, horizon=2, samples=8, batch=4, prediction_length=129)
    result = baseline_engine(model, make_series(140), workload, max_calls=2)
    assert result.forward_passes == 24 * 2 * 3  # 129 steps: three patches
    assert result.notes == [] and len(result.forecasts) == 2


def test_optimized_forecasts_the_needed_step(model: TotoModel) -> None:
    series = make_series(140)
    fifth = optimized_engine(model, series, Workload(sims=3, horizon=2, samples=64, batch=4, prediction_length=5))
    first = optimized_engine(model, series, Workload(sims=3, horizon=2, samples=64, batch=4))
    assert fifth.forward_passes == first.forward_passes == 1 and fifth.notes == []
    assert set(fifth.forecasts) == set(first.forecasts)
    assert fifth.forecasts != first.forecasts
