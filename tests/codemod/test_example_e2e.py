"""The behavioural harness: the example backtest, original and patched, run end to end.

examples/ reproduces the real backtest's structure (UPSTREAM.md sections 1 and 3):
a `validation = price[-7:]` window compared with the 7 walk-forward forecasts of
`_compute_toto_forecast`, `_log_strategy_summary(results_df, symbol,
num_simulations)`, `backtest_forecasts(symbol, num_simulations=50)` looping over
`range(num_simulations)`, the params resolution, a parallel copy, and a seeded
numpy fake forecaster. Each run is a subprocess printing one JSON document of
every number the backtest computed; the original's output is the reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from click.testing import CliRunner

from migrator.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYMBOL, SIMULATIONS = "UNIUSD", 40  # 40 > the fast-simulate cap of 35


def _copy(tmp: Path, name: str) -> Path:
    root = tmp / name
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _apply(root: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["apply", "--root", str(root), *args])
    assert result.exit_code == 0, result.output


def _run(root: Path, script: str = "backtest_test3_inline.py",
         **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MARKETSIM_")
             and k not in ("FAST_TESTING", "TOTO_NUM_SAMPLES", "TOTO_SAMPLES_PER_BATCH")}
    clean["HYPERPARAM_ROOT"] = str(root / "no-hyperparams")  # every symbol on the defaults
    return subprocess.run([sys.executable, script, SYMBOL, str(SIMULATIONS), "--json"],
                          cwd=root, env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


def _ok(process: subprocess.CompletedProcess[str]) -> dict:
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout)


def _warnings(process: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in process.stderr.splitlines() if line.startswith("WARNING")]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(original copy, patched copy, the original's output)."""
    tmp = tmp_path_factory.mktemp("harness")
    original, patched = _copy(tmp, "original"), _copy(tmp, "patched")
    _apply(patched)
    reference = _run(original)
    _ok(reference)
    return original, patched, reference.stdout


def test_the_patch_touched_both_backtests(projects: tuple[Path, Path, str]) -> None:
    original, patched, _ = projects
    for name in ("backtest_test3_inline.py", "backtest_test3_inline_parallel.py",
                 "src/optimization_utils.py"):
        assert (patched / name).read_bytes() != (original / name).read_bytes(), name
    assert (patched / "backtest_test3_inline.py.pre_speedup").read_bytes() == \
        (original / "backtest_test3_inline.py.pre_speedup").read_bytes()


def test_no_variable_set_computes_exactly_what_the_original_did(
        projects: tuple[Path, Path, str]) -> None:
    original, patched, reference = projects
    document = json.loads(reference)
    assert document["num_simulations"] == SIMULATIONS
    assert document["toto_params"] == {"aggregate": "trimmed_mean_10", "num_samples": 3072,
                                       "samples_per_batch": 384}
    serial = _run(patched)
    assert serial.returncode == 0 and serial.stdout == reference and not _warnings(serial)
    parallel = _run(patched, "backtest_test3_inline_parallel.py")
    assert parallel.returncode == 0 and parallel.stdout == reference
    # The original ignores the variables: the patched code's effects below are the patch's.
    assert _run(original, MARKETSIM_FAST_SIMULATE="1", MARKETSIM_MAX_HORIZON="3").stdout == reference


@pytest.mark.parametrize("value", ["7", "abc", ""])
def test_horizon_that_keeps_the_results(projects: tuple[Path, Path, str], value: str) -> None:
    _, patched, reference = projects
    process = _run(patched, MARKETSIM_MAX_HORIZON=value)
    assert process.stdout == reference and not _warnings(process)


@pytest.mark.parametrize("value", ["1", "3", "6", "9"])
def test_horizon_the_window_cannot_take_runs_with_the_window_and_warns_once(
        projects: tuple[Path, Path, str], value: str) -> None:
    _, patched, reference = projects
    scripts = ["backtest_test3_inline.py"]
    if value == "3":  # its threads call the helper at once: still one warning
        scripts.append("backtest_test3_inline_parallel.py")
    for script in scripts:
        process = _run(patched, script, MARKETSIM_MAX_HORIZON=value)
        assert process.returncode == 0, process.stderr[-2000:]
        assert process.stdout == reference
        assert _warnings(process) == [
            f"WARNING | MARKETSIM_MAX_HORIZON={value}: this code supports 7 to 7; using 7"]


def test_a_horizon_forced_past_the_window_breaks_the_backtest(tmp_path: Path) -> None:
    """Why the rule pins it: the guide's premise is false for this backtest."""
    root = _copy(tmp_path, "unsafe")
    refused = CliRunner().invoke(main, ["apply", "--root", str(root), "--max-horizon", "1"])
    assert refused.exit_code == 2 and "--max-horizon 1 would break this backtest" in refused.output
    _apply(root, "--max-horizon", "1", "--allow-unsafe-horizon")
    process = _run(root)
    assert process.returncode != 0
    assert "operands could not be broadcast together with shapes (6,) (0,)" in process.stderr


