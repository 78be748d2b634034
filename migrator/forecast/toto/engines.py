"""The backtest's forecast schedule, run two ways: as the guide runs it, and exactly but fast.

The schedule (the backtest's): simulation s uses the history minus its last s+1
rows; for each key and each walk-forward origin pred_idx in reversed(range(1, horizon + 1)) one
model call forecasts the next percent change from context = that simulation's series[:-pred_idx]
(prediction_length 1), drawing `samples` values in batches of `batch`, reduced by the aggregate
to a point and a 40%-60% quantile band. 50 x 4 x 7 = 1,400 calls, but a context depends only on
(key, s + pred_idx): 224 distinct contexts.

- `baseline_engine`: every call copies its context into `batch` rows and runs samples / batch
  full forward passes, sampling each row from its predicted mixture (Toto's forecaster).
  `cache=True` forecasts each distinct context once (the backtest's disk cache), same per call.
- `optimized_engine`: each distinct context once, one forward pass (prediction_length <= 64:
  every row of the baseline's passes gets the same mixture for each step of the next patch and
  samples each step independently from its own, so one pass and `samples` draws from the
  needed step's mixture is the same distribution), contexts batched and grouped by padded
  length so none gets more padding than alone, only the last token through the last layer and
  only the needed step through the head, then all draws in one vectorised mixture sample.
  Beyond 64 steps Toto feeds each row's sampled patch back and runs the model again, so the
  later steps have no closed-form mixture: the engine then runs the baseline's path, once per
  distinct context, and says so in EngineResult.notes.

The backtest's schedule uses prediction_length 1 (Workload's default).

Both run under torch.inference_mode (the baseline too, so it is not charged for autograd) and
seed torch's RNG with `seed` inside torch.random.fork_rng, so the caller's RNG state is kept. They use torch's thread
setting as it is (one thread per core by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from migrator.errors import BadInputError
from migrator.forecast.aggregates import aggregate, quantile_band
from migrator.forecast.engine import EngineResult, PhaseClock, seeded_inference
from migrator.forecast.toto.model import MixtureParams, TotoModel, left_pad
from migrator.workload import Workload, evenly_spaced

PHASES = ("forward", "sampling", "aggregation", "grouping_padding", "overhead")
# Rows x tokens per batched forward: bounds activation memory. The default workload's largest
# group is 2,880 tokens, about 250 MB of activations with base; bigger batches run faster here.
_MAX_TOKENS_PER_FORWARD = 8192


@dataclass(frozen=True)
class Forecast:
    point: float
    band_low: float
    band_high: float


@dataclass(frozen=True)
class Call:
    sim: int
    key: str
    pred_idx: int
    context_length: int  # the context is series[key][:context_length]

    @property
    def context(self) -> tuple[str, int]:
        return self.key, self.context_length


def schedule(series: dict[str, np.ndarray], workload: Workload) -> list[Call]:
    """The guide's calls in its order: per simulation, per key, per origin (farthest first)."""
    for key in workload.keys:
        if key not in series:
            raise BadInputError(f"no series for key {key!r} (have: {', '.join(series) or 'none'})")
        values = np.asarray(series[key])
        if values.ndim != 1 or not np.all(np.isfinite(values)):
            raise BadInputError(f"series {key!r} must be 1-D and finite")
        needed = workload.sims + workload.horizon + 1
        if len(values) < needed:
            raise BadInputError(
                f"series {key!r} has {len(values)} points; {workload.sims} simulations x "
                f"{workload.horizon} origins need at least {needed}"
            )
    return [
        Call(sim, key, pred_idx, len(series[key]) - (sim + 1) - pred_idx)
        for sim in range(workload.sims)
        for key in workload.keys
        for pred_idx in reversed(range(1, workload.horizon + 1))
    ]


