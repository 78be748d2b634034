"""The backtest's Toto clamp under an environment: the API `migrate toto` uses to report the
floors the user's code really has instead of hard-coded ones, and `migrate explain` uses to say
what Toto runs with."""

from __future__ import annotations

import ast
import dataclasses
from typing import Any, Mapping

from migrator.backtest.evaluate import ModuleRaises, Unknown, Unresolvable, to_json
from migrator.backtest.facts import BacktestFacts, Resolved, Setting


@dataclasses.dataclass(frozen=True)
class TotoRuntime:
    """What Toto runs with after the module's clamp, and what changed it."""

    num_samples: Any  # int or Unknown
    samples_per_batch: Any
    clamped: bool  # the clamp changed a value
    why: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"num_samples": to_json(self.num_samples), "samples_per_batch": to_json(self.samples_per_batch),
                "clamped": self.clamped, "why": list(self.why)}


def toto_bounds(facts: BacktestFacts, env: Mapping[str, str]) -> dict[str, Resolved]:
    """The four clamp bounds as the module defines them, under `env`."""
    return {name: facts.resolved(setting, env) for name, setting in facts.toto_bounds.items()}


def toto_floors(facts: BacktestFacts, env: Mapping[str, str]) -> tuple[Resolved, Resolved]:
    """(min num_samples, min samples_per_batch) as the module defines them, under `env`."""
    bounds = toto_bounds(facts, env)
    return bounds["min_num_samples"], bounds["min_samples_per_batch"]


def clamp_toto(num_samples: int, samples_per_batch: int, low_ns: int, high_ns: int,
               low_spb: int, high_spb: int) -> tuple[int, int]:
    """The upstream backtest's clamp at the guide's commit: num_samples to [low, high],
    samples_per_batch to [low, high] and at most num_samples, then num_samples
    rounded down to a multiple of samples_per_batch."""
    ns = min(max(num_samples, low_ns), high_ns)
    spb = min(max(samples_per_batch, low_spb), high_spb, ns)
    if spb > 0:
        ns -= ns % spb
    return ns, spb


def effective_toto(facts: BacktestFacts, num_samples: Any, samples_per_batch: Any,
                   env: Mapping[str, str], *, aggregate: Any = None, symbol: str = "SYMBOL") -> TotoRuntime:
    """What the backtest runs for these values under `env`.

    First by following the module's own clamp function on them (exact, whatever its
    rules); when its code uses something the evaluator does not model, by the clamp
    upstream's backtest has at the guide's commit, with the bounds the module defines (said so in `why`).
    """
    if isinstance(facts.clamp_function, Unknown):
        return _unknown_runtime(facts.clamp_function.reason)
    for given in (num_samples, samples_per_batch):
        if isinstance(given, Unknown):
            return _unknown_runtime(given.reason)
        if not isinstance(given, int) or isinstance(given, bool):
            return _unknown_runtime(f"{given!r} is not an integer")
    clamp = facts.clamp_function
    name = clamp.text[4:]
    ran = _run_clamp(facts, name, num_samples, samples_per_batch, aggregate, symbol, env)
    if isinstance(ran, Unknown):
        return _unknown_runtime(ran.reason)
    if isinstance(ran, tuple):
        ns, spb = ran
        changed = (ns, spb) != (num_samples, samples_per_batch)
        why = (f"clamped by {name} ({clamp.location}) from {num_samples}/{samples_per_batch} "
               "(its own code, followed)",) if changed else ()
        return TotoRuntime(ns, spb, changed, why)
    bounds = toto_bounds(facts, env)
    unknown = [f"{key}: {b.value.reason}" for key, b in bounds.items() if isinstance(b.value, Unknown)]
    if not unknown:
        unknown = [f"{key} = {b.value!r} is not an integer" for key, b in bounds.items()
                   if not isinstance(b.value, int) or isinstance(b.value, bool)]
    if unknown:
        return _unknown_runtime(f"{name}'s code cannot be followed ({ran}) and its bounds are unknown: "
                                + "; ".join(unknown))
    low_ns, high_ns, low_spb, high_spb = (bounds[k].value for k in (
        "min_num_samples", "max_num_samples", "min_samples_per_batch", "max_samples_per_batch"))
    if min(low_ns, low_spb, high_spb, high_ns) < 1:
        return _unknown_runtime("a clamp bound below 1: what Toto does with it is not modelled")
    ns, spb = clamp_toto(num_samples, samples_per_batch, low_ns, high_ns, low_spb, high_spb)
    changed = (ns, spb) != (num_samples, samples_per_batch)
    why = (f"clamped by {name} ({clamp.location}) from {num_samples}/{samples_per_batch}, as the upstream "
           f"clamp is documented: num_samples in [{low_ns}, {high_ns}], samples_per_batch in "
           f"[{low_spb}, {high_spb}] and <= num_samples, num_samples a multiple of samples_per_batch "
           f"({name}'s own code could not be followed: {ran})",) if changed else ()
    return TotoRuntime(ns, spb, changed, why)


