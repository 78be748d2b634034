"""Kronos's own `KronosPredictor.predict` against the exact drop-in, per call as the backtest
makes it (pred_len 7, lookback = max_context, one frame), side by side in one run.

The real call is timed whole, or, with `baseline_steps=S` < pred_len, as a real predict of
pred_len S (the tokenizer over every path, S steps, the final decode) plus pred_len - S real
steps timed on their own: with lookback = max_context every step runs the same full window, so
the scaled figure is the whole call's cost. The exact call is timed whole, split into
tokenizer / shared window / per-path steps / sampling / decode, each part set against its
floor: the multiply-adds it must do at this machine's measured matmul rate.

The `--backend kronos` pipeline of `migrate profile`; it returns forecast.result's Profile.
Imports torch, numpy and pandas; Kronos's classes come from the module it is given.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from migrator.forecast.registry import BASELINE
from migrator.forecast.result import EngineTiming, Equivalence, Profile, Ratio, Speedup
from migrator.runtime.exact_kronos import PHASES, exact_predictor_class
from migrator.runtime.kronos_bench import (KronosCallShape, daily_frame, forwards_and_tokens, predictor_kwargs,
                                           random_kronos, tokenizer_kwargs)


@dataclass(frozen=True)
class KronosCallDetails:
    """`--backend kronos`'s own figures (text: forecast.render): the call's shape, how the real
    call was timed, the exact call's split against its floors, the work of each."""

    shape: KronosCallShape
    real_seconds: float
    real_timed: str  # "whole" or "first S steps + (pred_len - S) steps timed alone"
    exact_seconds: float
    exact_rounds: list[float]
    split: dict[str, float]
    floors: dict[str, float]
    work: dict[str, dict[str, float]]
    matmul_gflops: float
    max_rel_diff: float | None = None
    # CPU seconds of this process (one thread): less sensitive than wall time to other jobs
    # sharing the cores.
    real_cpu_seconds: float | None = None
    exact_cpu_seconds: float | None = None
    load: tuple = ()
    threads: int = 1  # torch's intra-op threads during the run

    @property
    def cpu_speedup(self) -> float | None:
        if not self.real_cpu_seconds or not self.exact_cpu_seconds:
            return None
        return self.real_cpu_seconds / self.exact_cpu_seconds

    def to_json(self, profile: Profile | None = None) -> dict:
        return {
            "threads": self.threads,
            "workload": vars(self.shape),
            "real": {"seconds": self.real_seconds, "cpu_seconds": self.real_cpu_seconds, "timed": self.real_timed},
            "exact": {"seconds": self.exact_seconds, "cpu_seconds": self.exact_cpu_seconds,
                      "rounds": self.exact_rounds, "split": self.split, "floor_seconds": self.floors},
            "speedup": self.real_seconds / self.exact_seconds, "cpu_speedup": self.cpu_speedup,
            "load_average": list(self.load), "work": self.work, "matmul_gflops": self.matmul_gflops,
            "max_rel_diff_same_seed": self.max_rel_diff,
        }


def kronos_call_profile(details: KronosCallDetails) -> Profile:
    """The real call against the exact drop-in as the one result type (forecast.result)."""
    real, exact = details.work["real"], details.work["exact"]
    engines = {
        "real": EngineTiming("real KronosPredictor.predict", details.real_seconds, (details.real_seconds,), 1,
                             int(real["forwards"]), BASELINE, extrapolated=details.real_timed != "whole"),
        "exact": EngineTiming("exact drop-in", details.exact_seconds, tuple(details.exact_rounds), 1,
                              int(exact["forwards"]), "optimized"),
    }
    cpu = "n/a" if details.cpu_speedup is None else f"{details.cpu_speedup:.1f}x"
    speedup = Speedup("Speed-up per call", Ratio(tuple(details.real_seconds / e for e in details.exact_rounds)),
                      ("real", details.real_seconds), ("exact", details.exact_seconds),
                      f"in CPU seconds: {cpu}; load average {details.load}")
    same_seed = Equivalence("Same seed, real and exact predictions",
                            None if details.max_rel_diff is None else {"max_rel_diff_same_seed": details.max_rel_diff},
                            "the real call ran only some of its steps")
    return Profile("kronos", engines, [speedup], [same_seed], details)


