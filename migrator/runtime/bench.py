"""Compare toto-ts's own forecaster with the exact one on the backtest's call pattern.

    from migrator.runtime.bench import compare
    print(compare())                        # random Toto-Open-Base-1.0 weights, the seed workload
    print(compare(model=my_toto.model))     # the user's own backbone (what TotoForecaster gets)

The backtest makes sims x keys x horizon calls one at a time: simulation s, key k, origin i
(farthest first) forecasts series[k][: N - (s + 1) - i]. Three ways to serve it:
- toto-ts: its own forecaster on every call (timed on `baseline_calls` calls spread evenly over
  the schedule, scaled to all calls: every call costs about the same);
- toto-ts + context cache: identical contexts computed once, as upstream's disk cache does
  (the same per-call time, scaled to the distinct contexts);
- exact: ExactTotoForecaster called per call in the backtest's order (timed on every call).
Ratios only mean something measured side by side in one run, on the same machine.

Imports torch and toto-ts only (and migrator.workload, pure Python).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from migrator.workload import Workload, evenly_spaced

BASE_CONFIG = dict(  # Toto-Open-Base-1.0's config.json (151M parameters)
    patch_size=64,
    stride=64,
    embed_dim=768,
    num_layers=12,
    num_heads=12,
    mlp_hidden_dim=3072,
    dropout=0.1,
    spacewise_every_n_layers=12,
    scaler_cls="<class 'model.scaler.CausalPatchStdMeanScaler'>",
    output_distribution_classes=["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
    output_distribution_kwargs={"k_components": 24},
    spacewise_first=True,
    use_memory_efficient_attention=False,  # xformers is not installed on CPU
    stabilize_with_global=True,
    scale_factor_exponent=10.0,
)

# The same architecture, small enough for CI: 4 layers (one space-wise), 8 mixture components.
SMALL_CONFIG = dict(
    BASE_CONFIG,
    embed_dim=64,
    num_layers=4,
    num_heads=4,
    mlp_hidden_dim=128,
    spacewise_every_n_layers=4,
    output_distribution_kwargs={"k_components": 8},
)

def random_backbone(config: dict, seed: int = 0) -> torch.nn.Module:
    """A seeded, randomly initialised Toto backbone (what upstream passes to TotoForecaster)."""
    from toto.model.toto import Toto

    torch.manual_seed(seed)
    model = Toto(**config)
    model.eval()
    return model.model


def masked(series: torch.Tensor):
    """A MaskedTimeseries as upstream's TotoPipeline builds it: all observed, one id, daily."""
    from toto.data.util.dataset import MaskedTimeseries

    return MaskedTimeseries(
        series=series,
        padding_mask=torch.ones_like(series, dtype=torch.bool),
        id_mask=torch.zeros_like(series, dtype=torch.int),
        timestamp_seconds=torch.zeros_like(series, dtype=torch.int),
        time_interval_seconds=torch.full(series.shape[:-1], 86400, dtype=torch.int),
    )


def synthetic_returns(length: int, seed: int) -> torch.Tensor:
    """Daily percent-change-like returns, float32 (the backtest feeds Toto percent changes)."""
    g = torch.Generator().manual_seed(seed)
    return (0.01 * torch.randn(length, generator=g)).to(torch.float32)


def backtest_contexts(series: dict[str, torch.Tensor], workload: Workload) -> Iterator[torch.Tensor]:
    """The contexts in the backtest's call order, each shaped (1 variate, length)."""
    for sim in range(workload.sims):
        for key in workload.keys:
            values = series[key]
            for origin in reversed(range(1, workload.horizon + 1)):
                yield values[: len(values) - (sim + 1) - origin].unsqueeze(0)


def workload_series(workload: Workload, seed: int = 0) -> dict[str, torch.Tensor]:
    length = workload.longest_context + 2
    return {key: synthetic_returns(length, seed + i) for i, key in enumerate(workload.keys)}