def _unknown_runtime(reason: str) -> TotoRuntime:
    return TotoRuntime(Unknown(reason), Unknown(reason), False, (reason,))


def _run_clamp(facts: BacktestFacts, name: str, num_samples: int, samples_per_batch: int, aggregate: Any,
               symbol: str, env: Mapping[str, str]) -> tuple[int, int] | Unknown | str:
    """The clamp function's result on these values; Unknown when the module's code fails on
    them; a str (why) when its code cannot be followed."""
    function = next(node for node in facts.tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
    params: dict[str, Any] = {"num_samples": num_samples, "samples_per_batch": samples_per_batch}
    if aggregate is not None and not isinstance(aggregate, Unknown):
        params["aggregate"] = aggregate
    spec = function.args
    required = spec.args[:len(spec.args) - len(spec.defaults)]
    symbols = [arg.arg for arg in required if "symbol" in arg.arg]
    others = [arg.arg for arg in required if "symbol" not in arg.arg]
    if len(others) != 1 or len(symbols) > 1:
        return f"its parameters ({', '.join(a.arg for a in spec.args)}) are not (symbol, params) or (params)"
    try:
        result = facts.evaluator(env).call_with_values(
            function, [], {others[0]: params, **{s: symbol for s in symbols}})
    except ModuleRaises as exc:
        return Unknown(f"the backtest fails in {name}: {exc}")
    except Unresolvable as exc:
        return str(exc)
    except RecursionError:
        return "it recurses too deeply to follow"

    if not isinstance(result, dict):
        return f"it returns {type(result).__name__}, not a dict"
    ns, spb = result.get("num_samples"), result.get("samples_per_batch")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (ns, spb)):
        return f"its result's num_samples/samples_per_batch are {ns!r}/{spb!r}"
    return ns, spb  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class TotoAdvice:
    """How to make the backtest run given Toto values: exports, or module lines to edit."""

    runtime: TotoRuntime  # what runs now, under the given environment
    exports: dict[str, str]  # env settings that lift the bounds in the way (read from the module)
    edits: tuple[str, ...]  # bounds no env var can move: "NAME = 64 (file:line)"
    takes_effect: bool  # with the exports, the values run as given (False: edits are needed too)

    def as_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime.as_json(), "exports": self.exports, "edits": list(self.edits),
                "takes_effect": self.takes_effect}


_BLOCKS = {  # bound -> (the target it limits, True for a lower bound)
    "min_num_samples": ("num_samples", True), "max_num_samples": ("num_samples", False),
    "min_samples_per_batch": ("samples_per_batch", True), "max_samples_per_batch": ("samples_per_batch", False),
}


def toto_advice(facts: BacktestFacts, num_samples: int, samples_per_batch: int,
                env: Mapping[str, str]) -> TotoAdvice:
    """For `migrate toto`: what the backtest runs for these values now, and the exports (the
    env vars the module's own bounds read) or edits that make them run as given. Each export
    is checked by evaluating the module's code with it set."""
    runtime = effective_toto(facts, num_samples, samples_per_batch, env)
    targets = {"num_samples": num_samples, "samples_per_batch": samples_per_batch}
    exports: dict[str, str] = {}
    edits: list[str] = []
    for bound, resolved in toto_bounds(facts, env).items():
        target, lower = _BLOCKS[bound]
        value = resolved.value
        if not isinstance(value, int) or (value <= targets[target] if lower else value >= targets[target]):
            continue
        setting = facts.toto_bounds[bound]
        moved = False
        for name in setting.env if isinstance(setting, Setting) else ():
            trial = {**env, name: str(targets[target])}
            moved = facts.value(setting, trial) == targets[target]
            if moved:
                exports[name] = str(targets[target])
                break
        if not moved and isinstance(setting, Setting):
            edits.append(f"{setting.name} = {value!r} ({setting.location})")
    after = effective_toto(facts, num_samples, samples_per_batch, {**env, **exports})
    takes_effect = (after.num_samples, after.samples_per_batch) == (num_samples, samples_per_batch)
    return TotoAdvice(runtime, exports, tuple(edits), takes_effect)
