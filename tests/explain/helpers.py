"""Shared pieces for tests/explain: a hyperparams tree, a clean environment, and runners
for the module's own resolution (the ground truth) and for `migrate explain --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from migrator.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
# Every variable the fixtures (and the upstream shapes) read: unset unless a test sets it.
READ_VARS = ("HYPERPARAM_ROOT", "FAST_TESTING", "TOTO_NUM_SAMPLES", "TOTO_SAMPLES_PER_BATCH",
             "TOTO_AGGREGATION_SPEC", "FAST_TOTO_NUM_SAMPLES", "FAST_TOTO_SAMPLES_PER_BATCH",
             "FAST_TOTO_AGG_SPEC", "MARKETSIM_TOTO_MIN_NUM_SAMPLES", "MARKETSIM_TOTO_MAX_NUM_SAMPLES",
             "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH", "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH",
             "MARKETSIM_KRONOS_SAMPLE_COUNT", "MARKETSIM_MAX_HORIZON", "MARKETSIM_FAST_SIMULATE",
             "MARKETSIM_FAST_OPTIMIZE", "MARKETSIM_EXACT_TOTO", "MIGRATE_EVAL_SECONDS")


def write_record(path: Path, model: str, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"symbol": path.stem, "model": model, "config": config}, indent=2))


def make_tree(folder: Path, with_toto: bool = True) -> None:
    """A hyperparams tree: configs that are used as they are, clamped, absent, only selected."""
    if with_toto:
        write_record(folder / "toto" / "AAPL.json", "toto",
                     {"name": "toto_opt_mean_64_spb16", "num_samples": 64, "samples_per_batch": 16,
                      "aggregate": "mean"})
        write_record(folder / "toto" / "BTCUSD.json", "toto",
                     {"num_samples": 5000, "samples_per_batch": 600, "aggregate": "trimmed_mean_5"})
        write_record(folder / "toto" / "NVDA.json", "toto",
                     {"num_samples": 1000, "samples_per_batch": 96})  # aggregate from the module
    write_record(folder / "kronos" / "AAPL.json", "kronos", {"sample_count": 320, "temperature": 0.3})
    write_record(folder / "kronos" / "ETHUSD.json", "kronos", {"sample_count": 160})
    write_record(folder / "best" / "MSFT.json", "toto", {"num_samples": 256, "samples_per_batch": 32})


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in READ_VARS}
    env.update(settings)
    return env


def run_module(module: Path, root: Path, symbols: list[str], env: dict[str, str]) -> dict:
    """What the module's own resolve_toto_params / resolve_kronos_params return, run in `root`."""
    done = subprocess.run([sys.executable, str(FIXTURES / "run_resolution.py"), str(module), *symbols],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_explain(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    runner = CliRunner()
    # A time budget no loaded CI box reaches (the 2 s default is for users; budgets are tested on steps).
    unset = {name: None for name in READ_VARS} | {"MIGRATE_EVAL_SECONDS": "60"}
    result = runner.invoke(main, ["explain", *args], env={**unset, **{k: env[k] for k in READ_VARS if k in env}},
                           catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def explain_values(document: dict) -> dict:
    """explain --json reduced to what the runner prints, per symbol."""
    values = {}
    for symbol, parts in document["symbols"].items():
        runtime = parts["toto"]["runtime"]
        values[symbol] = {"num_samples": runtime["num_samples"], "samples_per_batch": runtime["samples_per_batch"],
                          "aggregate": runtime["aggregate"], "sample_count": parts["kronos"]["sample_count"]["value"]}
    return values
