"""The engine registry: every family has a baseline and an optimized engine, runnable by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from migrator.forecast.data import pct_change_series, synthetic_ohlc
from migrator.forecast.kronos.engines import KronosWorkload
from migrator.forecast.kronos.model import build_kronos
from migrator.forecast.registry import ENGINES, ROLES, FunctionEngine, chosen, engine_for, engines_of, label
from migrator.forecast.toto.engines import Workload
from migrator.forecast.toto.model import build_model


def test_every_family_has_each_role_once_and_each_optimized_engine_a_check() -> None:
    assert ROLES == ("baseline", "optimized")
    for family in ("toto", "kronos"):
        assert [engine.role for engine in engines_of(family)] == list(ROLES)
    assert all(name == f"{engine.family}-{engine.role}" for name, engine in ENGINES.items())
    assert all((engine.check is None) == (engine.role == "baseline") for engine in ENGINES.values())


def test_a_second_engine_of_a_role_is_chosen_not_hidden(monkeypatch) -> None:
    second = FunctionEngine("toto-faster", "toto", "optimized", "migrator.forecast.toto.engines:optimized_engine")
    monkeypatch.setitem(ENGINES, second.name, second)
    assert [label(e) for e in chosen("toto", ("optimized",))] == ["optimized", "faster"]
    assert [label(e) for e in chosen("toto", ("baseline", "faster"))] == ["baseline", "faster"]
    assert engine_for("toto", "optimized") is ENGINES["toto-optimized"]  # the first: what a check compares to


def test_engines_run_through_the_common_signature() -> None:
    frame = synthetic_ohlc(days=140, seed=1)
    toto = Workload(sims=2, horizon=2, samples=16, batch=16)
    series = pct_change_series(frame)
    model = build_model("small")
    fast = engine_for("toto", "optimized").run(model, series, toto, seed=1, max_calls=1)
    slow = engine_for("toto", "baseline").run(model, series, toto, seed=1, max_calls=1)
    assert len(fast.forecasts) == toto.calls and not fast.extrapolated  # Toto's optimized runs every call
    assert slow.extrapolated and len(slow.forecasts) == 1

    kronos = KronosWorkload(sims=2, samples=4, context=16)
    tiny = build_kronos("tiny")
    for role in ROLES:
        result = engine_for("kronos", role).run(tiny, frame, kronos, seed=1, max_calls=None)
        assert set(result.forecasts) == {(0, "Close"), (1, "Close")}
        assert all(np.all(np.isfinite(path)) for path in result.forecasts.values())


def test_the_registry_imports_nothing_heavy() -> None:
    code = "import sys, migrator.forecast.registry; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
