"""One symbol's backtest per engine, timed the way the speed-up guide's table splits it.

For each Toto engine the backtest is: data processing (percent-change series from the bars,
and each simulation's validation bars), forecasting (the engine: every (simulation, key,
origin) forecast), MaxDiff optimisation (one offset fit per simulation on its `horizon`
validation days) and other (whatever the wall clock saw beyond those three). Kronos's calls
(the Close key of every simulation, every key with all_keys) are their own row: the whole
backtest of a role is its Toto backtest plus its Kronos forecasting. Loading the bars and
building the models happen once, before the engines, and are reported as setup.
With a prediction_length above 1 MaxDiff still pairs each forecast with the bar right after
its context (the backtest's pairing, for prediction_length 1): the fit costs the same.

Stable figures: each family's engines run in `rounds` interleaved rounds (optimized, then
baseline); each speed-up is the median of the rounds' ratios, reported with its min-max, and
each engine's seconds the median of its rounds. The tables' other sections come from round 1.
Long baselines are timed on K calls and scaled (they cost the same); both Kronos engines are
timed on the same K calls (simulations spread over the schedule) and scaled.

The equivalence of each optimized engine with its baseline is checked in the same run.
Nothing here prints; `progress(message)` is called before each long step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from migrator.errors import BadInputError
from migrator.forecast.data import OHLCFrame, load_csv, pct_change_series, synthetic_ohlc
from migrator.forecast.engine import EngineResult
from migrator.forecast.equivalence import check_engines
from migrator.forecast.kronos.engines import KronosWorkload, kronos_schedule
from migrator.forecast.kronos.model import KRONOS_CONFIGS, PUBLIC_MODELS, build_kronos
from migrator.forecast.maxdiff import ValidationDays, evaluation_budget, fit_offsets
from migrator.forecast.registry import BASELINE, ROLES, Engine, chosen, label, labels
from migrator.forecast.result import Equivalence, EngineTiming, Profile, Ratio, Speedup, counted
from migrator.forecast.toto.engines import Forecast
from migrator.forecast.toto.model import MODEL_CONFIGS, build_model
from migrator.workload import Workload

ENGINES: tuple[str, ...] = (*ROLES, *(name for name in labels() if name not in ROLES))  # what `engines=` takes
SECTIONS: tuple[str, ...] = ("forecasting", "maxdiff", "data_processing", "other")
# The earliest forecast still sees at least one full patch of history.
MIN_CONTEXT = 64
Progress = Callable[[str], None]


def _ratio(baseline: Sequence[float], optimized: Sequence[float]) -> Ratio | None:
    if not baseline or not optimized:
        return None
    return Ratio(tuple(b / o for b, o in zip(baseline, optimized)))


def _reference_and_lead(engines: dict[str, Any]) -> tuple[Any, Any] | None:
    """The reference baseline (the family's first baseline run) and the first engine compared
    with it, from a profile's engines (registry order); None unless both ran."""
    compared = [engine for engine in engines.values() if engine.speedup is not None]
    reference = next((engine for engine in engines.values() if engine.role == BASELINE), None)
    return None if reference is None or not compared else (reference, compared[0])


def _lead_speedup(engines: dict[str, Any]) -> Ratio | None:
    return next((engine.speedup for engine in engines.values() if engine.speedup is not None), None)


def timing_order(engines: list[Engine]) -> list[Engine]:
    """Interleaved within a round, the others before the baselines (the cheap ones first)."""
    return [e for e in engines if e.role != BASELINE] + [e for e in engines if e.role == BASELINE]


def speedups(engines: list[Engine], seconds: dict[str, list[float]]) -> dict[str, Ratio]:
    """Each engine's rounds against the family's first chosen baseline (its reference)."""
    reference = next((engine for engine in engines if engine.role == BASELINE), None)
    if reference is None:
        return {}
    return {label(engine): _ratio(seconds[label(reference)], seconds[label(engine)])
            for engine in engines if engine is not reference}


def _engine_json(result: EngineResult, seconds: float, timed_calls: int, rounds: Sequence[float]) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "model_calls": result.model_calls,
        "forward_passes": result.forward_passes,
        "extrapolated": result.extrapolated,
        "timed_calls": timed_calls,
        "breakdown": dict(result.breakdown),
        "round_seconds": list(rounds),
    }


