"""The Kronos model's table: argument rules, config.name, the run-time env override."""

from __future__ import annotations

import pytest

from migrator.configs.models.kronos import MODEL as KRONOS
from migrator.errors import BadInputError


def test_kronos_argument_rule():
    with pytest.raises(BadInputError, match="--samples must be a positive integer, got 0"):
        KRONOS.spec(samples=0)


@pytest.mark.parametrize("name, expected", [
    ("kronos_opt_temp0.300_p0.90_s320_k24_clip1.60_ctx192", "kronos_opt_temp0.300_p0.90_s64_k24_clip1.60_ctx192"),
    ("kronos_s320", "kronos_s64"),
    ("kronos_opt_s256", None),  # spells another value
    ("kronos_s320_s320", None),  # ambiguous
    ("toto_s320", None),
])
def test_rename(name, expected):
    assert KRONOS.rename(name, {"sample_count": 320}, {"sample_count": 64}) == expected


@pytest.mark.parametrize("env, warning", [
    ({}, None),
    ({"MARKETSIM_KRONOS_SAMPLE_COUNT": "0"}, None),  # not a positive integer: the backtest ignores it
    ({"MARKETSIM_KRONOS_SAMPLE_COUNT": "x"}, None),
    ({"MARKETSIM_KRONOS_SAMPLE_COUNT": "64"}, None),  # already what the migration sets
    ({"MARKETSIM_KRONOS_SAMPLE_COUNT": "192"}, "MARKETSIM_KRONOS_SAMPLE_COUNT=192 is set here: the backtest "
     "uses it for every symbol instead of config.sample_count, so this change has no effect while it is set "
     "(unset it, or export MARKETSIM_KRONOS_SAMPLE_COUNT=64)"),
])
def test_kronos_env_override_note(env, warning):
    spec = KRONOS.spec(samples=64)
    note = KRONOS.runtime_note(spec.values, env)
    assert (note is None) == (env.get("MARKETSIM_KRONOS_SAMPLE_COUNT") in (None, "0", "x"))
    assert (note.warning() if note else None) == warning