def matmul_gflops(dim: int = 512, rows: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 matmul rate now (best of `repeats`), for the floors."""
    a, b = torch.randn(rows, dim), torch.randn(dim, dim)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * rows * dim * dim / best / 1e9


def _block_flops(d: int, ff: int) -> float:
    return 2.0 * (4 * d * d + 3 * d * ff)  # q, k, v, out projections and the SwiGLU feed-forward


def exact_work(shape: KronosCallShape) -> dict[str, float]:
    """Floating-point operations each part of the exact call must do at least."""
    p, t = predictor_kwargs(shape.model), tokenizer_kwargs(shape.model)
    d, layers, ff, vocab = p["d_model"], p["n_layers"], p["ff_dim"], 2 ** p["s1_bits"]
    td, tblocks = t["d_model"], t["n_enc_layers"] - 1
    n, s, steps = shape.context, shape.samples, shape.pred_len
    per_token = layers * _block_flops(d, ff)
    shared = sum((n - i) * per_token + layers * 2.0 * (n - i) ** 2 * d + 2 * 2.0 * (n - i) * d * d
                 for i in range(steps))  # blocks, causal attention, the dependency layer's keys/values
    paths = 0.0
    for i in range(steps):
        window = n  # lookback = max_context: shared n - i plus own i
        paths += s * i * (per_token + layers * 4.0 * window * d + 4.0 * d * d)  # own tokens (+ dep k/v)
        paths += s * (2.0 * d * vocab * 2 + 4.0 * d * d + 4.0 * window * d)  # heads, dep query/out and attention
    tokenizer = n * (tblocks * _block_flops(td, t["ff_dim"]))
    decode = (n + s * steps) * (tblocks * _block_flops(td, t["ff_dim"]))
    return {"tokenizer": tokenizer, "shared": shared, "paths": paths, "decode": decode, "sampling": 0.0}


def _real_step_seconds(module: Any, predictor: Any, frame, shape: KronosCallShape) -> float:
    """One real step on the full window of every path, as auto_regressive_inference runs it."""
    rows, n = shape.samples, shape.context
    generator = torch.Generator().manual_seed(0)
    s1 = torch.randint(0, 1024, (rows, n), generator=generator)
    s2 = torch.randint(0, 1024, (rows, n), generator=generator)
    stamp = torch.zeros(rows, n, 5)
    stamp[..., 3], stamp[..., 4] = 1, 1
    with torch.no_grad():
        start = time.perf_counter()
        logits, context = predictor.model.decode_s1(s1, s2, stamp)
        pre = module.sample_from_logits(logits[:, -1, :], temperature=shape.temperature, top_k=shape.top_k,
                                        top_p=shape.top_p, sample_logits=True)
        logits2 = predictor.model.decode_s2(context, pre)
        module.sample_from_logits(logits2[:, -1, :], temperature=shape.temperature, top_k=shape.top_k,
                                  top_p=shape.top_p, sample_logits=True)
        return time.perf_counter() - start


def profile_kronos(module: Any, shape: KronosCallShape, *, baseline_steps: int | None = None, rounds: int = 3,
                   seed: int = 0, model: Any = None, tokenizer: Any = None, progress=None) -> Profile:
    """The real predict vs the exact one on the same frame, models and device (CPU here)."""
    if model is None:
        model, tokenizer = random_kronos(module, shape.model, seed=seed, random_biases=True)
    kwargs = dict(device="cpu", max_context=shape.context)
    real = module.KronosPredictor(model, tokenizer, **kwargs)
    exact = exact_predictor_class(module.KronosPredictor)(model, tokenizer, **kwargs)
    frame, x_ts, y_ts = daily_frame(shape.context, shape.pred_len, seed)
    call = dict(T=shape.temperature, top_k=shape.top_k, top_p=shape.top_p, sample_count=shape.samples,
                verbose=False)
    say = progress or (lambda message: None)

    rounds_seconds, rounds_cpu, predictions, split = [], [], None, {}

    def exact_round(index: int) -> None:
        nonlocal predictions, split
        before = dict(exact.exact_stats.seconds)
        torch.manual_seed(seed)
        start, cpu = time.perf_counter(), time.process_time()
        predictions = exact.predict(frame, x_ts, y_ts, pred_len=shape.pred_len, **call)
        rounds_seconds.append(time.perf_counter() - start)
        rounds_cpu.append(time.process_time() - cpu)
        split = {phase: exact.exact_stats.seconds[phase] - before[phase] for phase in PHASES}
        say(f"exact call {index + 1}/{rounds}: {rounds_seconds[-1]:.2f} s")

    # Half the exact rounds before the real call and half after: load drift on a shared
    # machine hits both sides.
    rounds = max(1, rounds)
    for index in range((rounds + 1) // 2):
        exact_round(index)
    steps = shape.pred_len if baseline_steps is None else max(1, min(baseline_steps, shape.pred_len))
    load_before = _load()
    torch.manual_seed(seed)
    start, cpu = time.perf_counter(), time.process_time()
    real_out = real.predict(frame, x_ts, y_ts.iloc[:steps] if steps < shape.pred_len else y_ts, pred_len=steps,
                            **call)
    real_seconds, real_cpu = time.perf_counter() - start, time.process_time() - cpu
    say(f"real call ({steps} of {shape.pred_len} steps): {real_seconds:.1f} s")
    diff = None
    if steps == shape.pred_len:
        timed = "whole"
        diff = float((np.abs(real_out.values - predictions.values) / np.abs(real_out.values).clip(1e-12)).max())
    else:
        cpu = time.process_time()
        step = _real_step_seconds(module, real, frame, shape)
        real_seconds += (shape.pred_len - steps) * step
        real_cpu += (shape.pred_len - steps) * (time.process_time() - cpu)
        timed = f"first {steps} step(s) + {shape.pred_len - steps} x one step timed alone ({step:.1f} s)"
        say(f"real step: {step:.1f} s")
    load_after = _load()
    for index in range((rounds + 1) // 2, rounds):
        exact_round(index)
    exact_seconds = statistics.median(rounds_seconds)
    rate = matmul_gflops(predictor_kwargs(shape.model)["d_model"])
    floors = {part: flops / (rate * 1e9) for part, flops in exact_work(shape).items()}
    return kronos_call_profile(KronosCallDetails(
        shape, real_seconds, timed, exact_seconds, rounds_seconds, split, floors, forwards_and_tokens(shape), rate,
        diff, real_cpu_seconds=real_cpu, exact_cpu_seconds=statistics.median(rounds_cpu),
        load=(load_before, load_after)))


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


KRONOS_INSTALL = "pip install --no-deps -r requirements/kronos.txt"


def real_kronos_module() -> Any:
    """Kronos's model code as kronos-finance vendors it; ImportError names the install line."""
    try:
        from kronos_finance._vendor.kronos_model import kronos
    except ImportError as error:
        raise ImportError(f"--backend kronos needs kronos-finance: {KRONOS_INSTALL} ({error})") from None
    return kronos


def profile_kronos_cli(*, model: str, samples: int, context: int, temperature: float, top_k: int, top_p: float,
                       baseline_steps: int | None, rounds: int, seed: int, threads: int | None,
                       progress=None) -> Profile:
    """`migrate profile --backend kronos`: BadInputError without kronos-finance or for a context
    no longer than pred_len."""
    import warnings

    from migrator.errors import BadInputError

    try:
        module = real_kronos_module()
    except ImportError as error:
        raise BadInputError(str(error).split(" (")[0]) from None
    if context <= 7:
        raise BadInputError(f"--kronos-context ({context}) must be longer than pred_len (7)")
    shape = KronosCallShape(model=model, samples=samples, context=context, temperature=temperature, top_k=top_k,
                            top_p=top_p)
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():  # pandas deprecations inside Kronos's calc_time_stamps
            warnings.simplefilter("ignore")
            result = profile_kronos(module, shape, baseline_steps=baseline_steps, rounds=rounds, seed=seed,
                                    progress=progress)
        details = dataclasses.replace(result.details, threads=torch.get_num_threads())
    finally:
        torch.set_num_threads(previous)
    return kronos_call_profile(details)
