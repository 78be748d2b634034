"""The forecast engines by name: what `migrate profile`, the CLI and the benchmarks iterate over.

Every engine belongs to a model family (toto or kronos) and plays a role: `baseline` (the
procedure the user runs today) or `optimized` (an exact fast one). All share one call shape,
`Engine.run(model, data, workload, *, seed, max_calls) -> EngineResult`, where data and workload
are the family's (Toto: percent-change series and a Workload; Kronos: the OHLC frame and a
KronosWorkload) and max_calls=K times K calls and scales to all (Toto's optimized engine runs
every call and ignores it); `options` are the engine's own (a Kronos baseline: max_steps).
An engine's `check` (optional) compares it with its family's baseline:
`check(model, data, workload, *, pairs, seed) -> dict` with at least `same_distribution`.

Adding an engine is its module and one entry in ENGINES: `migrate profile` selects it by its
label (its name without the family prefix) or its role, times it in every round, sets it
against the family's first baseline, runs its check and shows it (docs/profile.md).

This module imports nothing heavy: an entry names its functions, loaded on first use, so the
CLI can offer the engines without importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from migrator.forecast.engine import EngineResult

BASELINE = "baseline"


class Engine(Protocol):
    name: str
    family: str
    role: str
    check: str | None

    def run(self, model: Any, data: Any, workload: Any, *, seed: int = 0,
            max_calls: int | None = None, **options: Any) -> EngineResult: ...

    def check_equivalence(self, model: Any, data: Any, workload: Any, *, pairs: int, seed: int = 0) -> dict: ...


def _load(target: str) -> Any:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class FunctionEngine:
    """An engine that is one function `module:name` with the Engine.run signature, and
    optionally a check `module:name` against the family's baseline."""

    name: str
    family: str
    role: str
    target: str  # "module:function"
    check: str | None = None  # "module:function"

    def run(self, model: Any, data: Any, workload: Any, *, seed: int = 0,
            max_calls: int | None = None, **options: Any) -> EngineResult:
        return _load(self.target)(model, data, workload, seed=seed, max_calls=max_calls, **options)

    def check_equivalence(self, model: Any, data: Any, workload: Any, *, pairs: int, seed: int = 0) -> dict:
        if self.check is None:
            raise KeyError(f"{self.name} names no check")
        return _load(self.check)(model, data, workload, pairs=pairs, seed=seed)


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (
    FunctionEngine("toto-baseline", "toto", "baseline", "migrator.forecast.toto.engines:baseline_engine"),
    FunctionEngine("toto-optimized", "toto", "optimized", "migrator.forecast.toto.engines:optimized_engine",
                   check="migrator.forecast.toto.equivalence:check_equivalence"),
    FunctionEngine("kronos-baseline", "kronos", "baseline", "migrator.forecast.kronos.engines:kronos_baseline_engine"),
    FunctionEngine("kronos-optimized", "kronos", "optimized",
                   "migrator.forecast.kronos.engines:kronos_optimized_engine",
                   check="migrator.forecast.kronos.equivalence:check_kronos_equivalence"),
)}
ROLES: tuple[str, ...] = tuple(dict.fromkeys(engine.role for engine in ENGINES.values()))


def label(engine: Engine) -> str:
    """The engine's name within its family (toto-optimized: optimized): its key in profiles."""
    return engine.name.removeprefix(f"{engine.family}-")


def labels() -> tuple[str, ...]:
    """Every engine label, in registry order, once."""
    return tuple(dict.fromkeys(label(engine) for engine in ENGINES.values()))


def engines_of(family: str) -> list[Engine]:
    """The family's engines in registry order (baselines first)."""
    return [engine for engine in ENGINES.values() if engine.family == family]


def chosen(family: str, names: tuple[str, ...] | list[str]) -> list[Engine]:
    """The family's engines that `names` (roles or labels) select, in registry order."""
    return [engine for engine in engines_of(family) if engine.role in names or label(engine) in names]


def engine_for(family: str, role: str) -> Engine:
    """The family's first engine of `role` (the one a benchmark or `check` compares against);
    profile iterates over `chosen`, so a second engine of a role is not hidden."""
    for engine in engines_of(family):
        if engine.role == role:
            return engine
    raise KeyError(f"no {role} engine for {family}")
