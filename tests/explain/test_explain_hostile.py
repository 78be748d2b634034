"""Hostile modules (issue #17, explain's rows): explain's evaluation is bounded, and what is past a
budget is unknown with the reason; the run does not fail. Each test failed on the code before the
bounded evaluator (a traceback, gigabytes of memory, or no end)."""

from __future__ import annotations

import ast
import json
import tracemalloc
from pathlib import Path

import pytest

from migrator.backtest import Unknown, read_backtest_facts, toto_floors
from migrator.backtest.evaluate import Budget, Evaluator, final_value

from .helpers import clean_env, make_tree, run_explain

FLOOR = "TOTO_MIN_NUM_SAMPLES"


def _backtest(root: Path, source: str) -> Path:
    root.mkdir(exist_ok=True)
    path = root / "backtest_test3_inline.py"
    path.write_text("import os\n" + source)
    return path


def _floor(tmp_path: Path, source: str, env: dict[str, str] | None = None):
    return toto_floors(read_backtest_facts(_backtest(tmp_path / "p", source)), env or {})[0].value


def test_a_5000_hex_digit_constant_is_unknown_not_a_value_error(tmp_path: Path):
    value = _floor(tmp_path, f"{FLOOR} = 0x{'f' * 5000}\n")
    assert isinstance(value, Unknown) and "4096-bit limit" in value.reason
    make_tree(tmp_path / "p" / "hyperparams")
    code, out, err = run_explain(["--root", str(tmp_path / "p"), "--json"], clean_env())
    assert code == 0, err
    assert "4096-bit limit" in json.loads(out)["toto_bounds"]["min_num_samples"]["value"]["unknown"]


def test_chained_squaring_stops_at_the_integer_limit(tmp_path: Path):
    chain = "A0 = 3\n" + "".join(f"A{i} = A{i - 1} * A{i - 1}\n" for i in range(1, 61))
    facts = read_backtest_facts(_backtest(tmp_path / "p", chain + f"{FLOOR} = A60 % 7 + 1\n"))
    value = toto_floors(facts, {})[0].value
    assert isinstance(value, Unknown) and "4096-bit limit" in value.reason
    assert facts.evaluations.budget.steps < 2_000  # stopped at A12, not 60 squarings later


@pytest.mark.parametrize("expression", [
    "len('%2000000000d' % 1)",
    "len('%.2000000000f' % 1.0)",
    "len([0] * 1000000000)",
    "len('x' * 10 ** 12)",
    "len(10 ** 12 * 'x')",
    "len(f'{1:2000000000}')",
    "len(''.join(['x' * 1000] * 1000 + ['y' * 1000] * 1000))",
    "len(('x' * 900000) + ('y' * 900000))",
    "len(str([['x' * 500000] * 4] * 4))",
])
def test_sizes_are_checked_before_the_value_is_built(tmp_path: Path, expression: str):
    tracemalloc.start()
    try:
        value = _floor(tmp_path, f"{FLOOR} = {expression}\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(value, Unknown), value
    assert "limit" in value.reason or "deep" in value.reason or "not modelled" in value.reason, value.reason
    assert peak < 64 * 1024 * 1024  # nothing near the size asked for was built


@pytest.mark.parametrize("raw, error", [("inf", "OverflowError"), ("nan", "ValueError"), ("1e999", "OverflowError")])
def test_an_infinite_float_from_the_environment_is_unknown_with_the_reason(tmp_path: Path, raw: str, error: str):
    source = f"{FLOOR} = int(float(os.getenv('MARKETSIM_TOTO_MIN_NUM_SAMPLES', '3072')))\n"
    value = _floor(tmp_path, source, {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": raw})
    assert isinstance(value, Unknown) and error in value.reason and "fails" in value.reason
    assert _floor(tmp_path, source) == 3072
    make_tree(tmp_path / "p" / "hyperparams")
    code, out, err = run_explain(["--root", str(tmp_path / "p"), "--json"],
                                 clean_env(MARKETSIM_TOTO_MIN_NUM_SAMPLES=raw))
    assert code == 0, err
    assert error in json.loads(out)["toto_bounds"]["min_num_samples"]["value"]["unknown"]


def _walks(tmp_path: Path, functions: int, monkeypatch) -> int:
    """AST child iterations to read the facts of, and explain, a module with `functions` readers."""
    source = ("HYPERPARAM_ROOT = os.getenv('HYPERPARAM_ROOT', 'hyperparams')\n"
              "DEFAULT_KRONOS_PARAMS = {'sample_count': 192, 'top_k': 20}\n"
              + "".join(f"def reader_{i}():\n    DEFAULT_KRONOS_PARAMS.get('sample_count')\n"
                        f"    return DEFAULT_KRONOS_PARAMS.get('top_k', {i})\n" for i in range(functions)))
    root = tmp_path / f"p{functions}"
    path = _backtest(root, source)
    make_tree(root / "hyperparams")
    count = [0]
    original = ast.iter_child_nodes

    def counted(node):
        count[0] += 1
        return original(node)

    monkeypatch.setattr(ast, "iter_child_nodes", counted)
    from migrator.explain.resolve import explain
    document = explain(root, path, {}).as_json()
    monkeypatch.setattr(ast, "iter_child_nodes", original)
    assert document["symbols"]["ETHUSD"]["kronos"]["sample_count"]["value"] == 160
    return count[0]


def test_work_is_linear_in_the_modules_size(tmp_path: Path, monkeypatch):
    """2,000 functions each reading DEFAULT_KRONOS_PARAMS.get(...) took 30 s (quadratic rescans)."""
    small, large = _walks(tmp_path, 400, monkeypatch), _walks(tmp_path, 800, monkeypatch)
    assert large < 2.3 * small, (small, large)  # quadratic would be about 4x


def test_the_step_and_time_budgets_end_the_run_with_a_reason():
    tree = ast.parse("".join(f"X{i} = {i} + 1\n" for i in range(5_000)))
    steps = Evaluator(tree, {}, Budget(max_steps=1_000))
    value = final_value(steps, "X4999")
    assert isinstance(value, Unknown) and "1000 steps" in value.reason
    assert steps.budget.steps <= 1_000 + 5_000  # each later statement stops at its first step
    assert final_value(steps, "X10") == 11  # what ran before the budget was spent stands
    timed = Evaluator(tree, {}, Budget(seconds=0.0))
    value = final_value(timed, "X4999")
    assert isinstance(value, Unknown) and "time budget (0 s for the whole module)" in value.reason


def test_a_bad_time_budget_is_one_line_exit_2(tmp_path: Path):
    _backtest(tmp_path / "p", f"{FLOOR} = 128\n")
    code, out, err = run_explain(["--root", str(tmp_path / "p")], {"MIGRATE_EVAL_SECONDS": "soon"})
    assert code == 2 and "MIGRATE_EVAL_SECONDS='soon'" in err and len(err.strip().splitlines()) == 1
