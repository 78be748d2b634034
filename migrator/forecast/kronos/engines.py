"""Kronos's forecast calls in the backtest, run two ways: as Kronos runs them, and exactly but fast.

The schedule (the backtest's, as marketsim runs Kronos): for every simulation s (the history minus
its last s+1 bars) the backtest calls Kronos on the last `context` (= max_context) bars for the
Close key (every key with all_keys, each key a separate call on the same frame), pred_len 7,
`samples` paths; the forecast is the mean path, de-normalised, read at the key's column.

- `baseline_call`: Kronos's auto_regressive_inference. The bars are repeated `samples` times and
  tokenised `samples` times; each step runs the whole predictor over the window of the last
  max_context tokens of every path (s1 logits and the dependency-aware layer at every
  position; only the last is used), samples s1 then s2, appends; finally every path's last
  max_context tokens are decoded and the paths averaged.
- `optimized_call`: the same distribution of every path. The bars are tokenised once (batch 1).
  At step i the window is the context tokens [start, n) (the same tokens, the same positions
  and, being causal, the same states in every path) followed by the path's own i generated
  tokens. The context part runs once (batch 1, "prefill"); only the generated tokens run per
  path, attending to its keys/values (kronos.Block.extend); s1 logits, the dependency-aware
  layer and s2 logits only at the last position. Nothing is carried from one step to the next:
  once the window slides its positions and states change, so a cache rolled across steps would
  not be exact. The final decode likewise runs the shared context tokens once and decodes only
  the generated tokens per path. `copies` independent calls on the same bars (the backtest's
  four keys with all_keys) run as one batch of copies x samples paths over one shared prefix,
  and several simulations' calls run as one batch, each group of paths over its own prefix.

Both take the random draws from torch's RNG (torch.multinomial) or, given `uniforms`
[pred_len, 2, paths], from those (kronos.sample_tokens), and can record each step's logits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from migrator.errors import BadInputError
from migrator.forecast.data import OHLCFrame
from migrator.forecast.engine import EngineResult, PhaseClock, seeded_inference
from migrator.forecast.kronos.model import (KronosModel, PrefixKV, SamplingParams, run_after_prefix, run_prefix,
                                      sample_tokens, time_stamps)
from migrator.workload import KEYS, evenly_spaced

PHASES = ("tokenizer", "prefill", "decoding", "sampling", "overhead")
# Paths per batched optimized call: bounds the per-path attention scores (paths x heads x
# steps x context floats per block) while batching small workloads' simulations together.
MAX_PATHS_PER_BATCH = 1024
FEATURE_COLUMNS = ("Open", "High", "Low", "Close")  # then volume, amount


@dataclass(frozen=True)
class KronosWorkload:
    sims: int = 50
    pred_len: int = 7
    samples: int = 160  # sample_count: paths per call
    context: int = 232  # max_context, and the lookback the backtest passes
    all_keys: bool = False  # the backtest calls Kronos for every key when it is the selected model
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.99
    clip: float = 5.0

    def __post_init__(self) -> None:
        for name in ("sims", "pred_len", "samples", "context"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BadInputError(f"--kronos-{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.pred_len >= self.context:
            raise BadInputError(f"the Kronos context ({self.context}) must be longer than pred_len ({self.pred_len})")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.clip <= 0:
            raise BadInputError("Kronos sampling needs temperature > 0, 0 < top_p <= 1, top_k >= 0, clip > 0")

    @property
    def keys(self) -> tuple[str, ...]:
        return KEYS if self.all_keys else ("Close",)

    @property
    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_k, self.top_p)

    @property
    def calls(self) -> int:
        return self.sims * len(self.keys)


@dataclass(frozen=True)
class KronosInput:
    """One call's inputs: bars z-scored with their own mean/std and clipped, [n, 6]; time stamps
    of the bars and of the pred_len bars after them [n + pred_len, 5]; the statistics to undo."""

    bars: torch.Tensor
    stamps: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def prepare_input(frame: OHLCFrame, end: int, workload: KronosWorkload) -> KronosInput:
    """The last `context` bars before row `end`, as Kronos's predict() prepares them: volume
    zero-filled when absent, amount = volume x mean(OHLC); future stamps one day apart."""
    start = end - workload.context
    if start < 0:
        raise BadInputError(f"{frame.source}: Kronos needs {workload.context} bars of context, have {end}")
    prices = np.stack([frame.column(name)[start:end] for name in FEATURE_COLUMNS], axis=-1)
    volume = np.nan_to_num(frame.volume[start:end], nan=0.0)
    amount = volume * prices.mean(axis=-1)
    values = torch.as_tensor(np.column_stack([prices, volume, amount]), dtype=torch.float32)
    mean, std = values.mean(0), values.std(0, correction=0)  # np.std, as Kronos computes it
    bars = ((values - mean) / (std + 1e-5)).clamp(-workload.clip, workload.clip)
    last = frame.timestamps[end - 1]
    future = last + np.arange(1, workload.pred_len + 1) * np.timedelta64(1, "D")
    stamps = time_stamps(np.concatenate([frame.timestamps[start:end], future]))
    return KronosInput(bars, stamps, mean, std)


def denormalise(predicted: torch.Tensor, inputs: KronosInput) -> torch.Tensor:
    return predicted * (inputs.std + 1e-5) + inputs.mean


class KronosClock(PhaseClock):
    """Seconds per Kronos phase (PHASES)."""

    def __init__(self) -> None:
        super().__init__(PHASES)


@dataclass
class CallTrace:
    """What a call saw: per step, the s1 and s2 logits [paths, V] it sampled from and the tokens;
    each path's decoded pred_len bars [paths, pred_len, 6] (normalised) before the mean."""

    paths: torch.Tensor | None = None
    s1_logits: list[torch.Tensor] = field(default_factory=list)
    s2_logits: list[torch.Tensor] = field(default_factory=list)
    s1: list[torch.Tensor] = field(default_factory=list)
    s2: list[torch.Tensor] = field(default_factory=list)


