"""Kronos's optimized engine forecasts its baseline's distribution, checked side by side
(check_kronos_equivalence, described there)."""

from __future__ import annotations

import torch
from scipy.stats import ks_2samp

from migrator.errors import BadInputError
from migrator.forecast.data import OHLCFrame
from migrator.forecast.engine import seeded_inference
from migrator.forecast.equivalence import FAMILY_ALPHA, LOGIT_TOLERANCE, rel_diff
from migrator.forecast.kronos.engines import (FEATURE_COLUMNS, CallTrace, KronosWorkload, baseline_call,
                                              kronos_schedule, optimized_call, prepare_input)
from migrator.forecast.kronos.model import KronosModel
from migrator.workload import evenly_spaced


def check_kronos_equivalence(model: KronosModel, frame: OHLCFrame, workload: KronosWorkload, *,
                             pairs: int = 1, seed: int = 0) -> dict:
    """{same_distribution, max_logit_rel_diff, same_tokens, pvalue, ...} on `pairs` calls of the
    Kronos schedule (simulations spread evenly), through the engines' per-call functions:

    - fed the same uniform draws, the optimized call must sample the baseline's tokens at every
      step, from s1/s2 logits within LOGIT_TOLERANCE relative (max|diff| / max|baseline|) of
      the baseline's full forward over the same prefix;
    - with independent torch draws, each path's decoded Close (every step, pooled over the
      pairs) against the baseline's: two-sample KS, p-value >= FAMILY_ALPHA.

    Costs one baseline call and two optimized calls per pair."""
    if pairs < 1:
        raise BadInputError(f"the equivalence check needs at least 1 call, got {pairs}")
    calls = kronos_schedule(frame, workload)
    chosen = [calls[i] for i in evenly_spaced(len(calls), pairs)]
    close = FEATURE_COLUMNS.index("Close")
    rel_diffs, same_tokens, baseline_values, optimized_values = [], True, [], []
    with seeded_inference(seed):
        for call in chosen:
            inputs = prepare_input(frame, call.end, workload)
            uniforms = torch.rand(workload.pred_len, 2, workload.samples)
            baseline, same_draws, independent = CallTrace(), CallTrace(), CallTrace()
            baseline_call(model, inputs, workload, uniforms=uniforms, trace=baseline)
            optimized_call(model, inputs, workload, uniforms=uniforms, trace=same_draws)
            optimized_call(model, inputs, workload, trace=independent)
            for which in ("s1", "s2"):
                rel_diffs += [rel_diff(ours, theirs) for ours, theirs in
                              zip(getattr(same_draws, f"{which}_logits"), getattr(baseline, f"{which}_logits"))]
                same_tokens &= all(torch.equal(a, b) for a, b in zip(getattr(same_draws, which), getattr(baseline, which)))
            baseline_values.append(baseline.paths[..., close].flatten())
            optimized_values.append(independent.paths[..., close].flatten())
    pvalue = float(ks_2samp(torch.cat(baseline_values).numpy(), torch.cat(optimized_values).numpy()).pvalue)
    max_rel = max(rel_diffs)
    return {
        "same_distribution": bool(max_rel <= LOGIT_TOLERANCE and same_tokens and pvalue >= FAMILY_ALPHA),
        "max_logit_rel_diff": max_rel,
        "same_tokens": bool(same_tokens),
        "pvalue": pvalue,
        "calls": [call.sim for call in chosen],
        "logit_tolerance": LOGIT_TOLERANCE,
        "ks_threshold": FAMILY_ALPHA,
    }
