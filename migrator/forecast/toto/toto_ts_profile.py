"""`migrate profile --backend toto-ts`: the backtest's Toto calls on Datadog's real toto-ts.

Three ways to serve one symbol's schedule (sims x 4 keys x horizon calls, one at a time, in the
backtest's order; migrator.runtime.bench builds it), measured side by side in one run:
- toto_ts: toto-ts's own TotoForecaster on every call, timed on K calls spread over the schedule
  and scaled to all (every call costs about the same);
- toto_ts_cached: toto-ts plus a context cache (identical contexts computed once, as upstream's
  disk cache does): derived, not timed: toto-ts's measured per-call time x the distinct contexts
  (a cache hit is a lookup, microseconds against a forecast's milliseconds; timing it would cost
  a toto-ts call per distinct context per round, minutes at the base shape). The JSON says
  `derived: true` and the table marks it;
- exact: migrator.runtime.exact_toto's forecaster called on every call (timed, never scaled).
Each round times toto-ts's K calls and then a fresh exact forecaster; each speed-up is the
median of the rounds' ratios, with its min-max.

The equivalence check runs on a few distinct contexts of the schedule: the exact path's mixture
parameters against toto-ts's own forward (within 1e-5 relative) and a two-sample KS test of the
exact forecaster's draws against toto-ts's `forecast` draws (Bonferroni over the contexts).

Weights: a seeded random Toto of the small or Toto-Open-Base-1.0 config, a torch state dict of
that config (of toto.model.toto.Toto, keys `model.*`, or of its backbone), or a toto-ts
checkpoint (a directory with model.safetensors and config.json, or a .safetensors file) loaded
the way toto-ts's own Toto.from_pretrained loads a local directory (offline, no network).

Imports torch and toto-ts (on first use); nothing here prints but `progress`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import resource
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from migrator.errors import BadInputError
from migrator.files import CONFIG, UnreadableFile, check_regular, read_user_file
from migrator.forecast.registry import BASELINE
from migrator.forecast.result import EngineTiming, Equivalence, Profile, Ratio, Speedup, counted

INSTALL = "pip install --no-deps -r requirements/toto-ts.txt"
DEFAULT_SIMS = 20  # a short default for this backend (~30 s with the small model); --sims 50 is the seed's
PARAM_TOLERANCE = 1e-5
FAMILY_ALPHA = 0.01
Progress = Callable[[str], None]


def require_toto_ts() -> None:
    """BadInputError (exit 2) with the install line unless toto-ts's forecaster imports."""
    try:
        with warnings.catch_warnings():  # gluonts warns about its json module on import
            warnings.simplefilter("ignore")
            import toto.inference.forecaster  # noqa: F401
            import toto.model.toto  # noqa: F401
    except ImportError:
        raise BadInputError(f"--backend toto-ts needs toto-ts: {INSTALL}") from None
    except Exception as exc:  # noqa: BLE001 - a broken install is bad input, not a traceback
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"--backend toto-ts: cannot import toto-ts ({reason}): {INSTALL}") from None


ENGINE_NAMES = {
    "toto_ts": "toto-ts forecaster, per call",
    "toto_ts_cached": "toto-ts + context cache",
    "exact": "exact forecaster, per call",
}