def _draw(logits: torch.Tensor, workload: KronosWorkload, uniforms: torch.Tensor | None, step: int,
          which: int) -> torch.Tensor:
    return sample_tokens(logits, workload.sampling, None if uniforms is None else uniforms[step, which])


def _record(trace: CallTrace | None, which: str, logits: torch.Tensor, tokens: torch.Tensor) -> None:
    if trace is not None:
        getattr(trace, f"{which}_logits").append(logits.clone())
        getattr(trace, which).append(tokens.clone())


def baseline_call(model: KronosModel, inputs: KronosInput, workload: KronosWorkload, *,
                  uniforms: torch.Tensor | None = None, trace: CallTrace | None = None,
                  clock: KronosClock | None = None, steps: int | None = None) -> torch.Tensor:
    """Kronos's auto_regressive_inference for one call: the mean path [pred_len, 6], de-normalised.
    steps=K stops after K steps (for timing: see estimate_baseline_call)."""
    clock = clock or KronosClock()
    paths, window = workload.samples, workload.context
    steps = workload.pred_len if steps is None else min(steps, workload.pred_len)
    predictor = model.predictor
    with clock.phase("tokenizer"):
        repeated = inputs.bars[None].repeat(paths, 1, 1)
        s1, s2 = model.tokenizer.encode(repeated)
    stamps = inputs.stamps[None].repeat(paths, 1, 1)
    length = s1.shape[1]
    for step in range(steps):
        current = length + step
        start = max(0, current - window)
        with clock.phase("decoding"):
            logits, hidden = predictor.decode_s1(s1[:, start:current], s2[:, start:current],
                                                 stamps[:, start:current])
            logits = logits[:, -1]
        with clock.phase("sampling"):
            token1 = _draw(logits, workload, uniforms, step, 0)
        _record(trace, "s1", logits, token1)
        with clock.phase("decoding"):
            logits2 = predictor.decode_s2(hidden, token1[:, None])[:, -1]
        with clock.phase("sampling"):
            token2 = _draw(logits2, workload, uniforms, step, 1)
        _record(trace, "s2", logits2, token2)
        s1 = torch.cat([s1, token1[:, None]], dim=1)
        s2 = torch.cat([s2, token2[:, None]], dim=1)
    with clock.phase("tokenizer"):
        start = max(0, length + steps - window)
        decoded = model.tokenizer.decode(s1[:, start:], s2[:, start:])
        mean_path = decoded.mean(0)[-steps:]
    if trace is not None:
        trace.paths = decoded[:, -steps:].clone()
    return denormalise(mean_path, inputs)


def estimate_baseline_call(model: KronosModel, inputs: KronosInput, workload: KronosWorkload, *,
                           steps: int = 1) -> dict[str, float]:
    """Seconds per phase (PHASES) of one baseline call, timed on its first `steps` steps and
    scaled to pred_len. Exact in cost: with the backtest's lookback = max_context every step runs
    the same window length, and the tokenizer encodes once and decodes one window either way."""
    clock = KronosClock()
    with torch.inference_mode():
        baseline_call(model, inputs, workload, clock=clock, steps=steps)
    _, spent = clock.finish()
    scale = workload.pred_len / min(steps, workload.pred_len)
    return {phase: seconds * (scale if phase in ("decoding", "sampling") else 1.0) for phase, seconds in spent.items()}


