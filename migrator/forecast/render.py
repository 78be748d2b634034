"""`migrate profile`'s text, for every backend: `render_text(result)` takes what any backend returns
(bundled: the guide's table per engine, Kronos as its own row, the ratios; toto-ts: the table of
its three engines; kronos: one real call against the exact drop-in). The JSON is each result's
`to_json()`.

Rendering only: everything shown comes from the result.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from migrator.forecast.profile import SECTIONS, EngineProfile, ProfileResult, Ratio
from migrator.forecast.registry import BASELINE
from migrator.forecast.toto.toto_ts_profile import TotoTsProfile
from migrator.runtime.exact_kronos import PHASES as KRONOS_CALL_PHASES
from migrator.runtime.kronos_profile import KronosProfile as RealKronosProfile

SECTION_LABELS = {
    "forecasting": "Forecasting (Toto)",
    "kronos": "Forecasting (Kronos)",
    "maxdiff": "MaxDiff optimization",
    "data_processing": "Data processing",
    "other": "Other",
}
BREAKDOWN_LABELS = {
    "forward": "forward",
    "sampling": "sampling",
    "aggregation": "aggregation",
    "grouping_padding": "grouping/padding",
    "tokenizer": "tokenizer",
    "prefill": "shared prefill",
    "decoding": "decoding steps",
    "overhead": "Python overhead",
}


@singledispatch
def render_text(profile: Any) -> str:
    raise TypeError(f"no text for {type(profile).__name__}")


@render_text.register
def _(profile: ProfileResult) -> str:
    """The guide's table per engine, then the speed-ups and the equivalence lines."""
    w = profile.workload
    weights = _weights(profile.checkpoint)
    lines = [
        f"Profile of one symbol: {profile.data_source}; Toto {profile.model} "
        f"({profile.parameters:,} parameters, {weights})",
        f"Toto workload: {w.sims} simulations x {len(w.keys)} keys x {w.horizon} origins = "
        f"{w.sims * len(w.keys) * w.horizon:,} forecasts; {w.samples} samples in batches of {w.batch}; "
        f"aggregate {w.aggregate}; contexts of {profile.context_lengths[0]:,} to {profile.context_lengths[1]:,} points",
    ]
    if w.prediction_length != 1:
        lines.append(f"Prediction length {w.prediction_length}: each forecast aggregates the samples of the "
                     f"step {w.prediction_length} ahead of its context")
    kronos = profile.kronos
    if kronos is not None:
        k = kronos.settings.workload
        kweights = _weights(kronos.settings.checkpoint)
        lines.append(f"Kronos workload: Kronos-{kronos.settings.model} ({kronos.parameters:,} parameters, {kweights}); "
                     f"{k.sims} simulations x {len(k.keys)} key(s) ({', '.join(k.keys)}) = {k.calls:,} calls of "
                     f"{k.samples} paths x {k.pred_len} steps on the last {k.context} bars (T {k.temperature}, "
                     f"top_k {k.top_k}, top_p {k.top_p})")
    lines.append(f"Each engine ran {profile.rounds} interleaved round(s); times are medians of the rounds")
    for name, engine in profile.engines.items():
        result = engine.result
        lines += ["", f"{name.capitalize()} engines: Toto {_count(result.model_calls, 'model call')}, "
                      f"{_count(result.forward_passes, 'forward pass', 'forward passes')}"]
        if result.extrapolated:
            lines.append(f"  Toto timed on {engine.timed_calls:,} of its {result.model_calls:,} calls and scaled to all "
                         "(its calls cost the same: each runs the same passes on a context of similar length)")
        lines += [f"  {note}" for note in result.notes]
        kronos_engine = None if kronos is None else kronos.engines.get(name)
        if kronos_engine is not None:
            kresult = kronos_engine.result
            scaled = (f", timed on {_count(kronos_engine.timed_calls, 'call')} (the same for both engines) "
                      "and scaled to all (its calls cost the same)" if kresult.extrapolated else "")
            lines.append(f"  Kronos: {_count(kresult.model_calls, 'call')}, "
                         f"{_count(kresult.forward_passes, 'predictor pass', 'predictor passes')}{scaled}")
            lines += [f"  Kronos: {note}" for note in kresult.notes]
        lines += _table(engine, None if kronos_engine is None else kronos_engine.seconds)
        lines.append(_breakdown("Inside Toto forecasting", result.breakdown))
        if kronos_engine is not None:
            lines.append(_breakdown("Inside Kronos forecasting", kronos_engine.result.breakdown))
        budget_note = "MARKETSIM_FAST_OPTIMIZE" if profile.maxdiff_budget < 500 else "full budget"
        lines.append(f"  MaxDiff: {engine.maxdiff_fits} fits (one per simulation), {engine.maxdiff_evaluations:,} "
                     f"objective evaluations (budget {profile.maxdiff_budget} each: {budget_note})")
        if engine.maxdiff_unforecast_sims:
            lines.append(f"  MaxDiff for the {engine.maxdiff_unforecast_sims} simulations the timed calls did not "
                         "forecast ran on a no-change prediction (same cost)")
    lines.append("")
    base = _reference(profile.engines)
    for name, fast in _compared(profile.engines):
        scaled = f", extrapolated from {base.timed_calls:,} calls" if base.result.extrapolated else ""
        lines.append(f"Speed-up in Toto forecasting{_which(name, profile.engines)}: {_ratio(fast.speedup)} (baseline "
                     f"{_seconds(base.seconds)}{scaled}; {name} {_seconds(fast.seconds)}); "
                     f"Toto's backtest: {base.total_seconds / fast.total_seconds:,.0f}x")
    kronos_base = None if kronos is None else _reference(kronos.engines)
    for name, fast in [] if kronos is None else _compared(kronos.engines):
        scaled = (f"; both extrapolated from {_count(kronos_base.timed_calls, 'call')}"
                  if kronos_base.result.extrapolated else "")
        lines.append(f"Speed-up in Kronos forecasting{_which(name, kronos.engines)}: {_ratio(fast.speedup)} "
                     f"(baseline {_seconds(kronos_base.seconds)}; {name} {_seconds(fast.seconds)}{scaled})")
    whole = profile.whole_backtest()
    if whole is not None:
        lines.append(f"Whole backtest ({'Toto + Kronos + ' if kronos is not None else 'Toto + '}MaxDiff + data): "
                     f"baseline {_seconds(whole['baseline_seconds'])}, optimized {_seconds(whole['optimized_seconds'])}: "
                     f"{whole['speedup']:,.0f}x")
    for name, eq in profile.equivalences.items():
        lines.append(f"Equivalence{_which(name, profile.equivalences)} on {profile.equivalence_pairs} (key, origin) "
                     f"pairs: {_verdict(eq)}")
    if kronos is not None:
        if kronos.equivalences is None:
            lines.append("Kronos equivalence: not checked (--kronos-equivalence-calls 0)")
        for name, eq in (kronos.equivalences or {}).items():
            lines.append(f"Kronos equivalence{_which(name, kronos.equivalences)} on "
                         f"{_count(len(eq.get('calls', ())), 'call')}: {_verdict(eq)}")
    return "\n".join(lines)


