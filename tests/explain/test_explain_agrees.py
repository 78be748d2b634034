"""`migrate explain --json` agrees with what the backtest module itself resolves at run time.

The ground truth is the module's own resolve_toto_params / resolve_kronos_params, run
in a subprocess in the project root under each environment.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from .helpers import REPO, clean_env, explain_values, make_tree, run_explain, run_module

SYMBOLS = ["AAPL", "BTCUSD", "ETHUSD", "MSFT", "NVDA"]
SCENARIOS = {
    "unset": {},
    "lower-floor": {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32"},
    "bad-floor": {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "lots"},
    "fast-testing": {"FAST_TESTING": "1"},
    "toto-num-samples": {"TOTO_NUM_SAMPLES": "512"},
    "batch-not-dividing": {"TOTO_SAMPLES_PER_BATCH": "100"},
    "kronos-count": {"MARKETSIM_KRONOS_SAMPLE_COUNT": "64"},
}


def _compare(root: Path, module: Path, env: dict[str, str], extra_args: list[str] = ()) -> dict:
    truth = run_module(module, root, SYMBOLS, env)
    code, out, err = run_explain(["--root", str(root), "--backtest", str(module), "--json",
                                  *[a for s in SYMBOLS for a in ("--symbol", s)], *extra_args], env)
    assert code == 0, err
    document = json.loads(out)
    assert explain_values(document) == truth
    return document


@pytest.mark.parametrize("fixture", ["guide_shape.py", "plain_2026.py"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_explain_agrees_with_the_module(project, fixture, scenario):
    root = project(fixture)
    _compare(root, root / "backtest_test3_inline.py", clean_env(**SCENARIOS[scenario]))


@pytest.mark.parametrize("fixture", ["guide_shape.py", "plain_2026.py"])
def test_hyperparam_root_elsewhere(project, tmp_path, fixture):
    root = project(fixture)
    elsewhere = tmp_path / "elsewhere"
    make_tree(elsewhere)
    (elsewhere / "toto" / "AAPL.json").write_text(
        json.dumps({"config": {"num_samples": 2048, "samples_per_batch": 256, "aggregate": "median"}}))
    document = _compare(root, root / "backtest_test3_inline.py", clean_env(HYPERPARAM_ROOT=str(elsewhere)))
    assert document["symbols"]["AAPL"]["toto"]["runtime"]["num_samples"] == 2048
    # Relative: resolved against the root, where the backtest runs.
    _compare(root, root / "backtest_test3_inline.py", clean_env(HYPERPARAM_ROOT="../elsewhere"))


@pytest.mark.parametrize("fixture", ["guide_shape.py", "plain_2026.py"])
def test_without_a_toto_folder_every_symbol_runs_the_module_defaults(project, fixture):
    root = project(fixture, with_toto=False)
    document = _compare(root, root / "backtest_test3_inline.py", clean_env())
    msft = document["symbols"]["MSFT"]
    assert msft["toto"]["file"]["state"] == "missing"
    assert msft["toto"]["source"] == "module defaults"
    assert any("best/MSFT.json selects toto" in note for note in msft["notes"])
    # The default is named with its constant and line.
    assert "DEFAULT_TOTO_NUM_SAMPLES" in msft["toto"]["values"]["num_samples"]["why"]


def test_the_example_backtest_agrees(tmp_path):
    """explain agrees with running the bundled example backtest (it has upstream's resolution
    functions: a failure, not a skip, if they go)."""
    example = REPO / "examples" / "backtest_test3_inline.py"
    names = {node.name for node in ast.parse(example.read_bytes()).body if isinstance(node, ast.FunctionDef)}
    assert {"resolve_toto_params", "resolve_kronos_params"} <= names
    root = tmp_path / "example"
    shutil.copytree(REPO / "examples", root)
    shutil.rmtree(root / "hyperparams", ignore_errors=True)
    make_tree(root / "hyperparams")
    for settings in SCENARIOS.values():
        _compare(root, root / "backtest_test3_inline.py", clean_env(**settings))


def _variant(root: Path, old: str, new: str) -> None:
    backtest = root / "backtest_test3_inline.py"
    source = backtest.read_text()
    assert old in source
    backtest.write_text(source.replace(old, new))


def test_the_modules_own_clamp_code_is_followed(project):
    root = project("guide_shape.py")
    env = clean_env(TOTO_SAMPLES_PER_BATCH="100")
    document = _compare(root, root / "backtest_test3_inline.py", env)
    assert "its own code, followed" in document["symbols"]["MSFT"]["toto"]["runtime"]["why"][0]
    assert document["symbols"]["MSFT"]["toto"]["runtime"]["num_samples"] == 3000
    # A version that does not round down: explain follows it, not the documented rule.
    _variant(root, "    num_samples -= num_samples % samples_per_batch\n", "")
    document = _compare(root, root / "backtest_test3_inline.py", env)
    assert document["symbols"]["MSFT"]["toto"]["runtime"]["num_samples"] == 3072


def test_a_clamp_it_cannot_follow_uses_the_documented_rule_and_says_so(project):
    root = project("guide_shape.py")
    _variant(root, "    num_samples -= num_samples % samples_per_batch\n",
             "    while num_samples % samples_per_batch:\n        num_samples -= 1\n")
    for settings in ({}, {"TOTO_SAMPLES_PER_BATCH": "100"}, {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32"}):
        document = _compare(root, root / "backtest_test3_inline.py", clean_env(**settings))
    why = document["symbols"]["AAPL"]["toto"]["runtime"]["why"][0]
    assert "as the upstream clamp is documented" in why and "could not be followed" in why


def test_values_the_module_fails_on_are_unknown(project):
    root = project("guide_shape.py")
    (root / "hyperparams" / "toto" / "AAPL.json").write_text(
        json.dumps({"config": {"num_samples": 64, "samples_per_batch": 0}}))
    env = clean_env(MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH="0")
    module = root / "backtest_test3_inline.py"
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        run_module(module, root, ["AAPL"], env)
    code, out, err = run_explain(["--root", str(root), "--json", "--symbol", "AAPL"], env)
    assert code == 0, err
    runtime = json.loads(out)["symbols"]["AAPL"]["toto"]["runtime"]
    assert "fails" in runtime["num_samples"]["unknown"] and "ZeroDivisionError" in runtime["num_samples"]["unknown"]
