"""`migrate profile --backend kronos`: the real KronosPredictor.predict against the exact drop-in,
one call as the backtest makes it, on kronos-finance's real Kronos (fails without it)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from migrator.cli import main
from migrator.forecast.kronos import real_profile as kronos_profile
from migrator.runtime.kronos_bench import KronosCallShape, forwards_and_tokens


def run(*args: str):
    return CliRunner().invoke(main, ["profile", "--backend", "kronos", *args])


def test_json_reports_both_calls_the_split_and_the_work():
    result = run("--kronos-model", "mini", "--kronos-samples", "8", "--kronos-context", "24", "--rounds", "1",
                 "--json", "-q")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["backend"] == "kronos"
    assert document["workload"]["model"] == "mini" and document["workload"]["pred_len"] == 7
    assert document["real"]["timed"] == "whole" and document["real"]["seconds"] > 0
    assert set(document["exact"]["split"]) == {"tokenizer", "shared", "paths", "sampling", "decode"}
    assert document["speedup"] == document["real"]["seconds"] / document["exact"]["seconds"]
    # the same seed draws the same paths, up to float rounding
    assert document["max_rel_diff_same_seed"] < 1e-3
    assert document["work"]["real"]["tokens"] == 7 * 8 * 24


def test_the_real_call_can_be_timed_on_its_first_step_and_scaled():
    result = run("--kronos-samples", "4", "--kronos-context", "16", "--kronos-baseline-steps", "1", "--rounds", "1")
    assert result.exit_code == 0, result.output
    assert "Real call timed: first 1 step(s) + 6 x one step timed alone" in result.output
    assert "Speed-up per call: " in result.output
    # scaled, so marked in the table, and no same-seed comparison of a partial call
    assert " s * |" in next(line for line in result.output.splitlines() if "| real KronosPredictor.predict" in line)
    assert "Same seed, real and exact predictions: not checked (the real call ran only some of its steps)" in result.output


def test_without_kronos_finance_it_exits_2_with_the_install_line(monkeypatch):
    def missing():
        raise ImportError(f"--backend kronos needs kronos-finance: {kronos_profile.KRONOS_INSTALL} (No module)")

    monkeypatch.setattr(kronos_profile, "real_kronos_module", missing)
    result = run()
    assert result.exit_code == 2
    assert "pip install --no-deps -r requirements/kronos.txt" in result.output
    assert "Traceback" not in result.output


def test_forwards_and_tokens_count_the_shared_window_once_per_step():
    work = forwards_and_tokens(KronosCallShape(model="base", samples=160, context=232))
    assert work["real"]["tokens"] == 7 * 160 * 232
    assert work["exact"]["tokens"] == sum(232 - i for i in range(7)) + 160 * 21
    assert work["exact"]["forwards"] == 13


def test_the_runtime_brings_in_no_forecast_code():
    """What runs inside the user's process (the exact runtimes and their benchmark helpers) loads
    nothing of migrator.forecast: the layers test checks the imports, this checks what runs."""
    import subprocess
    import sys

    code = ("import sys, migrator.runtime.exact_kronos, migrator.runtime.kronos_bench, migrator.runtime.bench\n"
            "print(sorted(n for n in sys.modules if n.startswith('migrator.forecast')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