def optimized_call(model: KronosModel, inputs: KronosInput, workload: KronosWorkload, *, copies: int = 1,
                   uniforms: torch.Tensor | None = None, trace: CallTrace | None = None,
                   clock: KronosClock | None = None) -> torch.Tensor:
    """`copies` independent calls on the same bars, each with `samples` paths drawn from the
    baseline's distribution: their mean paths [copies, pred_len, 6], de-normalised."""
    return optimized_calls(model, [inputs], workload, copies=copies, uniforms=uniforms, trace=trace, clock=clock)[0]


def optimized_calls(model: KronosModel, inputs: list[KronosInput], workload: KronosWorkload, *, copies: int = 1,
                    uniforms: torch.Tensor | None = None, trace: CallTrace | None = None,
                    clock: KronosClock | None = None) -> torch.Tensor:
    """Calls on G different windows of bars (of one length) in one batch, `copies` independent
    calls each: their mean paths [G, copies, pred_len, 6]. Every path is drawn from the baseline's
    distribution; paths are ordered window-major, and uniforms are [pred_len, 2, G*copies*samples]."""
    clock = clock or KronosClock()
    groups, per_group = len(inputs), copies * workload.samples
    paths, window, steps = groups * per_group, workload.context, workload.pred_len
    predictor, tokenizer = model.predictor, model.tokenizer
    stamps = torch.stack([one.stamps for one in inputs])  # [G, n + pred_len, 5]
    with clock.phase("tokenizer"):
        context1, context2 = tokenizer.encode(torch.stack([one.bars for one in inputs]))  # [G, n]
    length = context1.shape[1]
    generated1 = context1.new_empty(paths, 0)
    generated2 = context2.new_empty(paths, 0)
    for step in range(steps):
        current = length + step
        start = max(0, current - window)
        own_from = max(0, start - length)  # the generated tokens still in the window
        with clock.phase("prefill"):
            shared = predictor.embed(context1[:, start:], context2[:, start:], stamps[:, start:length])
            cache, shared_out = run_prefix(predictor.blocks, shared, need_output=True)
            shared_hidden = predictor.norm(shared_out)
            shared_dep = PrefixKV(*predictor.dep.key_value(shared_hidden))
        with clock.phase("decoding"):
            own_hidden = None
            if step > own_from:
                own_stamps = stamps[:, length + own_from:current].repeat_interleave(per_group, dim=0)
                own = predictor.embed(generated1[:, own_from:], generated2[:, own_from:], own_stamps)
                own_hidden = predictor.norm(run_after_prefix(predictor.blocks, own, cache))
                last = own_hidden[:, -1]
                logits = predictor.head_s1(last)
            else:  # no generated token yet: the last position is the shared one, the same logits per window
                last = shared_hidden[:, -1].repeat_interleave(per_group, dim=0)
                logits = predictor.head_s1(shared_hidden[:, -1]).repeat_interleave(per_group, dim=0)
        with clock.phase("sampling"):
            token1 = _draw(logits, workload, uniforms, step, 0)
        _record(trace, "s1", logits, token1)
        with clock.phase("decoding"):
            own_dep = None if own_hidden is None else predictor.dep.key_value(own_hidden)
            mixed = predictor.dep.last_position(last, predictor.emb_s1(token1)[:, None], shared_dep, own_dep)
            logits2 = predictor.head_s2(mixed)
        with clock.phase("sampling"):
            token2 = _draw(logits2, workload, uniforms, step, 1)
        _record(trace, "s2", logits2, token2)
        generated1 = torch.cat([generated1, token1[:, None]], dim=1)
        generated2 = torch.cat([generated2, token2[:, None]], dim=1)
    with clock.phase("tokenizer"):
        start = max(0, length + steps - window)  # < length: pred_len < context
        shared = tokenizer.quantized(context1[:, start:], context2[:, start:])
        cache, _ = run_prefix(tokenizer.decoder, shared, need_output=False)
        own = run_after_prefix(tokenizer.decoder, tokenizer.quantized(generated1, generated2), cache)
        decoded = tokenizer.head(own)  # only the generated bars: the rest is never read
        mean_paths = decoded.reshape(groups, copies, workload.samples, steps, -1).mean(2)
    if trace is not None:
        trace.paths = decoded.clone()
    return torch.stack([denormalise(mean_paths[g], one) for g, one in enumerate(inputs)])


@dataclass(frozen=True)
class KronosCall:
    sim: int
    end: int  # the call sees the `context` bars before this row


