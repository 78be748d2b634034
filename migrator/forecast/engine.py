"""What every forecast engine shares, whatever its family: its result and its phase clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class EngineResult:
    """What an engine of any family returns (see registry.Engine).

    Toto's forecasts: (sim, key, pred_idx) -> forecast of the percent change prediction_length
    steps after the context (the next one by default). Kronos's: (sim, key) -> the pred_len
    predicted values of the key (the mean path, de-normalised).

    model_calls: forecasts the engine made (baseline: calls, or distinct contexts with cache;
    optimized: distinct contexts). forward_passes: model forward invocations. When extrapolated,
    seconds, breakdown and both counts are for the whole workload, scaled from the measured calls
    (calls cost the same), and forecasts holds only the measured calls.
    breakdown: seconds per phase (the family's PHASES); overhead is whatever the other phases do not cover.
    notes: how the engine forecast, where it departed from its usual path (one line each).
    """

    forecasts: dict[tuple, Any]  # Toto: (sim, key, pred_idx) -> Forecast; Kronos: (sim, key) -> path
    model_calls: int
    forward_passes: int
    seconds: float
    extrapolated: bool
    breakdown: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class PhaseClock:
    """Wall time per phase; overhead (the last phase) is the rest of the total."""

    def __init__(self, phases: tuple[str, ...]) -> None:
        self.spent = dict.fromkeys(phases, 0.0)
        self.started = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] += time.perf_counter() - start

    def finish(self, scale: float = 1.0) -> tuple[float, dict[str, float]]:
        total = time.perf_counter() - self.started
        self.spent["overhead"] = max(0.0, total - sum(self.spent.values()))
        return total * scale, {name: seconds * scale for name, seconds in self.spent.items()}


@contextmanager
def seeded_inference(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        yield
