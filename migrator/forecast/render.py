"""`migrate profile`'s text, for every backend: `render_text(profile)` draws what all share (the
engines' timing table, the speed-ups as medians of rounds with their min-max, the equivalence
lines) in one code path; each backend's `details` add only its own lines (bundled: the guide's
table per engine with Kronos as its own row; toto-ts: the exact forecaster's work; kronos: the
exact call's split against its floors). The JSON is `Profile.to_json()`.

Rendering only: everything shown comes from the result.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from migrator.forecast.profile import SECTIONS, BundledDetails, EngineProfile
from migrator.forecast.result import Equivalence, Profile, Ratio, Speedup, counted, seconds_text, times_text
from migrator.forecast.toto.toto_ts_profile import TotoTsDetails
from migrator.runtime.exact_kronos import PHASES as KRONOS_CALL_PHASES
from migrator.forecast.kronos.real_profile import KronosCallDetails

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


def render_text(profile: Profile) -> str:
    """The backend's header, the engines' table, its own lines, the speed-ups, the checks."""
    lines = [*header_lines(profile.details), "", *engine_table(profile), *detail_lines(profile.details), ""]
    lines += [speedup_line(speedup) for speedup in profile.speedups]
    lines += [equivalence_line(check) for check in profile.equivalences]
    return "\n".join(lines)


def engine_table(profile: Profile) -> list[str]:
    """Every engine's median time, calls and forwards; * scaled from part of its work, + derived."""
    width = max([28, *(len(engine.name) for engine in profile.engines.values())])
    unit = profile.forwards_unit
    lines = [f"  | {'Engine':<{width}} |       Time | Model calls | {unit:>12} |",
             f"  |{'-' * (width + 2)}|------------|-------------|-{'-' * max(12, len(unit))}-|"]
    for engine in profile.engines.values():
        time_text = seconds_text(engine.seconds) + (" +" if engine.derived else " *" if engine.extrapolated else "")
        lines.append(f"  | {engine.name:<{width}} | {time_text:>10} | {engine.model_calls:>11,} | "
                     f"{engine.forwards:>{max(12, len(unit))},} |")
    if any(engine.extrapolated and not engine.derived for engine in profile.engines.values()):
        lines.append("  * timed on part of its work and scaled to all of it")
    if any(engine.derived for engine in profile.engines.values()):
        lines.append("  + derived, not timed: from another engine's measured time")
    return lines


def speedup_line(speedup: Speedup) -> str:
    (reference, reference_seconds), (compared, compared_seconds) = speedup.reference, speedup.compared
    note = f"; {speedup.note}" if speedup.note else ""
    return (f"{speedup.title}: {_ratio(speedup.ratio)} ({reference} {seconds_text(reference_seconds)}; "
            f"{compared} {seconds_text(compared_seconds)}{note})")


def equivalence_line(check: Equivalence) -> str:
    if check.outcome is None:
        return f"{check.title}: not checked ({check.reason})"
    return f"{check.title}: {_verdict(check.outcome)}"


@singledispatch
def header_lines(details: Any) -> list[str]:
    raise TypeError(f"no text for {type(details).__name__}")


@singledispatch
def detail_lines(details: Any) -> list[str]:
    raise TypeError(f"no text for {type(details).__name__}")


# -- bundled ---------------------------------------------------------------------------------


