"""Toto (Datadog): config.num_samples and config.samples_per_batch.

Run-time facts: the backtest clamps both values, so a lower target alone may
change nothing; the command says so and prints what makes it take effect. The
clamp is read from the user's own backtest module (migrator.explain: its floors,
ceilings and clamp code, under the current environment); only when that module
is absent or unreadable does toto_clamp fall back to upstream's documented rule.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from migrator.configs.models.base import Config, ConfigModel, Option, positive_int


def _check_arguments(values: Mapping[str, Any]) -> str | None:
    samples, batch = values["samples"], values["batch"]
    if batch > samples:
        return f"--batch ({batch}) must not exceed --samples ({samples})"
    if samples % batch:
        return (f"--samples ({samples}) must be a multiple of --batch ({batch}): "
                "Toto requires num_samples % samples_per_batch == 0")
    return None


def _rename(name: str, old: Config, new: Config) -> str | None:
    """toto_<anything>_<num_samples>_spb<samples_per_batch>, when it spells the old values exactly."""
    parts = name.split("_")
    samples, batch = old["num_samples"], old["samples_per_batch"]
    if (len(parts) >= 4 and parts[0] == "toto" and type(samples) is int and type(batch) is int
            and parts[-2] == str(samples) and parts[-1] == f"spb{batch}"):
        parts[-2:] = [str(new["num_samples"]), f"spb{new['samples_per_batch']}"]
        return "_".join(parts)
    return None


# --- run-time facts: the backtest's clamp ----------------------------------------------------
# The backtest clamps num_samples to [MARKETSIM_TOTO_MIN_NUM_SAMPLES (128),
# MARKETSIM_TOTO_MAX_NUM_SAMPLES (4096)] and samples_per_batch to
# [MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH (32), MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH (512)]
# and to at most num_samples, then rounds num_samples down to a multiple of
# samples_per_batch. So `--samples 32 --batch 16` alone runs as 128/32.
# The floors are upstream's defaults at the guide's commit: the fallback when the user's
# module cannot be read (runtime_note reads them from the module first).

# (config key, environment variable, default, is a lower bound)
BOUNDS = (
    ("num_samples", "MARKETSIM_TOTO_MIN_NUM_SAMPLES", 128, True),
    ("num_samples", "MARKETSIM_TOTO_MAX_NUM_SAMPLES", 4096, False),
    ("samples_per_batch", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH", 32, True),
    ("samples_per_batch", "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH", 512, False),
)


@dataclasses.dataclass(frozen=True)
class ClampReport:
    num_samples: int  # the migration's targets
    samples_per_batch: int
    runtime_num_samples: int  # what the backtest runs with in the current environment
    runtime_samples_per_batch: int
    env: dict[str, str]  # the settings that make the targets take effect (vs. the defaults)
    source: str = "upstream's documented clamp"  # where the bounds come from

    @property
    def takes_effect(self) -> bool:
        return (self.runtime_num_samples, self.runtime_samples_per_batch) == (
            self.num_samples, self.samples_per_batch)

    def warning(self) -> str | None:
        """The user-facing warning when the targets would be clamped away, else None."""
        if self.takes_effect:
            return None
        exports = "\n".join(f"  export {name}={value}" for name, value in self.env.items())
        return (
            f"the backtest clamps Toto's sampling at run time: with num_samples={self.num_samples} "
            f"samples_per_batch={self.samples_per_batch} it runs num_samples="
            f"{self.runtime_num_samples} samples_per_batch={self.runtime_samples_per_batch}, "
            f"so this change has no effect by itself ({self.source}). Run the backtest with:\n" + exports)

    def as_dict(self) -> dict[str, object]:
        return _note_document(self.takes_effect, self.runtime_num_samples, self.runtime_samples_per_batch,
                              self.env, [], self.source)


@dataclasses.dataclass(frozen=True)
class ModuleClamp:
    """The clamp as the user's backtest module defines it (read by migrator.explain)."""

    num_samples: int
    samples_per_batch: int
    advice: Any  # migrator.explain.TotoAdvice
    source: str  # "read from <file>: <clamp function> (<file:line>)"
    explain: str = "migrate explain"  # the command that shows the details (with --root when needed)

    def warning(self) -> str | None:
        runtime = self.advice.runtime
        if not isinstance(runtime.num_samples, int) or not isinstance(runtime.samples_per_batch, int):
            reason = next((why for why in runtime.why if why), "its clamp could not be followed")
            return (f"cannot tell what the backtest runs for num_samples={self.num_samples} "
                    f"samples_per_batch={self.samples_per_batch}: {reason}; `{self.explain}` shows the details")
        if (runtime.num_samples, runtime.samples_per_batch) == (self.num_samples, self.samples_per_batch):
            return None
        lines = [f"the backtest clamps Toto's sampling at run time ({self.source}): with num_samples="
                 f"{self.num_samples} samples_per_batch={self.samples_per_batch} it runs num_samples="
                 f"{runtime.num_samples} samples_per_batch={runtime.samples_per_batch}, so this change has "
                 "no effect by itself."]
        if self.advice.exports:
            lines.append("Run the backtest with:")
            lines += [f"  export {name}={value}" for name, value in self.advice.exports.items()]
        if self.advice.edits:
            lines.append("No environment variable moves these bounds; edit them in the module:")
            lines += [f"  {edit}" for edit in self.advice.edits]
        if not self.advice.takes_effect and not self.advice.edits:
            lines.append(f"Even then the values do not run as written; `{self.explain}` shows why.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        runtime = self.advice.runtime
        return _note_document(
            (runtime.num_samples, runtime.samples_per_batch) == (self.num_samples, self.samples_per_batch),
            runtime.num_samples, runtime.samples_per_batch, dict(self.advice.exports),
            list(self.advice.edits), self.source)


def _note_document(takes_effect: bool, num_samples: Any, samples_per_batch: Any, env: dict[str, str],
                   edits: list[str], source: str) -> dict[str, object]:
    """The --json "runtime" document of ClampReport and ModuleClamp: one shape for both."""
    return {
        "takes_effect": takes_effect,
        "runtime": {"num_samples": _plain(num_samples), "samples_per_batch": _plain(samples_per_batch)},
        "env": env,
        "edits": edits,
        "source": source,
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, int) else {"unknown": getattr(value, "reason", str(value))}


def runtime_note(values: Mapping[str, Any], environ: Mapping[str, str], backtest: Path | None = None):
    """What the backtest makes of these targets: its own clamp when the module can be read, else
    upstream's documented one (saying which)."""
    num_samples, samples_per_batch = values["num_samples"], values["samples_per_batch"]
    if backtest is None:
        return toto_clamp(num_samples, samples_per_batch, environ)
    from migrator.errors import BadInputError
    from migrator.backtest import Site, budget_seconds, read_backtest_facts, toto_advice

    seconds = budget_seconds(environ)  # the same bounded evaluation as `migrate explain`
    try:
        facts = read_backtest_facts(backtest, seconds)
    except BadInputError as exc:
        fallback = toto_clamp(num_samples, samples_per_batch, environ)
        why = "not found" if not backtest.exists() else f"not readable: {exc}"
        return dataclasses.replace(fallback, source=f"upstream's documented clamp; {backtest.name} {why}")
    if isinstance(facts.clamp_function, Site):
        where = f"{facts.clamp_function.text[4:]} ({_short(facts.clamp_function.location, backtest)})"
    else:
        where = "no clamp function found"
    advice = toto_advice(facts, num_samples, samples_per_batch, environ)
    from migrator.hints import command

    return ModuleClamp(num_samples, samples_per_batch, advice, f"read from {backtest.name}: {where}",
                       command("migrate explain", backtest.parent))


def _short(location: str, backtest: Path) -> str:
    """file:line with the file's name only (the warning names the module already)."""
    return location.replace(str(backtest), backtest.name)


def toto_clamp(num_samples: int, samples_per_batch: int, environ: Mapping[str, str]) -> ClampReport:
    """How the backtest treats these targets under `environ`, and the env that makes them stick."""
    from migrator.backtest import clamp_toto  # the one documented clamp rule (ast only, no libcst)

    # BOUNDS lists (low, high) of num_samples, then of samples_per_batch: clamp_toto's order.
    bounds = [_int_env(environ, name, default) for _, name, default, _ in BOUNDS]
    runtime_ns, runtime_spb = clamp_toto(num_samples, samples_per_batch, *bounds)
    targets = {"num_samples": num_samples, "samples_per_batch": samples_per_batch}
    env = {}
    for key, name, default, is_lower in BOUNDS:
        value = targets[key]
        if (value < default) if is_lower else (value > default):
            env[name] = str(value)
    return ClampReport(num_samples, samples_per_batch, runtime_ns, runtime_spb, env)


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(environ[name])
    except (KeyError, ValueError):
        return default


MODEL = ConfigModel(
    name="toto",
    folder="toto",
    schema="toto",
    summary="Set Toto num_samples / samples_per_batch in hyperparams files.",
    help="""Set Toto's num_samples and samples_per_batch in HYPERPARAMS/toto/*.json
    and in HYPERPARAMS/best/*.json selections whose model is toto.

    Only the changed values' bytes differ (config.name is updated when it spells
    the old values). The backtest clamps these values at run time (see
    MARKETSIM_TOTO_MIN_NUM_SAMPLES, MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH); a
    warning gives the exports that make a lower value take effect.
    """,
    options=(
        Option("--samples", "num_samples", int, "N", "New config.num_samples.", positive_int),
        Option("--batch", "samples_per_batch", int, "M", "New config.samples_per_batch (divides N).",
               positive_int),
    ),
    check_arguments=_check_arguments,
    rename=_rename,
    runtime_note=runtime_note,
)
