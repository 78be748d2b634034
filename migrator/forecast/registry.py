"""The forecast engines by name: what `migrate profile`, the CLI and the benchmarks iterate over.

Every engine belongs to a model family (toto or kronos) and plays a role: `baseline` (the
procedure the user runs today) or `optimized` (the exact fast one). All share one call shape,
`Engine.run(model, data, workload, *, seed, max_calls) -> EngineResult`, where data and workload
are the family's (Toto: percent-change series and a Workload; Kronos: the OHLC frame and a
KronosWorkload) and max_calls=K times K calls and scales to all (Toto's optimized engine runs
every call and ignores it); `options` are the engine's own (kronos-baseline: max_steps).
Adding an engine is one entry here.

This module imports nothing heavy: an entry names its function, loaded on first run, so the
CLI can offer the roles without importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from migrator.forecast.engines import EngineResult

FAMILIES: tuple[str, ...] = ("toto", "kronos")


class Engine(Protocol):
    name: str
    family: str
    role: str

    def run(self, model: Any, data: Any, workload: Any, *, seed: int = 0,
            max_calls: int | None = None, **options: Any) -> EngineResult: ...


@dataclass(frozen=True)
class FunctionEngine:
    """An engine that is one function `module:name` with the Engine.run signature."""

    name: str
    family: str
    role: str
    target: str  # "module:function"
    description: str

    def run(self, model: Any, data: Any, workload: Any, *, seed: int = 0,
            max_calls: int | None = None, **options: Any) -> EngineResult:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)(
            model, data, workload, seed=seed, max_calls=max_calls, **options)


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (
    FunctionEngine("toto-baseline", "toto", "baseline", "migrator.forecast.engines:baseline_engine",
                   "Toto's forecaster call by call, as the guide's schedule makes them"),
    FunctionEngine("toto-optimized", "toto", "optimized", "migrator.forecast.engines:optimized_engine",
                   "each distinct context once, one trimmed batched pass, vectorised draws"),
    FunctionEngine("kronos-baseline", "kronos", "baseline", "migrator.forecast.kronos_engines:kronos_baseline_engine",
                   "Kronos's auto_regressive_inference: paths repeated, a full forward per step"),
    FunctionEngine("kronos-optimized", "kronos", "optimized",
                   "migrator.forecast.kronos_engines:kronos_optimized_engine",
                   "the window's shared context once per step, only each path's own tokens per path"),
)}
ROLES: tuple[str, ...] = tuple(dict.fromkeys(engine.role for engine in ENGINES.values()))


def engines_of(family: str) -> list[Engine]:
    """The family's engines in registry order (baselines first)."""
    return [engine for engine in ENGINES.values() if engine.family == family]


def engine_for(family: str, role: str) -> Engine:
    for engine in engines_of(family):
        if engine.role == role:
            return engine
    raise KeyError(f"no {role} engine for {family}")
