"""Side-by-side check that the optimized engine forecasts the baseline's distribution.

On a seeded sample of distinct contexts of the workload:
- parameters: the optimized engine's batched, trimmed forward against the full model run on
  that context alone (what each baseline pass computes), per parameter (df, loc, scale,
  mixture weights) max|optimized - baseline| / max|baseline|, which must be <= 1e-5;
- draws: one baseline call's draws (samples / batch full passes) against the optimized
  engine's draws for the same context, two-sample Kolmogorov-Smirnov test per context; the
  smallest p-value must be >= 0.01 / contexts (Bonferroni, 1% family-wise false alarms).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ks_2samp

from migrator.errors import BadInputError
from migrator.forecast.engines import (
    Workload,
    baseline_call_draws,
    next_step_distributions,
    schedule,
)
from migrator.forecast.model import MixtureParams, TotoModel, left_pad

PARAM_TOLERANCE = 1e-5
FAMILY_ALPHA = 0.01


def param_rel_diff(candidate: MixtureParams, reference: MixtureParams) -> float:
    """Largest of max|candidate - reference| / max|reference| over df, loc, scale, weights."""
    pairs = [
        (candidate.df, reference.df),
        (candidate.loc, reference.loc),
        (candidate.scale, reference.scale),
        (candidate.weights(), reference.weights()),
    ]
    return max(
        ((c.double() - r.double()).abs().max() / r.double().abs().max()).item() for c, r in pairs
    )


def check_equivalence(
    model: TotoModel,
    series: dict[str, np.ndarray],
    workload: Workload,
    *,
    pairs: int = 8,
    seed: int = 0,
) -> dict:
    """{same_distribution, max_param_rel_diff, ks_min_pvalue, pairs, ...} on `pairs` contexts.

    Costs one baseline call per pair (samples / batch full passes)."""
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
    rel_diffs, pvalues = [], []
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        batched, _ = next_step_distributions(model, contexts)
        optimized_draws = batched.sample(workload.samples).T
        for row, context in enumerate(contexts):
            alone = model(*left_pad([context], patch)).select((slice(None), -patch))
            rel_diffs.append(param_rel_diff(batched.select(slice(row, row + 1)), alone))
            baseline_draws = baseline_call_draws(model, context, workload)
            pvalues.append(ks_2samp(baseline_draws.numpy(), optimized_draws[row].numpy()).pvalue)
    threshold = FAMILY_ALPHA / len(chosen)
    max_rel, min_p = max(rel_diffs), min(pvalues)
    return {
        "same_distribution": bool(max_rel <= PARAM_TOLERANCE and min_p >= threshold),
        "max_param_rel_diff": max_rel,
        "ks_min_pvalue": float(min_p),
        "pairs": [{"key": key, "context_length": length} for key, length in chosen],
        "param_tolerance": PARAM_TOLERANCE,
        "ks_threshold": threshold,
    }