@dataclass
class Comparison:
    calls: int
    distinct_contexts: int
    baseline_calls_timed: int
    toto_ts_seconds: float  # estimated for all calls
    context_cache_seconds: float  # estimated for the distinct contexts
    exact_seconds: float  # measured, every call
    forwards: int
    rows_forwarded: int
    wasted_rows: int
    forward_share: float
    memo_bytes: int
    peak_rss_mib: float
    notes: list[str] = field(default_factory=list)

    @property
    def vs_toto_ts(self) -> float:
        return self.toto_ts_seconds / self.exact_seconds

    @property
    def vs_context_cache(self) -> float:
        return self.context_cache_seconds / self.exact_seconds

    def summary(self) -> str:
        return (
            f"{self.calls} calls ({self.distinct_contexts} distinct contexts): "
            f"toto-ts {self.toto_ts_seconds:.1f} s (est. from {self.baseline_calls_timed} calls), "
            f"toto-ts + context cache {self.context_cache_seconds:.1f} s (est.), "
            f"exact {self.exact_seconds:.2f} s: {self.vs_toto_ts:.0f}x and {self.vs_context_cache:.0f}x; "
            f"{self.forwards} forwards of {self.rows_forwarded} rows ({self.wasted_rows} speculative "
            f"rows unused), {100 * self.forward_share:.0f}% of the time in forwards, "
            f"memo {self.memo_bytes / 2**20:.1f} MiB, peak RSS {self.peak_rss_mib:.0f} MiB"
        )


def distinct_contexts(contexts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each different context once (same length and values: the same call), in schedule order."""
    return list({(c.shape[-1], c.numpy().tobytes()): c for c in contexts}.values())


def time_toto_ts_calls(forecaster, contexts: list[torch.Tensor], workload: Workload, chosen: int) -> float:
    """Mean seconds of one toto-ts forecast call, over `chosen` calls spread over the schedule."""
    picks = evenly_spaced(len(contexts), chosen)
    started = time.perf_counter()
    with torch.inference_mode():
        for i in picks:
            forecaster.forecast(
                masked(contexts[i]),
                workload.prediction_length,
                num_samples=workload.samples,
                samples_per_batch=workload.batch,
            )
    return (time.perf_counter() - started) / len(picks)


def run_exact(forecaster, contexts: list[torch.Tensor], workload: Workload) -> list:
    """Every call in the backtest's order, one at a time, as the user's loop makes them."""
    with torch.inference_mode():
        return [
            forecaster.forecast(
                masked(context),
                workload.prediction_length,
                num_samples=workload.samples,
                samples_per_batch=workload.batch,
            )
            for context in contexts
        ]


def compare(
    model: torch.nn.Module | None = None,
    workload: Workload = Workload(),
    baseline_calls: int = 3,
    seed: int = 0,
) -> Comparison:
    """Time toto-ts, toto-ts + context cache and the exact forecaster on one symbol's schedule."""
    from toto.inference.forecaster import TotoForecaster

    from .exact_toto import exact_forecaster_class

    model = random_backbone(BASE_CONFIG, seed) if model is None else model
    contexts = list(backtest_contexts(workload_series(workload, seed), workload))
    distinct = len(distinct_contexts(contexts))
    per_call = time_toto_ts_calls(TotoForecaster(model), contexts, workload, baseline_calls)
    exact = exact_forecaster_class(TotoForecaster)(model)
    started = time.perf_counter()
    run_exact(exact, contexts, workload)
    exact_seconds = time.perf_counter() - started
    stats = exact.exact_stats
    return Comparison(
        calls=len(contexts),
        distinct_contexts=distinct,
        baseline_calls_timed=min(len(contexts), max(1, baseline_calls)),
        toto_ts_seconds=per_call * len(contexts),
        context_cache_seconds=per_call * distinct,
        exact_seconds=exact_seconds,
        forwards=stats.forwards,
        rows_forwarded=stats.rows_forwarded,
        wasted_rows=stats.wasted_rows,
        forward_share=stats.forward_seconds / exact_seconds,
        memo_bytes=exact.memo_bytes(),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
