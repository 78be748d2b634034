"""Kronos (shiyu-coder/Kronos): config.sample_count."""

from __future__ import annotations

import re

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
)