@header_lines.register
def _(profile: BundledDetails) -> list[str]:
    w = profile.workload
    lines = [
        f"Profile of one symbol: {profile.data_source}; Toto {profile.model} "
        f"({profile.parameters:,} parameters, {_weights(profile.checkpoint)})",
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
        lines.append(f"Kronos workload: Kronos-{kronos.settings.model} ({kronos.parameters:,} parameters, "
                     f"{_weights(kronos.settings.checkpoint)}); {k.sims} simulations x {len(k.keys)} key(s) "
                     f"({', '.join(k.keys)}) = {k.calls:,} calls of {k.samples} paths x {k.pred_len} steps on the "
                     f"last {k.context} bars (T {k.temperature}, top_k {k.top_k}, top_p {k.top_p})")
    lines.append(f"Each engine ran {profile.rounds} interleaved round(s); times are medians of the rounds")
    return lines


@detail_lines.register
def _(profile: BundledDetails) -> list[str]:
    """The guide's table per Toto engine, Kronos's engine of the same name as its own row."""
    kronos = profile.kronos
    lines = []
    for name, engine in profile.engines.items():
        result = engine.result
        lines += ["", f"{name.capitalize()} engines: Toto {counted(result.model_calls, 'model call')}, "
                      f"{counted(result.forward_passes, 'forward pass', 'forward passes')}"]
        if result.extrapolated:
            lines.append(f"  Toto timed on {engine.timed_calls:,} of its {result.model_calls:,} calls and scaled to all "
                         "(its calls cost the same: each runs the same passes on a context of similar length)")
        lines += [f"  {note}" for note in result.notes]
        kronos_engine = None if kronos is None else kronos.engines.get(name)
        if kronos_engine is not None:
            kresult = kronos_engine.result
            scaled = (f", timed on {counted(kronos_engine.timed_calls, 'call')} (the same for both engines) "
                      "and scaled to all (its calls cost the same)" if kresult.extrapolated else "")
            lines.append(f"  Kronos: {counted(kresult.model_calls, 'call')}, "
                         f"{counted(kresult.forward_passes, 'predictor pass', 'predictor passes')}{scaled}")
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
    return lines


def _table(engine: EngineProfile, kronos_seconds: float | None) -> list[str]:
    rows = [(SECTION_LABELS[name], engine.sections[name]) for name in SECTIONS]
    if kronos_seconds is not None:
        rows.insert(1, (SECTION_LABELS["kronos"], kronos_seconds))
    total = sum(seconds for _, seconds in rows)
    lines = ["  | Component            |       Time | % of total |",
             "  |----------------------|------------|------------|"]
    for label, seconds in rows:
        share = 100 * seconds / total if total > 0 else 0.0
        lines.append(f"  | {label:<20} | {seconds_text(seconds):>10} | {share:>9.1f}% |")
    lines.append(f"  | {'Total':<20} | {seconds_text(total):>10} | {100.0 if total > 0 else 0.0:>9.1f}% |")
    return lines


def _breakdown(title: str, breakdown: dict[str, float]) -> str:
    total = sum(breakdown.values())
    if total <= 0:
        return f"  {title}: nothing timed"
    parts = [f"{BREAKDOWN_LABELS.get(part, part)} {100 * seconds / total:.1f}%" for part, seconds in breakdown.items()]
    return f"  {title} (round 1): {', '.join(parts)}"


# -- toto-ts ---------------------------------------------------------------------------------


@header_lines.register
def _(profile: TotoTsDetails) -> list[str]:
    lines = [
        f"Profile on toto-ts {profile.toto_ts_version}: Toto {profile.model} ({profile.parameters:,} parameters, "
        f"{_weights(profile.checkpoint)}); {profile.data_source}",
        f"Workload: {profile.sims} simulations x {len(profile.keys)} keys x {profile.horizon} origins = "
        f"{counted(profile.calls, 'call')} one at a time in the backtest's order ({profile.distinct_contexts:,} "
        f"distinct contexts of {profile.context_lengths[0]:,} to {profile.context_lengths[1]:,} points); "
        f"{profile.samples} samples in batches of {profile.batch}; prediction length {profile.prediction_length}",
    ]
    if profile.default_sims:
        lines.append(f"A short run: {profile.sims} simulations by default with --backend toto-ts; the backtest's "
                     "whole schedule: --sims 50")
    lines.append(f"Each engine ran {profile.rounds} interleaved round(s); times are medians of the rounds. "
                 f"toto-ts timed on {counted(profile.baseline_calls, 'call')} per round (K = {profile.baseline_calls}) "
                 "and scaled (its calls cost the same); the context cache: toto-ts's per-call time x the distinct "
                 "contexts (a cache hit costs a lookup)")
    return lines


@detail_lines.register
def _(profile: TotoTsDetails) -> list[str]:
    stats = profile.exact_stats
    return ["", f"Exact forecaster (round 1): {counted(stats['forwards'], 'forward')} of "
            f"{stats['rows_forwarded']:,} rows ({stats['speculative_rows_unused']:,} speculative rows unused), "
            f"{100 * stats['forward_share']:.0f}% of its time in forwards, memo {stats['memo_mib']:.1f} MiB; "
            f"peak RSS {profile.peak_rss_mib:,.0f} MiB"]


# -- kronos (the real call) ------------------------------------------------------------------


@header_lines.register
def _(profile: KronosCallDetails) -> list[str]:
    shape = profile.shape
    return [f"Kronos-{shape.model}, {shape.samples} paths, context {shape.context} (lookback = max_context), "
            f"pred_len {shape.pred_len}, {profile.threads} thread(s), CPU: one call of the real "
            f"KronosPredictor.predict against the exact drop-in",
            f"Real call timed: {profile.real_timed}; exact call: median of {len(profile.exact_rounds)} round(s)"]


@detail_lines.register
def _(profile: KronosCallDetails) -> list[str]:
    lines = ["", f"Exact call split (last round): part, seconds, floor at {profile.matmul_gflops:.0f} GFLOP/s, x floor"]
    for part in KRONOS_CALL_PHASES:
        seconds, floor = profile.split[part], profile.floors.get(part, 0.0)
        ratio = f"{seconds / floor:.1f}x" if floor > 0 else "-"
        lines.append(f"    {part:<10} {seconds:8.3f} s  {floor:8.3f} s  {ratio}")
    real, exact = profile.work["real"], profile.work["exact"]
    lines.append(f"Forwards per call: real {real['forwards']}, exact {exact['forwards']}; tokens per forward: "
                 f"real {real['tokens_per_forward']:.0f}, exact {exact['tokens_per_forward']:.0f}; tokens: "
                 f"real {real['tokens']:.0f}, exact {exact['tokens']:.0f} ({real['tokens'] / exact['tokens']:.0f}x)")
    return lines


# -- shared helpers --------------------------------------------------------------------------


def _verdict(eq: dict) -> str:
    """A check's result, by the figures it gives: Toto's (parameters, KS), toto-ts's (with its
    tolerance and threshold), Kronos's (tokens, logits, KS), the real Kronos call's same-seed
    difference, or any other check's same_distribution."""
    if "max_rel_diff_same_seed" in eq:
        return f"largest relative difference {eq['max_rel_diff_same_seed']:.1e}"
    same = f"same distribution: {'yes' if eq['same_distribution'] else 'NO'}"
    if "ks_min_pvalue" in eq:
        params = ("n/a: both engines decode autoregressively" if eq.get("max_param_rel_diff") is None
                  else f"{eq['max_param_rel_diff']:.1e}")
        return f"{same} (max parameter relative difference {params}, smallest KS p-value {eq['ks_min_pvalue']:.3f})"
    if "same_tokens" in eq:
        return (f"{same} (same draws give the same tokens: {'yes' if eq['same_tokens'] else 'NO'}; max logit "
                f"relative difference {eq['max_logit_rel_diff']:.1e}; KS p-value of the paths {eq['pvalue']:.3f})")
    if "ks_threshold" in eq:  # toto-ts's check
        params = ("n/a: beyond one patch the exact forecaster calls toto-ts" if eq["max_param_rel_diff"] is None
                  else f"{eq['max_param_rel_diff']:.1e}, tolerance {eq['param_tolerance']:.0e}")
        return (f"{same} (max parameter relative difference {params}; smallest KS p-value {eq['pvalue']:.3f}, "
                f"threshold {eq['ks_threshold']:.4f})")
    return same


def _ratio(ratio: Ratio) -> str:
    if len(ratio.rounds) == 1:
        return times_text(ratio.median)
    return (f"{times_text(ratio.median)} (median of {len(ratio.rounds)} rounds, "
            f"{times_text(min(ratio.rounds))}-{times_text(max(ratio.rounds))})")


def _weights(checkpoint: object | None) -> str:
    return "seeded random weights" if checkpoint is None else f"weights from {checkpoint}"
