"""`migrate profile` (migrator.forecast, migrator.runtime): torch is imported only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.cli.common import OUTPUT, Settings, takes
from migrator.cli.group import main
from migrator.forecast.extra import require_forecast_extra
from migrator.output import Outcome, ProgressLine


def _baseline_calls(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        calls = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor 'all'") from None
    if calls < 1:
        raise click.BadParameter(f"{value} is not at least 1")
    return calls


def _engine_choices() -> list[str]:
    from migrator.forecast.registry import ROLES, labels  # light: names only, no torch

    return [*ROLES, *(name for name in labels() if name not in ROLES), "both", "all"]


# The options each `profile --backend` takes (click parameter names); None: every option.
# A backend's entry is its declaration: any other option given is a usage error (exit 2).
PROFILE_BACKENDS: dict[str, frozenset[str] | None] = {
    "bundled": None,
    "toto-ts": frozenset({
        "backend", "sims", "horizon", "samples", "batch", "prediction_length", "model_name",
        "checkpoint", "data", "seed", "baseline_calls", "equivalence_pairs", "rounds", "threads",
        "as_json", "quiet"}),
    "kronos": frozenset({
        "backend", "kronos_model", "kronos_samples", "kronos_context", "kronos_temperature", "kronos_top_k",
        "kronos_top_p", "kronos_baseline_steps", "rounds", "seed", "threads", "as_json", "quiet"}),
}


def _refuse_options_the_backend_does_not_take(ctx: click.Context, backend: str) -> None:
    takes = PROFILE_BACKENDS[backend]
    if takes is None:
        return
    given = [param for param in ctx.command.params if param.name not in takes
             and ctx.get_parameter_source(param.name or "") in (click.core.ParameterSource.COMMANDLINE,
                                                              click.core.ParameterSource.ENVIRONMENT)]
    if given:
        # A --no-x flag is named as typed.
        names = ", ".join(param.secondary_opts[0] if getattr(param, "secondary_opts", None)
                          and not ctx.params.get(param.name or "") else param.opts[0] for param in given)
        raise click.UsageError(f"{names} do{'es' if len(given) == 1 else ''} not apply to "
                               f"--backend {backend} (see `migrate profile --help`)")


@main.command("profile")
@click.option("--engine", type=click.Choice(_engine_choices()), default="all",
              show_default=True, help="Which engines to run, for Toto and Kronos: a role (every engine of it), "
                                      "one engine, or all ('both' is the same as 'all').")
@click.option("--backend", type=click.Choice(list(PROFILE_BACKENDS)), default="bundled", show_default=True,
              help="bundled: our Toto-style and Kronos-style models, the whole backtest. toto-ts: the Toto "
                   "calls on Datadog's installed toto-ts (its forecaster, + a context cache, the exact one). "
                   "kronos: one Kronos call on the real Kronos code (its KronosPredictor vs the exact one).")
@click.option("--sims", type=click.IntRange(min=1), default=None,
              help="Simulations per symbol (simulation s drops the last s+1 bars); Toto and Kronos "
                   "[default: 50; 20 with --backend toto-ts].")
@click.option("--horizon", type=click.IntRange(min=1), default=7, show_default=True,
              help="Walk-forward origins per simulation and key (max_horizon).")
@click.option("--samples", type=click.IntRange(min=1), default=128, show_default=True,
              help="num_samples per forecast.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="samples_per_batch; --samples must be a multiple of it.")
@click.option("--aggregate", default="mean", show_default=True,
              help="mean, median, trimmed_mean_X or quantile_X.")
@click.option("--prediction-length", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Steps each forecast runs ahead of its context (Toto's prediction_length); the "
                   "forecast is the last step's. Beyond 64 the optimized engine runs the baseline's "
                   "autoregressive path.")
@click.option("--model", "model_name", type=click.Choice(["small", "base"]), default="small",
              show_default=True, help="small: 1.6M parameters; base: the Toto-Open-Base-1.0 shape (151M).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="A saved state dict for --model [default: seeded random weights].")
@click.option("--data", type=click.Path(path_type=Path), default=None, metavar="CSV",
              help="Daily bars: timestamp or Date, Open, High, Low, Close[, Volume] "
                   "[default: synthetic bars, about 4 years].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the synthetic bars, the random weights and the sampling.")
@click.option("--baseline-calls", default="4", show_default=True, metavar="K|all", callback=_baseline_calls,
              help="Time Toto's baseline on K of its calls per round, spread over the schedule, and scale "
                   "to all (its calls cost the same); 'all' runs every call.")
@click.option("--equivalence-pairs", type=click.IntRange(min=1), default=4, show_default=True, metavar="N",
              help="(key, origin) pairs on which Toto's engines' distributions are compared "
                   "(one baseline call each).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="Interleaved rounds per engine; each speed-up is the median of the rounds (min-max shown).")
@click.option("--kronos/--no-kronos", "with_kronos", default=True, show_default=True,
              help="Also profile Kronos's calls (the Close key of every simulation).")
@click.option("--kronos-model", type=click.Choice(["mini", "small", "base"]), default="mini", show_default=True,
              help="Kronos shape: mini 4.1M, small 24.7M, base 102.3M parameters (the backtest uses base).")
@click.option("--kronos-samples", type=click.IntRange(min=1), default=16, show_default=True, metavar="N",
              help="sample_count: paths per Kronos call (160 to 320 in the real configs).")
@click.option("--kronos-context", type=click.IntRange(min=2), default=64, show_default=True, metavar="N",
              help="max_context, and the lookback the backtest passes (192 to 288 in the real configs).")
@click.option("--kronos-all-keys", is_flag=True,
              help="Call Kronos for all four keys, as the backtest does when Kronos is the selected model.")
@click.option("--kronos-temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              metavar="T", help="Kronos sampling temperature (0.1 to 0.3 in the real configs).")
@click.option("--kronos-top-k", type=click.IntRange(min=0), default=0, show_default=True, metavar="K",
              help="Kronos top_k (0: off; when set, top_p is ignored, as in Kronos).")
@click.option("--kronos-top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=0.99,
              show_default=True, metavar="P", help="Kronos top_p.")
@click.option("--kronos-checkpoint", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="A saved KronosModel state dict for --kronos-model [default: seeded random weights].")
@click.option("--kronos-calls", default="1", show_default=True, metavar="K|all", callback=_baseline_calls,
              help="Time both Kronos engines on the same K of its calls per round, spread over the "
                   "simulations, and scale to all (they cost the same); 'all' runs every call.")
@click.option("--kronos-baseline-steps", type=click.IntRange(min=1), default=None, metavar="S",
              help="Time each of Kronos's baseline calls on its first S of 7 steps and scale (every step "
                   "runs the same full window) [default: all steps].")
@click.option("--kronos-equivalence-calls", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="Calls on which the Kronos engines are compared (one full baseline call each); 0 skips it.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="torch threads for the run; 0: torch's default (one per core). One thread gives "
                   "steadier figures on a shared machine, where threads wait on each other.")
@takes(OUTPUT)
def profile(backend: str, engine: str, sims: int | None, horizon: int, samples: int, batch: int, aggregate: str,
            prediction_length: int, model_name: str, checkpoint: Path | None, data: Path | None, seed: int,
            baseline_calls: int | None, equivalence_pairs: int, rounds: int, with_kronos: bool,
            kronos_model: str, kronos_samples: int, kronos_context: int, kronos_all_keys: bool,
            kronos_temperature: float, kronos_top_k: int, kronos_top_p: float, kronos_checkpoint: Path | None,
            kronos_calls: int | None, kronos_baseline_steps: int | None, kronos_equivalence_calls: int,
            threads: int, settings: Settings) -> None:
    """Time one symbol's backtest: Toto's schedule, Kronos's calls, MaxDiff, data.

    Prints, for the baseline and the optimized engines, the guide's table (Toto forecasting,
    Kronos forecasting, MaxDiff optimization, data processing, other), then the speed-ups
    (medians of interleaved rounds, with their min-max) and an equivalence check of each
    optimized engine against its baseline. Writes nothing.

    The defaults are a quick look (Kronos-mini, 16 paths, 64 bars). The backtest's own Kronos
    calls: --kronos-model base --kronos-samples 160 --kronos-context 232 (a baseline call
    takes many minutes: add --kronos-baseline-steps 1 --rounds 1
    --kronos-equivalence-calls 0). --samples/--batch are used as given (the backtest would
    clamp them to at least 128/32 unless MARKETSIM_TOTO_MIN_* are lowered). MaxDiff makes 500
    objective evaluations per fit, 100 when MARKETSIM_FAST_OPTIMIZE is 1/true/yes/on.

    --backend toto-ts (needs toto-ts: pip install --no-deps -r requirements/toto-ts.txt) times
    the Toto calls on toto-ts itself: its forecaster per call (K calls, scaled), plus a context
    cache, and the exact forecaster per call; --checkpoint also takes a toto-ts checkpoint
    directory or .safetensors file. It uses --sims, --horizon, --samples, --batch,
    --prediction-length, --model, --checkpoint, --data, --seed, --baseline-calls,
    --equivalence-pairs, --rounds and --threads; another option is a usage error (exit 2).

    --backend kronos (needs kronos-finance: pip install --no-deps -r requirements/kronos.txt)
    times one Kronos call as the backtest makes it (pred_len 7, lookback = max_context) on the
    real Kronos code: its KronosPredictor.predict against the exact drop-in. It uses
    --kronos-model, --kronos-samples, --kronos-context, --kronos-temperature, --kronos-top-k,
    --kronos-top-p, --kronos-baseline-steps, --rounds, --seed and --threads; another option is a
    usage error (exit 2).
    """
    _refuse_options_the_backend_does_not_take(click.get_current_context(), backend)
    require_forecast_extra()  # torch: imported only when profiling
    from migrator.forecast.render import render_text

    if backend == "toto-ts":
        from migrator.forecast.toto.toto_ts_profile import run_toto_ts_profile

        progress = None if settings.quiet else ProgressLine()  # counts toto-ts's import (seconds)
        result = run_toto_ts_profile(
            sims=sims, horizon=horizon, samples=samples, batch=batch, prediction_length=prediction_length,
            model=model_name, checkpoint=checkpoint, data=data, seed=seed, baseline_calls=baseline_calls,
            equivalence_pairs=equivalence_pairs, rounds=rounds, threads=threads or None,
            progress=progress)
    elif backend == "kronos":
        from migrator.forecast.kronos.real_profile import profile_kronos_cli

        result = profile_kronos_cli(
            model=kronos_model, samples=kronos_samples, context=kronos_context, temperature=kronos_temperature,
            top_k=kronos_top_k, top_p=kronos_top_p, baseline_steps=kronos_baseline_steps, rounds=rounds, seed=seed,
            threads=threads or None, progress=None if settings.quiet else ProgressLine())
    else:
        result = _run_bundled(engine, sims, horizon, samples, batch, aggregate, prediction_length, model_name,
                              checkpoint, data, seed, baseline_calls, equivalence_pairs, rounds, with_kronos,
                              kronos_model, kronos_samples, kronos_context, kronos_all_keys, kronos_temperature,
                              kronos_top_k, kronos_top_p, kronos_checkpoint, kronos_calls, kronos_baseline_steps,
                              kronos_equivalence_calls, threads, settings)
    settings.finish(Outcome(result.to_json(), text=render_text(result) + "\n"))


def _run_bundled(engine: str, sims: int | None, horizon: int, samples: int, batch: int, aggregate: str,
                 prediction_length: int, model_name: str, checkpoint: Path | None, data: Path | None, seed: int,
                 baseline_calls: int | None, equivalence_pairs: int, rounds: int, with_kronos: bool,
                 kronos_model: str, kronos_samples: int, kronos_context: int, kronos_all_keys: bool,
                 kronos_temperature: float, kronos_top_k: int, kronos_top_p: float, kronos_checkpoint: Path | None,
                 kronos_calls: int | None, kronos_baseline_steps: int | None, kronos_equivalence_calls: int,
                 threads: int, settings: Settings):
    from migrator.forecast.kronos.engines import KronosWorkload
    from migrator.forecast.profile import KronosSettings, run_profile
    from migrator.forecast.registry import ROLES
    from migrator.workload import Workload

    sims = 50 if sims is None else sims
    kronos = None
    if with_kronos:
        kronos = KronosSettings(
            KronosWorkload(sims=sims, samples=kronos_samples, context=kronos_context, all_keys=kronos_all_keys,
                           temperature=kronos_temperature, top_k=kronos_top_k, top_p=kronos_top_p),
            model=kronos_model, checkpoint=kronos_checkpoint, calls=kronos_calls,
            baseline_steps=kronos_baseline_steps, equivalence_calls=kronos_equivalence_calls)
    return run_profile(
        Workload(sims=sims, horizon=horizon, samples=samples, batch=batch, aggregate=aggregate,
                 prediction_length=prediction_length),
        engines=ROLES if engine in ("both", "all") else (engine,),
        model=model_name, checkpoint=checkpoint, data=data, seed=seed, baseline_calls=baseline_calls,
        equivalence_pairs=equivalence_pairs, rounds=rounds, kronos=kronos,
        progress=None if settings.quiet else ProgressLine(), threads=threads or None,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