def _reference(engines: dict) -> Any:
    return next((engine for engine in engines.values() if engine.role == BASELINE), None)


def _compared(engines: dict) -> list[tuple[str, Any]]:
    """The engines set against the reference baseline, in registry order."""
    return [(name, engine) for name, engine in engines.items() if engine.speedup is not None]


def _which(name: str, entries: dict) -> str:
    """Names the engine when a family compares more than the optimized one (text unchanged otherwise)."""
    return "" if list(entries) in (["optimized"], ["baseline", "optimized"]) else f" ({name})"


def _verdict(eq: dict) -> str:
    """A check's result: Toto's (parameters, KS), Kronos's (tokens, logits, KS) or any other
    check's same_distribution with whatever figures it gives."""
    same = f"same distribution: {'yes' if eq['same_distribution'] else 'NO'}"
    if "ks_min_pvalue" in eq:
        params = ("n/a: both engines decode autoregressively" if eq.get("max_param_rel_diff") is None
                  else f"{eq['max_param_rel_diff']:.1e}")
        return f"{same} (max parameter relative difference {params}, smallest KS p-value {eq['ks_min_pvalue']:.3f})"
    if "same_tokens" in eq:
        return (f"{same} (same draws give the same tokens: {'yes' if eq['same_tokens'] else 'NO'}; max logit "
                f"relative difference {eq['max_logit_rel_diff']:.1e}; KS p-value of the paths {eq['pvalue']:.3f})")
    return same


