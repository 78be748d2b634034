"""Toto (Datadog): config.num_samples and config.samples_per_batch.

Run-time facts: the backtest clamps both values (toto_clamp below), so a lower
target alone may change nothing; the command says so and prints the exports.
"""

from __future__ import annotations

import dataclasses
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
# The floors are upstream's defaults at the guide's commit; toto_clamp() is the one place
# that knows them (to be replaced by facts read from the user's code).

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
            "so this change has no effect by itself. Run the backtest with:\n" + exports)

    def as_dict(self) -> dict[str, object]:
        return {
            "takes_effect": self.takes_effect,
            "runtime": {"num_samples": self.runtime_num_samples,
                        "samples_per_batch": self.runtime_samples_per_batch},
            "env": self.env,
        }


def toto_clamp(num_samples: int, samples_per_batch: int, environ: Mapping[str, str]) -> ClampReport:
    """How the backtest treats these targets under `environ`, and the env that makes them stick."""
    bounds = {name: _int_env(environ, name, default) for _, name, default, _ in BOUNDS}
    runtime_ns = min(max(num_samples, bounds["MARKETSIM_TOTO_MIN_NUM_SAMPLES"]),
                     bounds["MARKETSIM_TOTO_MAX_NUM_SAMPLES"])
    runtime_spb = min(max(samples_per_batch, bounds["MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH"]),
                      bounds["MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH"], runtime_ns)
    runtime_ns -= runtime_ns % runtime_spb
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
    runtime_note=lambda values, environ: toto_clamp(values["num_samples"], values["samples_per_batch"], environ),
)