def _contexts(series: dict[str, np.ndarray], keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {key: torch.as_tensor(np.asarray(series[key]), dtype=torch.float32) for key in keys}


def patches_to_decode(workload: Workload, patch_size: int) -> int:
    """Full forward passes per batch of samples: one per patch of prediction_length."""
    return -(-workload.prediction_length // patch_size)


def baseline_call_draws(
    model: TotoModel, context: torch.Tensor, workload: Workload, clock: PhaseClock | None = None
) -> torch.Tensor:
    """One call as Toto's forecaster makes it: `batch` copies of the context; per batch of
    samples, the full model forecasts the patch after the input and each row samples every
    step of it from that step's mixture; beyond one patch each row appends its sampled patch
    to its input (the rows diverge) and the full model runs again, until prediction_length
    steps are sampled. Returns `samples` draws of the last step."""
    clock = clock or PhaseClock(PHASES)
    patch = model.config.patch_size
    decodes = patches_to_decode(workload, patch)
    with clock.phase("grouping_padding"):
        context_inputs, context_mask = left_pad([context], patch)
        context_inputs = context_inputs.expand(workload.batch, -1).contiguous()
        context_mask = context_mask.expand(workload.batch, -1).contiguous()
    draws = []
    for _ in range(workload.samples // workload.batch):
        inputs, mask = context_inputs, context_mask
        for decoded in range(decodes):
            with clock.phase("forward"):
                params = model(inputs, mask)
            with clock.phase("sampling"):
                next_patch = params.select((slice(None), slice(-patch, None)))
                sampled = next_patch.distribution().sample()
            if decoded < decodes - 1:
                with clock.phase("grouping_padding"):
                    inputs = torch.cat([inputs, sampled], dim=1)
                    mask = torch.cat([mask, torch.ones_like(mask[:, -patch:])], dim=1)
        draws.append(sampled[:, (workload.prediction_length - 1) % patch])
    return torch.cat(draws)


def _forecast(draws: np.ndarray, spec: str) -> Forecast:
    low, high = quantile_band(draws)
    return Forecast(aggregate(draws, spec), low, high)


def baseline_engine(
    model: TotoModel,
    series: dict[str, np.ndarray],
    workload: Workload,
    *,
    seed: int = 0,
    max_calls: int | None = None,
    cache: bool = False,
) -> EngineResult:
    """The guide's schedule call by call. max_calls=K times K calls spread evenly over the
    schedule (contexts of every length, so the mean is the schedule's) and scales to all."""
    calls = schedule(series, workload)
    clock = PhaseClock(PHASES)
    contexts = _contexts(series, workload.keys)
    units = list(dict.fromkeys(call.context for call in calls)) if cache else calls
    measured = [units[i] for i in evenly_spaced(len(units), max_calls)]
    made: dict[object, Forecast] = {}
    with seeded_inference(seed):
        for unit in measured:
            key, length = unit if cache else unit.context
            draws = baseline_call_draws(model, contexts[key][:length], workload, clock)
            with clock.phase("aggregation"):
                made[unit] = _forecast(draws.double().numpy(), workload.aggregate)
    forecasts = {
        (call.sim, call.key, call.pred_idx): made[call.context if cache else call]
        for call in calls
        if (call.context if cache else call) in made
    }
    scale = len(units) / len(measured)
    seconds, breakdown = clock.finish(scale)
    return EngineResult(
        forecasts=forecasts,
        model_calls=len(units),
        forward_passes=len(units) * (workload.samples // workload.batch)
        * patches_to_decode(workload, model.config.patch_size),
        seconds=seconds,
        extrapolated=len(measured) < len(units),
        breakdown=breakdown,
    )


def next_step_distributions(
    model: TotoModel, contexts: list[torch.Tensor], clock: PhaseClock | None = None, step: int = 0
) -> tuple[MixtureParams, int]:
    """Mixture parameters [C, K] of step `step` (0 = the next one) of the patch after each
    context (in input order), from batched forwards over contexts of the same padded length.
    Returns (params, forward passes)."""
    clock = clock or PhaseClock(PHASES)
    patch = model.config.patch_size
    with clock.phase("grouping_padding"):
        by_padded: dict[int, list[int]] = {}
        for index, context in enumerate(contexts):
            by_padded.setdefault(-(-len(context) // patch) * patch, []).append(index)
        chunks = []
        for padded, members in sorted(by_padded.items()):
            rows = max(1, _MAX_TOKENS_PER_FORWARD // (padded // patch))
            chunks += [members[start : start + rows] for start in range(0, len(members), rows)]
    parts = []
    for members in chunks:
        with clock.phase("grouping_padding"):
            inputs, mask = left_pad([contexts[i] for i in members], patch)
        with clock.phase("forward"):
            parts.append(model.next_step_params(inputs, mask, step))
    with clock.phase("grouping_padding"):
        order = torch.as_tensor([i for members in chunks for i in members])
        params = MixtureParams.cat(parts).select(torch.argsort(order))
    return params, len(chunks)


def decodes_autoregressively(model: TotoModel, workload: Workload) -> bool:
    """Whether prediction_length needs more than the patch one forward pass forecasts."""
    return workload.prediction_length > model.config.patch_size


def optimized_draws(
    model: TotoModel, contexts: list[torch.Tensor], workload: Workload, clock: PhaseClock | None = None
) -> tuple[torch.Tensor, int]:
    """`samples` draws [C, samples] of the step prediction_length after each context, and the
    forward passes made. Within one patch: the needed step's mixture from one batched pass.
    Beyond (decodes_autoregressively): each context through the baseline's call."""
    clock = clock or PhaseClock(PHASES)
    if decodes_autoregressively(model, workload):
        draws = [baseline_call_draws(model, context, workload, clock) for context in contexts]
        passes = (workload.samples // workload.batch) * patches_to_decode(
            workload, model.config.patch_size
        )
        return torch.stack(draws), len(contexts) * passes
    params, passes = next_step_distributions(
        model, contexts, clock, step=workload.prediction_length - 1
    )
    with clock.phase("sampling"):
        return params.sample(workload.samples).T, passes


def optimized_engine(
    model: TotoModel,
    series: dict[str, np.ndarray],
    workload: Workload,
    *,
    seed: int = 0,
    max_calls: int | None = None,
) -> EngineResult:
    """The same forecast distribution for every call, each distinct context forecast once.
    max_calls is accepted for the registry's common signature and not used (it runs them all)."""
    calls = schedule(series, workload)
    clock = PhaseClock(PHASES)
    contexts = _contexts(series, workload.keys)
    distinct = list(dict.fromkeys(call.context for call in calls))
    with seeded_inference(seed):
        sampled, passes = optimized_draws(
            model, [contexts[key][:length] for key, length in distinct], workload, clock
        )
        with clock.phase("sampling"):
            draws = sampled.double().numpy()
    with clock.phase("aggregation"):
        points = aggregate(draws, workload.aggregate)
        lows, highs = quantile_band(draws)
        made = {
            context: Forecast(float(points[i]), float(lows[i]), float(highs[i]))
            for i, context in enumerate(distinct)
        }
    forecasts = {(call.sim, call.key, call.pred_idx): made[call.context] for call in calls}
    seconds, breakdown = clock.finish()
    notes = []
    if decodes_autoregressively(model, workload):
        notes.append(
            f"prediction length {workload.prediction_length} > {model.config.patch_size}: "
            "Toto decodes it autoregressively, so each distinct context ran the baseline's "
            "path (no one-pass shortcut is exact)"
        )
    return EngineResult(
        forecasts=forecasts,
        model_calls=len(distinct),
        forward_passes=passes,
        seconds=seconds,
        extrapolated=False,
        breakdown=breakdown,
        notes=notes,
    )