@dataclasses.dataclass(frozen=True)
class TotoTsDetails:
    """The toto-ts backend's own figures; the engines, speed-ups and check are the Profile's."""

    sims: int
    horizon: int
    keys: tuple[str, ...]
    samples: int
    batch: int
    prediction_length: int
    model: str
    checkpoint: Path | None
    parameters: int
    seed: int
    rounds: int
    baseline_calls: int  # K: toto-ts calls timed per round
    calls: int
    distinct_contexts: int
    context_lengths: tuple[int, int]
    speedup: dict[str, tuple[float, ...]]  # vs_toto_ts, vs_cached: one ratio per round
    equivalence: dict[str, Any]
    exact_stats: dict[str, Any]
    peak_rss_mib: float
    default_sims: bool  # --sims was not given: the short default
    data_source: str = "synthetic daily returns"
    toto_ts_version: str = "unknown"

    def to_json(self, profile: Profile) -> dict[str, Any]:
        return {
            "toto_ts_version": self.toto_ts_version,
            "workload": {
                "sims": self.sims, "keys": list(self.keys), "horizon": self.horizon, "samples": self.samples,
                "batch": self.batch, "prediction_length": self.prediction_length, "model": self.model,
                "parameters": self.parameters,
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
                "data": self.data_source, "seed": self.seed, "rounds": self.rounds, "baseline_calls": self.baseline_calls,
                "calls": self.calls, "distinct_contexts": self.distinct_contexts,
                "context_length_min": self.context_lengths[0], "context_length": self.context_lengths[1],
            },
            "engines": {key: {"seconds": engine.seconds, "model_calls": engine.model_calls,
                              "forward_rows": engine.forwards, "extrapolated": engine.extrapolated,
                              "derived": engine.derived, "round_seconds": list(engine.round_seconds)}
                        for key, engine in profile.engines.items()},
            "speedup": {name: Ratio(rounds).to_json() for name, rounds in self.speedup.items()},
            "equivalence": dict(self.equivalence),
            "exact_stats": dict(self.exact_stats),
            "peak_rss_mib": self.peak_rss_mib,
        }