def kronos_schedule(frame: OHLCFrame, workload: KronosWorkload) -> list[KronosCall]:
    """One call per simulation (per key with all_keys: the same bars each time)."""
    needed = workload.sims + workload.context
    frame.require_rows(needed, f"Kronos ({workload.sims} simulations x {workload.context} bars of context)")
    return [KronosCall(sim, len(frame) - (sim + 1)) for sim in range(workload.sims)]


def _forecasts(call: KronosCall, keys: tuple[str, ...], paths: list[torch.Tensor]) -> dict:
    column = {name: index for index, name in enumerate(FEATURE_COLUMNS)}
    return {(call.sim, key): path[:, column[key]].double().numpy() for key, path in zip(keys, paths)}


def kronos_baseline_engine(model: KronosModel, frame: OHLCFrame, workload: KronosWorkload, *, seed: int = 0,
                           max_calls: int | None = None, max_steps: int | None = None) -> EngineResult:
    """The backtest's Kronos calls, each as Kronos runs it (one per key and simulation).
    max_calls=K: K calls spread over the simulations, timed and scaled to all (they cost the same).
    max_steps=S: each timed call runs its first S steps and its decoding and sampling are scaled
    to pred_len (estimate_baseline_call: every step runs the same full window); no forecasts."""
    calls = kronos_schedule(frame, workload)
    keys = workload.keys
    units = [(call, key) for call in calls for key in keys]
    measured = [units[i] for i in evenly_spaced(len(units), max_calls)]
    partial = max_steps is not None and max_steps < workload.pred_len
    started = time.perf_counter()
    spent = dict.fromkeys(PHASES, 0.0)
    forecasts: dict = {}
    with seeded_inference(seed):
        for call, key in measured:
            inputs = prepare_input(frame, call.end, workload)
            if partial:
                split = estimate_baseline_call(model, inputs, workload, steps=max_steps)
            else:
                clock = KronosClock()
                forecasts.update(_forecasts(call, (key,), [baseline_call(model, inputs, workload, clock=clock)]))
                split = clock.finish()[1]
            spent = {phase: spent[phase] + split[phase] for phase in PHASES}
    if not partial:  # the wall clock, not the sum of the calls' clocks, as for the other engines
        spent["overhead"] += max(0.0, time.perf_counter() - started - sum(spent.values()))
    scale = len(units) / len(measured)
    notes = [f"each timed call ran {max_steps} of its {workload.pred_len} steps, scaled (every step runs the "
             "same full window)"] if partial else []
    return EngineResult(forecasts=forecasts, model_calls=len(units),
                        forward_passes=len(units) * workload.pred_len, seconds=sum(spent.values()) * scale,
                        extrapolated=len(measured) < len(units) or partial,
                        breakdown={phase: seconds * scale for phase, seconds in spent.items()}, notes=notes)


def kronos_optimized_engine(model: KronosModel, frame: OHLCFrame, workload: KronosWorkload, *, seed: int = 0,
                            max_calls: int | None = None) -> EngineResult:
    """The schedule's calls, several simulations per batch (up to MAX_PATHS_PER_BATCH paths), the
    keys of one simulation over one shared prefix. max_calls=K: the calls of K simulations spread
    over the schedule, timed and scaled to all (None: every call, every forecast)."""
    calls = kronos_schedule(frame, workload)
    measured = [calls[i] for i in evenly_spaced(len(calls), max_calls)]
    keys = workload.keys
    per_sim = len(keys) * workload.samples
    group = max(1, MAX_PATHS_PER_BATCH // per_sim)
    clock = KronosClock()
    forecasts: dict = {}
    with seeded_inference(seed):
        for first in range(0, len(measured), group):
            chunk = measured[first:first + group]
            paths = optimized_calls(model, [prepare_input(frame, call.end, workload) for call in chunk], workload,
                                    copies=len(keys), clock=clock)
            for call, sim_paths in zip(chunk, paths):
                forecasts.update(_forecasts(call, keys, list(sim_paths)))
    seconds, breakdown = clock.finish(len(calls) / len(measured))
    # Per batch and step: one pass over the shared context parts, one over the paths' own tokens
    # (none at step 0).
    batches = -(-len(calls) // group)
    return EngineResult(forecasts=forecasts, model_calls=len(calls) * len(keys),
                        forward_passes=batches * (2 * workload.pred_len - 1), seconds=seconds,
                        extrapolated=len(measured) < len(calls), breakdown=breakdown,
                        notes=[f"simulations per batch: up to {min(group, len(measured))} ({per_sim} paths each)"])
