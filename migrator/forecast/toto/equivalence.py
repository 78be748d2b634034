"""Toto's optimized engine forecasts its baseline's distribution, checked side by side.

On a seeded sample of distinct contexts of the workload:
- parameters: the optimized engine's batched, trimmed forward against the full model run on
  that context alone (what each baseline pass computes), for the step prediction_length
  ahead, per parameter (df, loc, scale, mixture weights) max|optimized - baseline| /
  max|baseline|, which must be <= 1e-5. Beyond one patch (prediction_length > 64) the
  optimized engine runs the baseline's autoregressive path and has no parameters of its own
  to compare: max_param_rel_diff is None;
- draws: one baseline call's draws (samples / batch full passes) against the optimized
  engine's draws for the same context, two-sample Kolmogorov-Smirnov test per context; the
  smallest p-value must be >= 0.01 / contexts (Bonferroni, 1% family-wise false alarms).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ks_2samp

from migrator.errors import BadInputError
from migrator.forecast.engine import seeded_inference
from migrator.forecast.equivalence import FAMILY_ALPHA, PARAM_TOLERANCE, rel_diff
from migrator.forecast.toto.engines import (
    Workload,
    baseline_call_draws,
    decodes_autoregressively,
    next_step_distributions,
    optimized_draws,
    schedule,
)
from migrator.forecast.toto.model import MixtureParams, TotoModel, left_pad


def param_rel_diff(candidate: MixtureParams, reference: MixtureParams) -> float:
    """Largest of max|candidate - reference| / max|reference| over df, loc, scale, weights."""
    pairs = [
        (candidate.df, reference.df),
        (candidate.loc, reference.loc),
        (candidate.scale, reference.scale),
        (candidate.weights(), reference.weights()),
    ]
    return max(rel_diff(c, r) for c, r in pairs)


def check_equivalence(
    model: TotoModel,
    series: dict[str, np.ndarray],
    workload: Workload,
    *,
    pairs: int = 8,
    seed: int = 0,
) -> dict:
    """{same_distribution, max_param_rel_diff, ks_min_pvalue, pairs, ...} on `pairs` contexts.

    Costs one baseline call per pair (samples / batch full passes), two beyond one patch."""
    if pairs < 1:
        raise BadInputError(f"the equivalence check needs at least 1 pair, got {pairs}")
    distinct = list(dict.fromkeys(call.context for call in schedule(series, workload)))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(distinct), min(pairs, len(distinct)), replace=False)
    chosen = [distinct[i] for i in sorted(picks)]
    contexts = [
        torch.as_tensor(np.asarray(series[key][:length]), dtype=torch.float32)
        for key, length in chosen
    ]
    patch = model.config.patch_size
    step = workload.prediction_length - 1
    compare_params = not decodes_autoregressively(model, workload)
    rel_diffs, pvalues = [], []
    with seeded_inference(seed):
        optimized, _ = optimized_draws(model, contexts, workload)
        if compare_params:
            batched, _ = next_step_distributions(model, contexts, step=step)
        for row, context in enumerate(contexts):
            if compare_params:
                alone = model(*left_pad([context], patch)).select((slice(None), step - patch))
                rel_diffs.append(param_rel_diff(batched.select(slice(row, row + 1)), alone))
            baseline_draws = baseline_call_draws(model, context, workload)
            pvalues.append(ks_2samp(baseline_draws.numpy(), optimized[row].numpy()).pvalue)
    threshold = FAMILY_ALPHA / len(chosen)
    max_rel, min_p = max(rel_diffs, default=None), min(pvalues)
    params_equal = max_rel is None or max_rel <= PARAM_TOLERANCE
    return {
        "same_distribution": bool(params_equal and min_p >= threshold),
        "max_param_rel_diff": max_rel,
        "ks_min_pvalue": float(min_p),
        "pairs": [{"key": key, "context_length": length} for key, length in chosen],
        "param_tolerance": PARAM_TOLERANCE,
        "ks_threshold": threshold,
    }