def _ratio(ratio: Ratio) -> str:
    if len(ratio.rounds) == 1:
        return f"{ratio.median:,.0f}x"
    return f"{ratio.median:,.0f}x (median of {len(ratio.rounds)} rounds, {min(ratio.rounds):,.0f}x-{max(ratio.rounds):,.0f}x)"


def _breakdown(title: str, breakdown: dict[str, float]) -> str:
    total = sum(breakdown.values())
    if total <= 0:
        return f"  {title}: nothing timed"
    parts = [f"{BREAKDOWN_LABELS.get(part, part)} {100 * seconds / total:.1f}%" for part, seconds in breakdown.items()]
    return f"  {title} (round 1): {', '.join(parts)}"


def _table(engine: EngineProfile, kronos_seconds: float | None) -> list[str]:
    rows = [(SECTION_LABELS[name], engine.sections[name]) for name in SECTIONS]
    if kronos_seconds is not None:
        rows.insert(1, (SECTION_LABELS["kronos"], kronos_seconds))
    total = sum(seconds for _, seconds in rows)
    lines = ["  | Component            |       Time | % of total |",
             "  |----------------------|------------|------------|"]
    for label, seconds in rows:
        share = 100 * seconds / total if total > 0 else 0.0
        lines.append(f"  | {label:<20} | {_seconds(seconds):>10} | {share:>9.1f}% |")
    lines.append(f"  | {'Total':<20} | {_seconds(total):>10} | {100.0 if total > 0 else 0.0:>9.1f}% |")
    return lines


def _weights(checkpoint: object | None) -> str:
    return "seeded random weights" if checkpoint is None else f"weights from {checkpoint}"


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value:.4f} s"


TOTO_TS_ENGINE_LABELS = {
    "toto_ts": "toto-ts forecaster, per call",
    "toto_ts_cached": "toto-ts + context cache",
    "exact": "exact forecaster, per call",
}