@dataclasses.dataclass(frozen=True)
class EngineProfile:
    """One Toto engine's backtest of the symbol."""

    result: EngineResult  # round 1
    sections: dict[str, float]  # seconds per SECTIONS entry (forecasting: the median of the rounds)
    timed_calls: int  # model calls actually run (fewer than result.model_calls if extrapolated)
    maxdiff_fits: int
    maxdiff_evaluations: int
    # Simulations whose High/Low forecasts the (extrapolated) engine did not produce: their
    # MaxDiff fit runs on a no-change prediction, which costs the same.
    maxdiff_unforecast_sims: int
    round_seconds: tuple[float, ...] = ()  # forecasting seconds of each round
    role: str = ""
    speedup: Ratio | None = None  # forecasting, against the family's reference baseline

    @property
    def seconds(self) -> float:
        return self.sections["forecasting"]

    @property
    def total_seconds(self) -> float:
        return sum(self.sections.values())

    def to_json(self) -> dict[str, Any]:
        return {
            **_engine_json(self.result, self.seconds, self.timed_calls, self.round_seconds),
            "role": self.role,
            "speedup": None if self.speedup is None else self.speedup.to_json(),
            "notes": list(self.result.notes),
            "sections": dict(self.sections),
            "total_seconds": self.total_seconds,
            "maxdiff": {
                "fits": self.maxdiff_fits,
                "evaluations": self.maxdiff_evaluations,
                "unforecast_sims": self.maxdiff_unforecast_sims,
            },
        }


@dataclasses.dataclass(frozen=True)
class KronosSettings:
    """What `migrate profile` runs of Kronos: the workload, the shape, how the baseline is timed."""

    workload: KronosWorkload
    model: str = "mini"
    checkpoint: Path | None = None
    calls: int | None = 1  # both engines timed on the same K calls and scaled; None: every call
    baseline_steps: int | None = None  # the baseline's timed calls run S of their steps, scaled
    equivalence_calls: int = 1  # 0: not checked (a full baseline call each: long at the real shape)


@dataclasses.dataclass(frozen=True)
class KronosEngineProfile:
    result: EngineResult  # round 1
    timed_calls: int
    round_seconds: tuple[float, ...]
    role: str = ""
    speedup: Ratio | None = None  # against the family's reference baseline

    @property
    def seconds(self) -> float:
        return statistics.median(self.round_seconds)

    def to_json(self) -> dict[str, Any]:
        return {**_engine_json(self.result, self.seconds, self.timed_calls, self.round_seconds),
                "role": self.role, "speedup": None if self.speedup is None else self.speedup.to_json(),
                "notes": list(self.result.notes)}


@dataclasses.dataclass(frozen=True)
class KronosProfile:
    settings: KronosSettings
    parameters: int
    engines: dict[str, KronosEngineProfile]  # by engine label, registry order
    equivalences: dict[str, dict[str, Any]] | None  # by engine label; None: not checked
    equivalence_seconds: float

    @property
    def speedup(self) -> Ratio | None:
        """The first compared engine's speed-up over the reference baseline."""
        return _lead_speedup(self.engines)

    @property
    def equivalence(self) -> dict[str, Any] | None:
        return None if not self.equivalences else next(iter(self.equivalences.values()))

    def to_json(self) -> dict[str, Any]:
        w = self.settings.workload
        return {
            "workload": {
                "model": self.settings.model,
                "parameters": self.parameters,
                "checkpoint": None if self.settings.checkpoint is None else str(self.settings.checkpoint),
                "sims": w.sims, "keys": list(w.keys), "pred_len": w.pred_len, "samples": w.samples,
                "context": w.context, "temperature": w.temperature, "top_k": w.top_k, "top_p": w.top_p,
                "clip": w.clip,
            },
            "engines": {name: engine.to_json() for name, engine in self.engines.items()},
            "speedup": None if self.speedup is None else self.speedup.median,
            "speedup_range": None if self.speedup is None else self.speedup.to_json(),
            "equivalence": None if self.equivalence is None else {**self.equivalence,
                                                                  "seconds": self.equivalence_seconds},
            "equivalences": self.equivalences,
        }


