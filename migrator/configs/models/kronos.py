"""Kronos (shiyu-coder/Kronos): config.sample_count.

Run-time facts: the backtest's resolve_kronos_params lets env
MARKETSIM_KRONOS_SAMPLE_COUNT (a positive integer) override sample_count for
every symbol, so while it is set the files' value does nothing; the command says so.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from migrator.configs.models.base import Config, ConfigModel, Option, positive_int


def _rename(name: str, old: Config, new: Config) -> str | None:
    """kronos_..._s<sample_count>_..., when exactly one segment is s<number> and it spells the old value."""
    parts = name.split("_")
    counts = [i for i, part in enumerate(parts) if re.fullmatch(r"s[0-9]+", part)]
    if (parts[0] == "kronos" and len(counts) == 1 and type(old["sample_count"]) is int
            and parts[counts[0]] == f"s{old['sample_count']}"):
        parts[counts[0]] = f"s{new['sample_count']}"
        return "_".join(parts)
    return None


OVERRIDE_ENV = "MARKETSIM_KRONOS_SAMPLE_COUNT"


@dataclasses.dataclass(frozen=True)
class SampleCountOverride:
    sample_count: int  # the migration's target
    override: int  # MARKETSIM_KRONOS_SAMPLE_COUNT, which the backtest uses instead

    def warning(self) -> str | None:
        if self.override == self.sample_count:
            return None
        return (f"{OVERRIDE_ENV}={self.override} is set here: the backtest uses it for every symbol "
                f"instead of config.sample_count, so this change has no effect while it is set "
                f"(unset it, or export {OVERRIDE_ENV}={self.sample_count})")

    def as_dict(self) -> dict[str, Any]:
        return {"takes_effect": self.override == self.sample_count,
                "runtime": {"sample_count": self.override}, "env": {OVERRIDE_ENV: str(self.override)}}


def _runtime_note(values: Mapping[str, Any], environ: Mapping[str, str],
                  backtest: object = None) -> SampleCountOverride | None:
    """The override in effect under `environ`, if any (as the backtest reads it: a positive integer)."""
    try:
        override = int(environ[OVERRIDE_ENV])
    except (KeyError, ValueError):
        return None
    return SampleCountOverride(values["sample_count"], override) if override > 0 else None


MODEL = ConfigModel(
    name="kronos",
    folder="kronos",
    schema="kronos",
    summary="Set Kronos sample_count in hyperparams files.",
    help="""Set Kronos's sample_count in HYPERPARAMS/kronos/*.json and in
    HYPERPARAMS/best/*.json selections whose model is kronos.

    Only the changed values' bytes differ (config.name's s<count> part is
    updated when it spells the old value).
    """,
    options=(Option("--samples", "sample_count", int, "N", "New config.sample_count.", positive_int),),
    rename=_rename,
    runtime_note=_runtime_note,
)