def test_fast_simulate_runs_the_first_35_simulations(projects: tuple[Path, Path, str]) -> None:
    _, patched, reference = projects
    full = json.loads(reference)
    for script in ("backtest_test3_inline.py", "backtest_test3_inline_parallel.py"):
        fast = _ok(_run(patched, script, MARKETSIM_FAST_SIMULATE="1"))
        assert fast["num_simulations"] == 35
        assert fast["simulations"] == full["simulations"][:35]
    assert _run(patched, MARKETSIM_FAST_SIMULATE="0").stdout == reference


def test_fast_optimize_shrinks_only_the_optimizer_budget(projects: tuple[Path, Path, str]) -> None:
    _, patched, reference = projects
    full = json.loads(reference)
    fast = _ok(_run(patched, MARKETSIM_FAST_OPTIMIZE="1"))
    assert fast["simulations"] == full["simulations"]  # the forecasts are untouched
    for name in ("maxdiff", "maxdiff_always_on"):
        assert full["strategies"][name]["details"]["evaluations"] >= 220
        assert 50 <= fast["strategies"][name]["details"]["evaluations"] <= 110
    assert fast["strategies"]["simple"] == full["strategies"]["simple"]


def _load(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """The project's backtest and optimizer modules, freshly imported from `root`."""
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    spec = importlib.util.spec_from_file_location(f"patched_backtest_{id(root)}",
                                                  root / "backtest_test3_inline.py")
    assert spec is not None and spec.loader is not None
    backtest = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, backtest)  # dataclasses look the module up
    spec.loader.exec_module(backtest)
    return backtest, sys.modules["src.optimization_utils"]


def test_fast_optimize_differential_evolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy(tmp_path, "de")
    _apply(root)
    monkeypatch.delenv("MARKETSIM_FAST_OPTIMIZE", raising=False)
    _, optimizer = _load(root, monkeypatch)
    bowl = lambda x: (x[0] - 0.1) ** 2 + x[1] ** 2  # noqa: E731
    assert optimizer.refine_with_differential_evolution(bowl, [(-1, 1), (-1, 1)])[1] == 50
    for value in ("1", "true", "YES", " on "):
        monkeypatch.setenv("MARKETSIM_FAST_OPTIMIZE", value)
        assert optimizer.refine_with_differential_evolution(bowl, [(-1, 1), (-1, 1)])[1] == 10
    rng = np.random.default_rng(0)
    close = 100 + rng.standard_normal(30)
    monkeypatch.setenv("MARKETSIM_FAST_OPTIMIZE", "off")
    fitted = optimizer.optimize_entry_exit_multipliers(close, np.full(30, 0.01), np.full(30, -0.01),
                                                       close + 1, close - 1)
    assert fitted["evaluations"] >= 450


def test_params_resolution_matches_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's resolve_*_params behave as UPSTREAM.md section 3 says (explain reads them)."""
    root = _copy(tmp_path, "params")
    for name in ("FAST_TESTING", "MARKETSIM_KRONOS_SAMPLE_COUNT", "TOTO_NUM_SAMPLES",
                 "MARKETSIM_TOTO_MIN_NUM_SAMPLES"):
        monkeypatch.delenv(name, raising=False)
    hyper = tmp_path / "hp"
    (hyper / "toto").mkdir(parents=True)
    (hyper / "kronos").mkdir()
    (hyper / "toto" / "AAPL.json").write_text(json.dumps(
        {"config": {"num_samples": 32, "samples_per_batch": 16, "aggregate": "median"}}))
    (hyper / "kronos" / "AAPL.json").write_text(json.dumps(
        {"config": {"sample_count": 320, "temperature": 0.3, "name": "k"}}))
    monkeypatch.setenv("HYPERPARAM_ROOT", str(hyper))
    backtest, _ = _load(root, monkeypatch)
    assert backtest.resolve_toto_params("AAPL") == {"num_samples": 128, "samples_per_batch": 32,
                                                    "aggregate": "median"}
    assert backtest.resolve_toto_params("MSFT") == {"num_samples": 3072, "samples_per_batch": 384,
                                                    "aggregate": "trimmed_mean_10"}
    assert backtest.resolve_kronos_params("AAPL") == {**backtest.DEFAULT_KRONOS_PARAMS,
                                                      "sample_count": 320, "temperature": 0.3}
    monkeypatch.setenv("MARKETSIM_KRONOS_SAMPLE_COUNT", "64")
    assert backtest.resolve_kronos_params("AAPL")["sample_count"] == 64
    monkeypatch.setenv("MARKETSIM_KRONOS_SAMPLE_COUNT", "0")
    assert backtest.resolve_kronos_params("AAPL")["sample_count"] == 320