@render_text.register
def render_toto_ts_text(profile: TotoTsProfile) -> str:
    """`migrate profile --backend toto-ts`: one table of the three engines, the ratios, equivalence."""
    weights = _weights(profile.checkpoint)
    lines = [
        f"Profile on toto-ts {profile.toto_ts_version}: Toto {profile.model} ({profile.parameters:,} parameters, "
        f"{weights}); {profile.data_source}",
        f"Workload: {profile.sims} simulations x {len(profile.keys)} keys x {profile.horizon} origins = "
        f"{_count(profile.calls, 'call')} one at a time in the backtest's order ({profile.distinct_contexts:,} distinct "
        f"contexts of {profile.context_lengths[0]:,} to {profile.context_lengths[1]:,} points); {profile.samples} "
        f"samples in batches of {profile.batch}; prediction length {profile.prediction_length}",
    ]
    if profile.default_sims:
        lines.append(f"A short run: {profile.sims} simulations by default with --backend toto-ts; the backtest's "
                     "whole schedule: --sims 50")
    lines.append(f"Each engine ran {profile.rounds} interleaved round(s); times are medians of the rounds. "
                 f"toto-ts timed on {_count(profile.baseline_calls, 'call')} per round (K = {profile.baseline_calls}) "
                 "and scaled (its calls cost the same)")
    lines += ["",
              "  | Engine                       |       Time | Model calls | Forward rows |",
              "  |------------------------------|------------|-------------|--------------|"]
    for name, engine in profile.engines.items():
        time_text = _seconds(engine.seconds) + (" +" if engine.derived else " *" if engine.extrapolated else "")
        lines.append(f"  | {TOTO_TS_ENGINE_LABELS[name]:<28} | {time_text:>10} | {engine.model_calls:>11,} | "
                     f"{engine.forward_rows:>12,} |")
    lines.append("  * estimated from the timed calls")
    if any(engine.derived for engine in profile.engines.values()):
        lines.append("  + derived, not timed: toto-ts's per-call time x the distinct contexts (a cache hit costs a "
                     "lookup)")
    stats = profile.exact_stats
    lines += ["",
              f"Speed-up of the exact forecaster: {_ratio(Ratio(profile.speedup['vs_toto_ts']))} vs toto-ts, "
              f"{_ratio(Ratio(profile.speedup['vs_cached']))} vs toto-ts + context cache",
              f"Exact forecaster (round 1): {_count(stats['forwards'], 'forward')} of "
              f"{stats['rows_forwarded']:,} rows ({stats['speculative_rows_unused']:,} speculative rows unused), "
              f"{100 * stats['forward_share']:.0f}% of its time in forwards, memo {stats['memo_mib']:.1f} MiB; "
              f"peak RSS {profile.peak_rss_mib:,.0f} MiB"]
    eq = profile.equivalence
    params = ("n/a: beyond one patch the exact forecaster calls toto-ts" if eq["max_param_rel_diff"] is None
              else f"{eq['max_param_rel_diff']:.1e}, tolerance {eq['param_tolerance']:.0e}")
    lines.append(f"Equivalence on {_count(len(eq['contexts']), 'context')} vs toto-ts: same distribution: "
                 f"{'yes' if eq['same_distribution'] else 'NO'} (max parameter relative difference {params}; "
                 f"smallest KS p-value {eq['pvalue']:.3f}, threshold {eq['ks_threshold']:.4f})")
    return "\n".join(lines)


@render_text.register
def render_real_kronos_text(profile: RealKronosProfile) -> str:
    """`--backend kronos`: the real call, the exact one, the split against its floors, the work."""
    shape = profile.shape
    lines = [
        f"Kronos-{shape.model}, {shape.samples} paths, context {shape.context} (lookback = max_context), "
        f"pred_len {shape.pred_len}, {profile.threads} thread(s), CPU",
        f"  real KronosPredictor.predict: {profile.real_seconds:.2f} s per call ({profile.real_timed})",
        f"  exact drop-in:                {profile.exact_seconds:.3f} s per call (median of "
        f"{len(profile.exact_rounds)})",
        f"  speed-up per call:            {profile.speedup:.1f}x (in CPU seconds: "
        f"{profile.cpu_speedup or float('nan'):.1f}x; load average {profile.load})",
        "  exact call split (last round): part, seconds, floor at "
        f"{profile.matmul_gflops:.0f} GFLOP/s, x floor",
    ]
    for part in KRONOS_CALL_PHASES:
        seconds, floor = profile.split[part], profile.floors.get(part, 0.0)
        ratio = f"{seconds / floor:.1f}x" if floor > 0 else "-"
        lines.append(f"    {part:<10} {seconds:8.3f} s  {floor:8.3f} s  {ratio}")
    real, exact = profile.work["real"], profile.work["exact"]
    lines.append(f"  forwards per call: real {real['forwards']}, exact {exact['forwards']}; tokens per forward: "
                 f"real {real['tokens_per_forward']:.0f}, exact {exact['tokens_per_forward']:.0f}; tokens: "
                 f"real {real['tokens']:.0f}, exact {exact['tokens']:.0f} ({real['tokens'] / exact['tokens']:.0f}x)")
    if profile.max_rel_diff is not None:
        lines.append(f"  same seed, largest relative difference of the predictions: {profile.max_rel_diff:.1e}")
    return "\n".join(lines)