def run_toto_ts_profile(
    *,
    sims: int | None,
    horizon: int,
    samples: int,
    batch: int,
    prediction_length: int = 1,
    model: str = "small",
    checkpoint: Path | None = None,
    data: Path | None = None,
    seed: int = 0,
    baseline_calls: int | None = 4,
    equivalence_pairs: int = 3,
    rounds: int = 3,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Profile:
    """Profile the schedule on toto-ts (sims None: DEFAULT_SIMS) over the percent changes of
    `data`'s bars (a CSV, as `migrate profile --data` reads it) or synthetic daily returns.
    BadInputError on bad input, a missing toto-ts or an unreadable checkpoint, before any timing."""
    require_toto_ts()
    from migrator.forecast.profile import torch_threads
    from migrator.workload import Workload

    if samples % batch != 0:
        raise BadInputError(f"--samples ({samples}) must be a multiple of --batch ({batch})")
    if baseline_calls is not None and baseline_calls < 1:
        raise BadInputError(f"--baseline-calls must be at least 1 (or all), got {baseline_calls}")
    workload = Workload(sims=DEFAULT_SIMS if sims is None else sims, horizon=horizon, samples=samples,
                        batch=batch, prediction_length=prediction_length)
    with torch_threads(threads):
        return _run(workload, model, checkpoint, data, seed, baseline_calls, equivalence_pairs, rounds,
                    progress or (lambda message: None), default_sims=sims is None)


def _run(workload, model_name: str, checkpoint: Path | None, data: Path | None, seed: int, baseline_calls: int | None,
         equivalence_pairs: int, rounds: int, say: Progress, *, default_sims: bool) -> Profile:
    from toto.inference.forecaster import TotoForecaster

    from migrator.runtime.bench import backtest_contexts, distinct_contexts, run_exact, time_toto_ts_calls
    from migrator.runtime.exact_toto import exact_forecaster_class

    series, source = _series(workload, data, seed)
    backbone = load_backbone(model_name, seed, checkpoint)
    contexts = list(backtest_contexts(series, workload))
    distinct = len(distinct_contexts(contexts))
    k = len(contexts) if baseline_calls is None else min(baseline_calls, len(contexts))
    exact_cls = exact_forecaster_class(TotoForecaster)
    toto_ts = TotoForecaster(backbone)
    per_call, exact_seconds, stats = [], [], None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index in range(rounds):
            say(f"toto-ts forecaster on {k} call(s), round {index + 1} of {rounds}")
            per_call.append(time_toto_ts_calls(toto_ts, contexts, workload, k))
            say(f"exact forecaster on all {len(contexts):,} calls, round {index + 1} of {rounds}")
            exact = exact_cls(backbone)  # a fresh memo every round
            started = time.perf_counter()
            run_exact(exact, contexts, workload)
            exact_seconds.append(time.perf_counter() - started)
            stats = stats or (exact.exact_stats, exact.memo_bytes())
        say(f"equivalence on {equivalence_pairs} context(s)")
        equivalence = check_toto_ts_equivalence(backbone, contexts, workload, pairs=equivalence_pairs)
    exact_stats, memo_bytes = stats
    scaled = tuple(p * len(contexts) for p in per_call)
    cached = tuple(p * distinct for p in per_call)
    runs = tuple(exact_seconds)
    rows_per_call = workload.samples  # toto-ts runs every sample's row through the model
    engines = {
        "toto_ts": EngineTiming(ENGINE_NAMES["toto_ts"], statistics.median(scaled), scaled, len(contexts),
                                rows_per_call * len(contexts), BASELINE, extrapolated=k < len(contexts)),
        "toto_ts_cached": EngineTiming(ENGINE_NAMES["toto_ts_cached"], statistics.median(cached), cached, distinct,
                                       rows_per_call * distinct, BASELINE, extrapolated=True, derived=True),
        "exact": EngineTiming(ENGINE_NAMES["exact"], statistics.median(runs), runs, len(contexts),
                              exact_stats.rows_forwarded, "optimized"),
    }
    ratios = {"vs_toto_ts": tuple(s / e for s, e in zip(scaled, runs)),
              "vs_cached": tuple(c / e for c, e in zip(cached, runs))}
    details = TotoTsDetails(
        sims=workload.sims, horizon=workload.horizon, keys=tuple(workload.keys), samples=workload.samples,
        batch=workload.batch, prediction_length=workload.prediction_length, model=model_name,
        checkpoint=checkpoint, parameters=sum(p.numel() for p in backbone.parameters()), seed=seed, rounds=rounds,
        baseline_calls=k, calls=len(contexts), distinct_contexts=distinct,
        context_lengths=(min(c.shape[-1] for c in contexts), max(c.shape[-1] for c in contexts)),
        speedup=ratios,
        equivalence=equivalence,
        exact_stats={"forwards": exact_stats.forwards, "rows_forwarded": exact_stats.rows_forwarded,
                     "speculative_rows_unused": exact_stats.wasted_rows, "memo_hits": exact_stats.memo_hits,
                     "fallback_calls": exact_stats.fallback_calls,
                     "forward_share": exact_stats.forward_seconds / runs[0] if runs[0] > 0 else 0.0,
                     "memo_mib": memo_bytes / 2**20},
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        default_sims=default_sims,
        data_source=source,
        toto_ts_version=_version(),
    )
    exact = ("exact", engines["exact"].seconds)
    speedups = [Speedup(f"Speed-up of the exact forecaster vs {against}", Ratio(ratios[key]),
                        (against, engines[reference].seconds), exact)
                for key, against, reference in (("vs_toto_ts", "toto-ts", "toto_ts"),
                                                ("vs_cached", "toto-ts + context cache", "toto_ts_cached"))]
    check = Equivalence(f"Equivalence on {counted(len(equivalence['contexts']), 'context')} vs toto-ts", equivalence)
    return Profile("toto-ts", engines, speedups, [check], details, forwards_unit="Forward rows")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toto-ts")
    except PackageNotFoundError:
        return "unknown"



def _series(workload, data: Path | None, seed: int) -> tuple[dict[str, torch.Tensor], str]:
    """Each key's series: the bars' percent changes, or seeded synthetic returns."""
    from migrator.runtime.bench import workload_series

    if data is None:
        return workload_series(workload, seed), f"synthetic daily returns (seed {seed})"
    from migrator.forecast.data import load_csv, pct_change_series
    from migrator.forecast.profile import require_workload_rows

    frame = load_csv(data)
    require_workload_rows(frame, workload.sims, workload.horizon)
    changes = pct_change_series(frame)
    return {key: torch.as_tensor(changes[key], dtype=torch.float32) for key in workload.keys}, frame.source


# -- weights --------------------------------------------------------------------------------


def model_config(name: str) -> dict:
    from migrator.runtime.bench import BASE_CONFIG, SMALL_CONFIG

    configs = {"small": SMALL_CONFIG, "base": BASE_CONFIG}
    if name not in configs:
        raise BadInputError(f"unknown model {name!r}; choose from {', '.join(configs)}")
    return configs[name]


def load_backbone(name: str, seed: int, checkpoint: Path | None) -> torch.nn.Module:
    """toto-ts's TotoBackbone (what TotoForecaster gets) in eval mode; BadInputError naming the
    checkpoint when it cannot be read or does not fit."""
    from toto.model.toto import Toto

    config = model_config(name)
    if checkpoint is not None and (checkpoint.is_dir() or checkpoint.suffix == ".safetensors"):
        return _load_toto_ts_checkpoint(Toto, checkpoint, config).model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        toto = Toto(**config)
    if checkpoint is not None:
        _load_state_dict(toto, checkpoint, name)
    return toto.eval().model


def _load_toto_ts_checkpoint(toto_cls: type, path: Path, config: dict):
    """What Toto.from_pretrained(path) does for a local directory: config.json's settings (the
    --model config when the directory has none, or for a .safetensors file) passed to
    Toto.load_from_checkpoint on its model.safetensors. (from_pretrained itself cannot be called:
    toto-ts 0.2.0's _from_pretrained requires `proxies` and `resume_download`, which
    huggingface_hub no longer passes.) strict=True, unlike from_pretrained's default: a
    checkpoint lacking any of the model's tensors is refused rather than left random."""
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise BadInputError(f"{weights}: no such checkpoint file")
    try:
        check_regular(weights)  # a FIFO or a device would block the loader, or feed it without end
    except UnreadableFile as exc:
        raise BadInputError(f"{weights}: cannot read checkpoint: {exc.reason}") from None
    settings = path / "config.json"
    if path.is_dir() and settings.exists():
        try:
            config = json.loads(read_user_file(settings, CONFIG).decode("utf-8"))
        except UnreadableFile as exc:
            raise BadInputError(f"{settings}: cannot read: {exc.reason}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadInputError(f"{settings}: cannot read: {exc}") from None
        if not isinstance(config, dict):
            raise BadInputError(f"{settings}: not a JSON object of Toto settings")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # toto-ts may print on stdout (--json owns it)
            return toto_cls.load_from_checkpoint(str(weights), map_location="cpu", strict=True, **config)
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure is bad input
        # torch's load_state_dict puts what is wrong on the lines after its first: one line, cut short.
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        reason = reason if len(reason) <= 240 else reason[:237] + "..."
        raise BadInputError(f"{path}: cannot load as a toto-ts checkpoint: {reason}") from None


def _load_state_dict(toto: torch.nn.Module, path: Path, name: str) -> None:
    """A torch.save'd state dict of the Toto module (keys model.*) or of its backbone."""
    from migrator.forecast.checkpoint import check_state_dict, read_state_dict

    state = read_state_dict(path)
    if state and all(isinstance(key, str) and not key.startswith("model.") for key in state):
        state = {f"model.{key}": value for key, value in state.items()}  # the backbone's own keys
    check_state_dict(toto, state, path, f"toto-ts {name}")


# -- equivalence ----------------------------------------------------------------------------


def _rel(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    reference = reference.double()
    scale = reference.abs().max().item()
    diff = (candidate.double() - reference).abs().max().item()
    return diff / scale if scale > 0 else diff


def _toto_ts_distribution(backbone, inputs, prediction_length: int):
    """toto-ts's own first forward of generate_samples (padded, KV cache), its last patch's first
    `prediction_length` steps as toto-ts's AffineTransformed over its mixture."""
    from toto.data.util.dataset import pad_array, pad_id_mask
    from toto.inference.forecaster import TotoForecaster

    stride = backbone.patch_embed.stride
    series = pad_array(inputs.series, stride).unsqueeze(0)
    mask = pad_array(inputs.padding_mask, stride).unsqueeze(0)
    ids = pad_id_mask(inputs.id_mask, stride).unsqueeze(0)
    kv = backbone.allocate_kv_cache(batch_size=1, num_variates=series.shape[1],
                                    max_time_steps=series.shape[-1] + stride, device=series.device, dtype=series.dtype)
    base, loc, scale = backbone(inputs=series, input_padding_mask=mask, id_mask=ids, kv_cache=kv,
                                scaling_prefix_length=series.shape[-1])
    distr = TotoForecaster.create_affine_transformed(base, loc, scale)
    patch = backbone.patch_embed.patch_size
    steps = slice(-patch, -patch + prediction_length if prediction_length < patch else None)
    return distr, steps


def _parameters(distr, steps: slice) -> dict[str, torch.Tensor]:
    base = distr.base_dist
    comp = getattr(base, "component_distribution", base)
    per_step = (Ellipsis, steps) if comp is base else (Ellipsis, steps, slice(None))  # mixtures: (..., T, K)
    out = {"df": comp.df[per_step], "loc": comp.loc[per_step], "scale": comp.scale[per_step],
           "affine_loc": torch.broadcast_to(distr.loc, base.batch_shape)[..., steps],
           "affine_scale": torch.broadcast_to(distr.scale, base.batch_shape)[..., steps]}
    if comp is not base:
        out["weights"] = base.mixture_distribution.probs[..., steps, :]
    return out


def check_toto_ts_equivalence(backbone, contexts: list[torch.Tensor], workload, *, pairs: int = 3) -> dict:
    """{same_distribution, max_param_rel_diff, pvalue, contexts, ...} on `pairs` distinct contexts
    of the schedule (spread evenly): parameters vs toto-ts's forward, draws vs toto-ts's forecast."""
    from scipy.stats import ks_2samp
    from toto.inference.forecaster import TotoForecaster

    from migrator.runtime.bench import distinct_contexts, masked
    from migrator.workload import evenly_spaced
    from migrator.runtime.exact_toto import exact_forecaster_class

    if pairs < 1:
        raise BadInputError(f"the equivalence check needs at least 1 context, got {pairs}")
    distinct = distinct_contexts(contexts)
    chosen = [distinct[i] for i in evenly_spaced(len(distinct), pairs)]
    exact = exact_forecaster_class(TotoForecaster)(backbone)
    toto_ts = TotoForecaster(backbone)
    n, T = workload.samples, workload.prediction_length
    rel_diffs, pvalues = [], []
    with torch.inference_mode():
        for context in chosen:
            inputs = masked(context)
            ours = exact.exact_distribution(inputs, T)
            if ours is not None:  # beyond one patch the exact forecaster is toto-ts itself
                theirs, steps = _toto_ts_distribution(backbone, inputs, T)
                reference = _parameters(theirs, steps)
                candidate = _parameters(ours, slice(None))
                rel_diffs += [_rel(candidate[name][0], reference[name][0]) for name in reference]
            a = exact.forecast(inputs, T, num_samples=n, samples_per_batch=workload.batch)
            b = toto_ts.forecast(inputs, T, num_samples=n, samples_per_batch=workload.batch)
            pvalues.append(float(ks_2samp(a.samples[0, :, -1].flatten().numpy(),
                                          b.samples[0, :, -1].flatten().numpy()).pvalue))
    threshold = FAMILY_ALPHA / len(chosen)
    max_rel = max(rel_diffs, default=None)
    return {
        "same_distribution": bool((max_rel is None or max_rel <= PARAM_TOLERANCE) and min(pvalues) >= threshold),
        "max_param_rel_diff": max_rel,
        "pvalue": min(pvalues),
        "contexts": [int(c.shape[-1]) for c in chosen],
        "param_tolerance": PARAM_TOLERANCE,
        "ks_threshold": threshold,
    }
