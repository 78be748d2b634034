"""MARKETSIM_* reads: who put them there, and what the current environment makes them do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.backtest import read_backtest_facts
from migrator.backtest import hook_effects
from .helpers import READ_VARS, clean_env, run_explain

_CALL_FORECAST = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("patched", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
predictions, _ = module._compute_toto_forecast("AAPL", "Close", list(range(40)), 1.0, {})
print(len(predictions))
"""


def _hook(document: dict, var: str) -> dict:
    found = [hook for hook in document["hooks"] if hook["var"] == var]
    assert len(found) == 1, document["hooks"]
    return found[0]


@pytest.mark.parametrize("setting", [None, "3", "7", "junk"])
def test_the_max_horizon_hook_migrate_apply_installed_does_what_explain_says(project, setting):
    root = project("guide_shape.py")
    backtest = root / "backtest_test3_inline.py"
    applied = CliRunner().invoke(main, ["apply", "--root", str(root), str(backtest)],
                                 env={name: None for name in READ_VARS}, catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    env = clean_env(**({"MARKETSIM_MAX_HORIZON": setting} if setting is not None else {}))
    ran = subprocess.run([sys.executable, "-c", _CALL_FORECAST, str(backtest)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    code, out, err = run_explain(["--root", str(root), "--json", "--symbol", "AAPL"], env)
    assert code == 0, err
    hook = _hook(json.loads(out), "MARKETSIM_MAX_HORIZON")
    assert hook["origin"] == "migrate"
    assert hook["function"] == "_compute_toto_forecast"
    assert hook["env_value"] == setting
    assert hook["value"] == int(ran.stdout)  # what the patched code really walks
    assert hook["effect"] == f"max_horizon = {int(ran.stdout)}"
    # The upstream read in the same file stays upstream's.
    assert _hook(json.loads(out), "MARKETSIM_FAST_SIMULATE")["origin"] == "upstream"


_HOOKED = '''\
import os


def _marketsim_env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# PERF: MARKETSIM_EXACT_TOTO=1 runs the exact one-pass forecaster (added by migrate apply)
if _marketsim_env_flag("MARKETSIM_EXACT_TOTO"):
    TotoForecaster = ExactTotoForecaster

LIMIT = int(os.environ["MARKETSIM_LIMIT"]) if "MARKETSIM_LIMIT" in os.environ else 3
OTHER = os.getenv("NOT_OURS")


def backtest_forecasts(symbol, num_simulations=50):
    if _marketsim_env_flag("MARKETSIM_FAST_SIMULATE") and isinstance(num_simulations, int):
        num_simulations = min(num_simulations, 35)
    return num_simulations
'''


@pytest.mark.parametrize("exact, expected", [
    (None, "`_marketsim_env_flag('MARKETSIM_EXACT_TOTO')` is false: skipped"),
    ("1", "`_marketsim_env_flag('MARKETSIM_EXACT_TOTO')` is true: runs `TotoForecaster = ExactTotoForecaster`"),
    ("off", "`_marketsim_env_flag('MARKETSIM_EXACT_TOTO')` is false: skipped")])
def test_exact_toto_hook_and_other_read_shapes(tmp_path: Path, exact, expected):
    path = tmp_path / "backtest_test3_inline.py"
    path.write_text(_HOOKED)
    facts = read_backtest_facts(path)
    env = {"MARKETSIM_EXACT_TOTO": exact} if exact is not None else {}
    effects = {(e.read.var, e.read.via): e for e in hook_effects(facts.tree, facts.env_reads, env)}
    assert set(effects) == {("MARKETSIM_EXACT_TOTO", "_marketsim_env_flag"),
                            ("MARKETSIM_LIMIT", "os.environ[...]"), ("MARKETSIM_LIMIT", "in os.environ"),
                            ("MARKETSIM_FAST_SIMULATE", "_marketsim_env_flag")}
    exact_hook = effects[("MARKETSIM_EXACT_TOTO", "_marketsim_env_flag")]
    assert exact_hook.read.origin == "migrate"
    assert exact_hook.read.marker.startswith("# PERF: MARKETSIM_EXACT_TOTO=1")
    assert exact_hook.effect == expected
    assert effects[("MARKETSIM_LIMIT", "in os.environ")].read.origin == "upstream"
    assert effects[("MARKETSIM_LIMIT", "in os.environ")].effect == "LIMIT = 3"
    # The condition also needs num_simulations, known only at run time: said so, not guessed.
    simulate = effects[("MARKETSIM_FAST_SIMULATE", "_marketsim_env_flag")]
    assert simulate.effect.endswith("is false: skipped")
    on = [e for e in hook_effects(facts.tree, facts.env_reads, {"MARKETSIM_FAST_SIMULATE": "yes"})
          if e.read.var == "MARKETSIM_FAST_SIMULATE"][0]
    assert "depends on run-time values" in on.effect and "min(num_simulations, 35)" in on.effect


_FLOORED = '''\
import logging
import os

logger = logging.getLogger(__name__)


def _marketsim_env_int(name, default):
    try:
        return int(os.environ.get(name, "").strip())
    except ValueError:
        return default


def _compute_toto_forecast(symbol, price_frame):
    predictions = []
    # PERF: was 7; MARKETSIM_MAX_HORIZON sets it (added by migrate apply)
    max_horizon = _marketsim_env_int("MARKETSIM_MAX_HORIZON", 7)
    if max_horizon < 7:
        logger.warning("MARKETSIM_MAX_HORIZON=%s is below the validation window; using 7", max_horizon)
        max_horizon = 7
    for pred_idx in reversed(range(1, max_horizon + 1)):
        predictions.append(price_frame[-pred_idx])
    return predictions, []
'''


@pytest.mark.parametrize("setting", [None, "3", "9"])
def test_a_floor_after_the_hook_is_followed(tmp_path: Path, setting):
    path = tmp_path / "backtest_test3_inline.py"
    path.write_text(_FLOORED)
    env = clean_env(**({"MARKETSIM_MAX_HORIZON": setting} if setting else {}))
    ran = subprocess.run([sys.executable, "-c", _CALL_FORECAST.replace('"Close", list(range(40)), 1.0, {}',
                                                                       'list(range(40))'), str(path)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    facts = read_backtest_facts(path)
    [effect] = hook_effects(facts.tree, facts.env_reads, {k: v for k, v in env.items() if k.startswith("MARKETSIM_")})
    assert effect.effect.startswith(f"max_horizon = {int(ran.stdout)}")
    assert effect.read.origin == "migrate"