@dataclasses.dataclass(frozen=True)
class BundledDetails:
    """The bundled backend's own figures: the guide's table per engine, Kronos, setup."""

    workload: Workload
    model: str
    checkpoint: Path | None  # None: seeded random weights
    parameters: int
    data_source: str
    context_lengths: tuple[int, int]  # (shortest, longest) context of the workload
    seed: int
    maxdiff_budget: int
    setup_seconds: dict[str, float]  # "data" (load or generate bars), "model" (build), "kronos_model"
    engines: dict[str, EngineProfile]  # by engine label, registry order
    equivalences: dict[str, dict[str, Any]]  # by engine label: each registered check's result
    equivalence_pairs: int  # (key, origin) pairs checked
    equivalence_seconds: float
    peak_rss_mib: float
    rounds: int = 1
    kronos: KronosProfile | None = None

    @property
    def equivalence(self) -> dict[str, Any] | None:
        """The first registered check's result (the optimized engine's)."""
        return next(iter(self.equivalences.values()), None)

    @property
    def speedup_rounds(self) -> Ratio | None:
        """Toto forecasting: the first compared engine's rounds of baseline / engine."""
        return _lead_speedup(self.engines)

    @property
    def speedup(self) -> float | None:
        """Toto forecasting: the median over rounds of baseline / optimized (None unless both ran)."""
        return None if self.speedup_rounds is None else self.speedup_rounds.median

    @property
    def total_speedup(self) -> float | None:
        """The same ratio for Toto's whole backtest (all four sections)."""
        pair = _reference_and_lead(self.engines)
        return None if pair is None else pair[0].total_seconds / pair[1].total_seconds

    def whole_backtest(self) -> dict[str, float] | None:
        """Toto's backtest plus Kronos's forecasting: the reference baseline against the first
        compared engine of each family (None unless both ran)."""
        pair = _reference_and_lead(self.engines)
        if pair is None:
            return None
        seconds = [engine.total_seconds for engine in pair]
        if self.kronos is not None:
            kronos_pair = _reference_and_lead(self.kronos.engines)
            if kronos_pair is None:
                return None
            seconds = [toto + kronos.seconds for toto, kronos in zip(seconds, kronos_pair)]
        return {"baseline_seconds": seconds[0], "optimized_seconds": seconds[1], "speedup": seconds[0] / seconds[1]}

    def to_json(self, profile: Profile | None = None) -> dict[str, Any]:
        w = self.workload
        return {
            "workload": {
                "sims": w.sims,
                "keys": list(w.keys),
                "horizon": w.horizon,
                "samples": w.samples,
                "batch": w.batch,
                "prediction_length": w.prediction_length,
                "aggregate": w.aggregate,
                "model": self.model,
                "parameters": self.parameters,
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
                "context_length": self.context_lengths[1],
                "context_length_min": self.context_lengths[0],
                "data": self.data_source,
                "seed": self.seed,
                "maxdiff_budget": self.maxdiff_budget,
                "rounds": self.rounds,
            },
            "setup_seconds": dict(self.setup_seconds),
            "engines": {name: profile.to_json() for name, profile in self.engines.items()},
            "speedup": self.speedup,
            "speedup_range": None if self.speedup_rounds is None else self.speedup_rounds.to_json(),
            "total_speedup": self.total_speedup,
            "equivalence": None if self.equivalence is None else {**self.equivalence,
                                                                  "seconds": self.equivalence_seconds},
            "equivalences": self.equivalences,
            "kronos": None if self.kronos is None else self.kronos.to_json(),
            "whole_backtest": self.whole_backtest(),
            "peak_rss_mib": self.peak_rss_mib,
        }


