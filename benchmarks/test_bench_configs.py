"""Whole-process timings of `migrate toto` on 10,000 config files (pytest-benchmark).

Targets on the 2-core reference box: apply (validated, atomic, journaled) <= 3.0 s,
dry run (diffs to a file) <= 1.0 s. Each round runs the installed `migrate` in a
fresh process, so interpreter start and imports (click, jsonschema) count.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MIGRATE = str(Path(sys.executable).with_name("migrate"))
N_FILES = 10_000
AGGREGATES = ["mean", "median", "trimmed_mean_5", "trimmed_mean_10", "trimmed_mean_20"]


def write_tree(hyperparams: Path, n: int = N_FILES, seed: int = 0) -> None:
    """n Toto configs in the real shape, with varied values and formatting."""
    rng = random.Random(seed)
    folder = hyperparams / "toto"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        num_samples = rng.choice([256, 512, 1024, 2048, 3072, 4096])
        batch = rng.choice([32, 64, 128, 256])
        aggregate = rng.choice(AGGREGATES)
        document = {
            "symbol": f"S{i:05d}", "model": "toto",
            "config": {"name": f"toto_opt_{aggregate}_{num_samples}_spb{batch}", "num_samples": num_samples,
                       "aggregate": aggregate, "samples_per_batch": batch},
            "validation": {"price_mae": rng.uniform(0, 500), "pct_return_mae": rng.uniform(0, 0.1),
                           "latency_s": rng.uniform(1, 15)},
            "test": {"price_mae": rng.uniform(0, 500), "pct_return_mae": rng.uniform(0, 0.1),
                     "latency_s": rng.uniform(1, 15)},
            "windows": {"val_window": 20, "test_window": 20, "forecast_horizon": 1},
            "config_path": f"hyperparams/toto/S{i:05d}.json",
            "metadata": {"source": "update_best_configs_by_return_mae", "selection_metric": "test_pct_return_mae",
                         "selection_value": rng.uniform(0, 0.1), "kronos_pct_return_mae": rng.uniform(0, 0.1),
                         "toto_pct_return_mae": rng.uniform(0, 0.1), "improvement_pct": rng.uniform(0, 80)},
        }
        text = json.dumps(document, indent=rng.choice([2, 2, 2, 4]))
        if i % 7 == 0:
            text += "\n"
        if i % 11 == 0:
            text = text.replace("\n", "\r\n")
        (folder / f"S{i:05d}.json").write_text(text, encoding="utf-8", newline="")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    hyperparams = tmp_path_factory.mktemp("pristine") / "hyperparams"
    write_tree(hyperparams)
    return hyperparams


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HYPERPARAM_ROOT", "MARKETSIM_"))}


def _run(root: Path, *extra: str, stdout) -> None:
    subprocess.run([MIGRATE, "toto", "--samples", "32", "--batch", "16", "--root", str(root), *extra],
                   stdout=stdout, stderr=subprocess.DEVNULL, env=_env(), check=False).check_returncode()


def test_dry_run_10k(benchmark, pristine, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(pristine, root / "hyperparams")
    out = tmp_path / "dry-run.txt"

    def dry_run():
        with out.open("wb") as stdout:
            _run(root, "--dry-run", stdout=stdout)

    benchmark.pedantic(dry_run, rounds=3, iterations=1, warmup_rounds=1)
    text = out.read_text()
    assert text.count("\n+++ b/hyperparams/toto/") == N_FILES and "to change: 10000\n" in text
    assert not (root / ".migrate").exists()


def test_apply_10k(benchmark, pristine, tmp_path):
    root = tmp_path / "root"

    def fresh_tree():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root / "hyperparams")
        return (), {}

    def apply():
        _run(root, stdout=subprocess.DEVNULL)

    benchmark.pedantic(apply, setup=fresh_tree, rounds=3, iterations=1)
    sample = json.loads((root / "hyperparams/toto/S00042.json").read_bytes())
    assert (sample["config"]["num_samples"], sample["config"]["samples_per_batch"]) == (32, 16)
    assert len(list((root / ".migrate" / "migrations").iterdir())) >= 1