def run_profile(
    workload: Workload,
    *,
    engines: Sequence[str] = ENGINES,
    model: str = "small",
    checkpoint: Path | None = None,
    data: Path | None = None,
    seed: int = 0,
    baseline_calls: int | None = 4,
    equivalence_pairs: int = 4,
    rounds: int = 3,
    kronos: KronosSettings | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
) -> Profile:
    """Backtest one symbol with each engine role in `engines`; bars from `data` (CSV) or synthetic.

    `baseline_calls`: time the Toto baseline on K calls spread over the schedule and scale to
    all of them (None: run every call). `kronos`: also run Kronos's calls (None: Toto only).
    `threads`: torch's intra-op threads for the run (None: as set), restored afterwards.
    Errors in the inputs raise BadInputError before any model work.
    """
    _validate(workload, engines, model, baseline_calls, equivalence_pairs, rounds, kronos)
    with torch_threads(threads):
        return _run_profile(workload, engines, model, checkpoint, data, seed, baseline_calls, equivalence_pairs,
                            rounds, kronos, progress or (lambda message: None))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `threads` (None: as set) for the block and restored
    afterwards; BadInputError before the block when `threads` is below 1."""
    if threads is not None and threads < 1:
        raise BadInputError(f"--threads must be at least 1, got {threads}")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def require_workload_rows(frame: OHLCFrame, sims: int, horizon: int) -> None:
    """BadInputError naming the bars' source unless `frame` has enough bars for `sims`
    simulations of `horizon` origins, the earliest forecast seeing MIN_CONTEXT points."""
    frame.require_rows(sims + horizon + 1 + MIN_CONTEXT,
                       f"the workload ({sims} simulations, horizon {horizon}, "
                       f"{MIN_CONTEXT} points of context for the earliest forecast)")


def _run_profile(workload: Workload, engines: Sequence[str], model: str, checkpoint: Path | None,
                 data: Path | None, seed: int, baseline_calls: int | None, equivalence_pairs: int, rounds: int,
                 kronos: KronosSettings | None, say: Progress) -> Profile:
    started = time.perf_counter()
    frame = synthetic_ohlc(seed=seed) if data is None else load_csv(data)
    require_workload_rows(frame, workload.sims, workload.horizon)
    if kronos is not None:
        kronos_schedule(frame, kronos.workload)  # too few bars: BadInputError now
    shortest, longest = context_lengths(len(frame), workload)
    loaded = time.perf_counter()
    network = build_model(model, seed=seed, checkpoint=checkpoint)
    built = time.perf_counter()
    kronos_network = None if kronos is None else build_kronos(kronos.model, seed=seed, checkpoint=kronos.checkpoint)
    kronos_built = time.perf_counter()
    series = pct_change_series(frame)  # for the later rounds and the equivalence (round 1 times its own)

    toto_engines = chosen("toto", engines)
    profiles: dict[str, EngineProfile] = {}
    seconds: dict[str, list[float]] = {label(engine): [] for engine in toto_engines}
    for round_index in range(rounds):
        for engine in timing_order(toto_engines):
            name = label(engine)
            say(f"Toto {name} engine, round {round_index + 1} of {rounds}")
            if round_index == 0:
                profiles[name] = _backtest(engine, network, frame, workload, seed, baseline_calls)
                seconds[name].append(profiles[name].result.seconds)
            else:
                seconds[name].append(engine.run(
                    network, series, workload, seed=seed + round_index, max_calls=baseline_calls).seconds)
    ratios = speedups(toto_engines, seconds)
    profiles = {label(engine): _with_rounds(profiles[label(engine)], engine.role, seconds[label(engine)],
                                            ratios.get(label(engine))) for engine in toto_engines}
    say(f"Toto equivalence on {equivalence_pairs} (key, origin) pairs")
    equivalence_started = time.perf_counter()
    equivalences = check_engines("toto", network, series, workload, pairs=equivalence_pairs, seed=seed)
    equivalence_seconds = time.perf_counter() - equivalence_started
    kronos_profile = None
    if kronos is not None:
        kronos_profile = _kronos_profile(kronos_network, frame, kronos, engines, rounds, seed, say)
    return bundled_profile(BundledDetails(
        workload=workload,
        model=model,
        checkpoint=checkpoint,
        parameters=sum(p.numel() for p in network.parameters()),
        data_source=frame.source,
        context_lengths=(shortest, longest),
        seed=seed,
        maxdiff_budget=evaluation_budget(),
        setup_seconds={"data": loaded - started, "model": built - loaded, "kronos_model": kronos_built - built},
        engines=profiles,
        equivalences=equivalences,
        equivalence_pairs=min(equivalence_pairs, len(workload.keys) * (workload.sims + workload.horizon - 1)),
        equivalence_seconds=equivalence_seconds,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        rounds=rounds,
        kronos=kronos_profile,
    ))


def bundled_profile(details: BundledDetails) -> Profile:
    """The bundled run as the one result type: every engine of both families, each compared
    engine's speed-up over its family's reference baseline, the whole backtest, the checks."""
    kronos = details.kronos
    families = {"Toto": details.engines, **({"Kronos": kronos.engines} if kronos is not None else {})}
    engines = {f"{family.lower()}-{name}": EngineTiming(
        f"{family} {name}", engine.seconds, engine.round_seconds, engine.result.model_calls,
        engine.result.forward_passes, engine.role, engine.result.extrapolated)
        for family, family_engines in families.items() for name, engine in family_engines.items()}
    speedups = []
    for family, family_engines in families.items():
        reference = next((engine for engine in family_engines.values() if engine.role == BASELINE), None)
        for name, engine in family_engines.items():
            if engine.speedup is None:
                continue
            if family == "Toto":
                scaled = (f"the baseline extrapolated from {counted(reference.timed_calls, 'call')}; "
                          if reference.result.extrapolated else "")
                note = f"{scaled}Toto's backtest: {reference.total_seconds / engine.total_seconds:,.0f}x"
            else:
                note = (f"both extrapolated from {counted(reference.timed_calls, 'call')}"
                        if reference.result.extrapolated else "")
            speedups.append(Speedup(f"Speed-up in {family} forecasting{_which(name, family_engines)}",
                                    engine.speedup, ("baseline", reference.seconds), (name, engine.seconds), note))
    whole = details.whole_backtest()
    if whole is not None:
        speedups.append(Speedup(
            f"Whole backtest ({'Toto + Kronos + ' if kronos is not None else 'Toto + '}MaxDiff + data)",
            Ratio((whole["speedup"],)), ("baseline", whole["baseline_seconds"]),
            ("optimized", whole["optimized_seconds"])))
    equivalences = [Equivalence(f"Equivalence{_which(name, details.equivalences)} on {details.equivalence_pairs} "
                                "(key, origin) pairs", outcome) for name, outcome in details.equivalences.items()]
    if kronos is not None and kronos.equivalences is None:
        equivalences.append(Equivalence("Kronos equivalence", None, "--kronos-equivalence-calls 0"))
    for name, outcome in (kronos.equivalences or {}).items() if kronos is not None else ():
        equivalences.append(Equivalence(f"Kronos equivalence{_which(name, kronos.equivalences)} on "
                                        f"{counted(len(outcome.get('calls', ())), 'call')}", outcome))
    return Profile("bundled", engines, speedups, equivalences, details, forwards_unit="Forward passes")


def _which(name: str, entries: dict) -> str:
    """Names the engine when a family compares more than the optimized one (text unchanged otherwise)."""
    return "" if list(entries) in (["optimized"], ["baseline", "optimized"]) else f" ({name})"


def _with_rounds(profile: EngineProfile, role: str, rounds: list[float], speedup: Ratio | None) -> EngineProfile:
    sections = {**profile.sections, "forecasting": statistics.median(rounds)}
    return dataclasses.replace(profile, sections=sections, round_seconds=tuple(rounds), role=role, speedup=speedup)


def _kronos_profile(network: Any, frame: OHLCFrame, settings: KronosSettings, names: Sequence[str], rounds: int,
                    seed: int, say: Progress) -> KronosProfile:
    kronos_engines = chosen("kronos", names)
    results: dict[str, EngineResult] = {}
    seconds: dict[str, list[float]] = {label(engine): [] for engine in kronos_engines}
    for round_index in range(rounds):
        for engine in timing_order(kronos_engines):
            name = label(engine)
            say(f"Kronos {name} engine, round {round_index + 1} of {rounds}")
            # Every engine on the same K calls, scaled: a like-for-like ratio per call (the
            # optimized engine batches only those K simulations together).
            options = {"max_steps": settings.baseline_steps} if engine.role == BASELINE else {}
            result = engine.run(network, frame, settings.workload, seed=seed + round_index,
                                max_calls=settings.calls, **options)
            results.setdefault(name, result)
            seconds[name].append(result.seconds)
    ratios = speedups(kronos_engines, seconds)
    engines = {}
    for engine in kronos_engines:
        result = results[label(engine)]
        timed = min(settings.calls, result.model_calls) if result.extrapolated and settings.calls else result.model_calls
        engines[label(engine)] = KronosEngineProfile(result, timed, tuple(seconds[label(engine)]), engine.role,
                                                     ratios.get(label(engine)))
    started = time.perf_counter()
    equivalences = None
    if settings.equivalence_calls:
        say(f"Kronos equivalence on {settings.equivalence_calls} call(s)")
        equivalences = check_engines("kronos", network, frame, settings.workload, pairs=settings.equivalence_calls,
                                     seed=seed)
    return KronosProfile(
        settings=settings,
        parameters=sum(p.numel() for p in network.parameters()),
        engines=engines,
        equivalences=equivalences,
        equivalence_seconds=time.perf_counter() - started,
    )


def context_lengths(rows: int, workload: Workload) -> tuple[int, int]:
    """(shortest, longest) context over the schedule for `rows` bars.

    The series has rows - 1 changes; simulation s drops its last s + 1 bars, and origin
    p = 1..horizon forecasts its series' p-th value from the end from everything before it.
    """
    changes = rows - 1
    return changes - workload.sims - workload.horizon, changes - 2


def validation_row(rows: int, sim: int, origin: int) -> int:
    """The bar a (simulation, origin) forecast predicts; origin counts 1..horizon back from the end."""
    return rows - sim - 1 - origin


def _backtest(engine: Engine, network: Any, frame: OHLCFrame, workload: Workload, seed: int,
              baseline_calls: int | None) -> EngineProfile:
    started = time.perf_counter()
    series = pct_change_series(frame)
    data_processing = time.perf_counter() - started

    result = engine.run(network, series, workload, seed=seed, max_calls=baseline_calls)
    engine_finished = time.perf_counter()
    timed_calls = _timed_calls(result, baseline_calls)

    days, unforecast = validation_days(frame, result.forecasts, workload)
    fitting = time.perf_counter()
    evaluations = sum(fit_offsets(simulation).evaluations for simulation in days)
    finished = time.perf_counter()
    data_processing += fitting - engine_finished
    maxdiff = finished - fitting

    # The engine's own clock covers what it reports; the rest of its wall time (building the
    # schedule, collecting results) is "other". An extrapolated engine's clock ran for
    # timed_calls / model_calls of its reported seconds.
    engine_clocked = result.seconds * timed_calls / result.model_calls
    return EngineProfile(
        result=result,
        sections={
            "forecasting": result.seconds,
            "maxdiff": maxdiff,
            "data_processing": data_processing,
            "other": max(0.0, finished - started - engine_clocked - maxdiff - data_processing),
        },
        timed_calls=timed_calls,
        maxdiff_fits=len(days),
        maxdiff_evaluations=evaluations,
        maxdiff_unforecast_sims=unforecast,
    )


def validation_days(frame: OHLCFrame, forecasts: dict[tuple[int, str, int], Forecast],
                    workload: Workload) -> tuple[list[ValidationDays], int]:
    """Each simulation's MaxDiff inputs: its `horizon` forecast bars (oldest first) with the
    High/Low point forecasts for them, and how many simulations lacked some of those forecasts
    (an extrapolated engine's): their missing predictions are 0.0, a no-change prediction."""
    origins = range(workload.horizon, 0, -1)  # oldest bar first
    simulations, unforecast = [], 0
    for sim in range(workload.sims):
        today = np.array([validation_row(len(frame), sim, origin) for origin in origins])
        yesterday = today - 1
        predicted = {key: [forecasts.get((sim, key, origin)) for origin in origins] for key in ("High", "Low")}
        if any(f is None for values in predicted.values() for f in values):
            unforecast += 1
        points = {key: np.array([0.0 if f is None else f.point for f in values]) for key, values in predicted.items()}
        simulations.append(ValidationDays(
            prev_high=frame.high[yesterday], prev_low=frame.low[yesterday],
            open=frame.open[today], high=frame.high[today], low=frame.low[today], close=frame.close[today],
            pred_high=points["High"], pred_low=points["Low"],
        ))
    return simulations, unforecast


def _timed_calls(result: EngineResult, baseline_calls: int | None) -> int:
    if result.extrapolated and baseline_calls is not None:
        return min(baseline_calls, result.model_calls)
    return result.model_calls


def _validate(workload: Workload, engines: Sequence[str], model: str, baseline_calls: int | None,
              equivalence_pairs: int, rounds: int, kronos: KronosSettings | None) -> None:
    # Workload itself rejects non-positive sizes, samples not a multiple of batch and unknown aggregates.
    missing_keys = {"High", "Low"} - set(workload.keys)
    if missing_keys:
        raise BadInputError(f"MaxDiff needs the High and Low keys; the workload lacks {', '.join(sorted(missing_keys))}")
    unknown = [name for name in engines if name not in ENGINES]
    if unknown or not engines:
        raise BadInputError(f"unknown engine {', '.join(unknown) or '(none)'}; choose from {', '.join(ENGINES)}")
    if model not in MODEL_CONFIGS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODEL_CONFIGS)}")
    if baseline_calls is not None and baseline_calls < 1:
        raise BadInputError(f"--baseline-calls must be at least 1 (or all), got {baseline_calls}")
    if equivalence_pairs < 1:
        raise BadInputError(f"equivalence needs at least 1 (key, origin) pair, got {equivalence_pairs}")
    if rounds < 1:
        raise BadInputError(f"--rounds must be at least 1, got {rounds}")
    if kronos is not None:
        if kronos.model not in KRONOS_CONFIGS:
            raise BadInputError(f"unknown Kronos model {kronos.model!r}; choose from {', '.join(PUBLIC_MODELS)}")
        if kronos.baseline_steps is not None and kronos.baseline_steps < 1:
            raise BadInputError(f"--kronos-baseline-steps must be at least 1, got {kronos.baseline_steps}")
        if kronos.calls is not None and kronos.calls < 1:
            raise BadInputError(f"--kronos-calls must be at least 1 (or all), got {kronos.calls}")
        if kronos.equivalence_calls < 0:
            raise BadInputError(f"--kronos-equivalence-calls must be at least 0, got {kronos.equivalence_calls}")
