"""Whole-process timings of `migrate toto` on many config files (pytest-benchmark).

Targets on the 2-core reference box, 10,000 files: apply (validated, atomic,
journaled) <= 3.0 s, dry run (diffs to a file) <= 1.0 s. Each round runs the
installed `migrate` in a fresh process, so interpreter start and imports (click,
jsonschema) count. The 10,000-file runs are `-m slow`; CI runs 1,000 files.
CI asserts no absolute time (the box is shared): the dry run is compared, side by
side in one run, with a process that only imports click and jsonschema and reads
and parses the same files (what any tool that validates them pays at least).

    python -m pytest benchmarks/test_bench_configs.py -m slow   # the 10,000-file figures
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrator.journal import Journal

MIGRATE = str(Path(sys.executable).with_name("migrate"))
SIZES = [1_000, pytest.param(10_000, marks=pytest.mark.slow)]
AGGREGATES = ["mean", "median", "trimmed_mean_5", "trimmed_mean_10", "trimmed_mean_20"]


def write_tree(hyperparams: Path, n: int, seed: int = 0) -> None:
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


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}files")
def pristine(request, tmp_path_factory) -> tuple[Path, int]:
    hyperparams = tmp_path_factory.mktemp("pristine") / "hyperparams"
    write_tree(hyperparams, request.param)
    return hyperparams, request.param


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HYPERPARAM_ROOT", "MARKETSIM_"))}


def _run(root: Path, *extra: str, stdout) -> None:
    subprocess.run([MIGRATE, "toto", "--samples", "32", "--batch", "16", "--root", str(root), *extra],
                   stdout=stdout, stderr=subprocess.DEVNULL, env=_env(), check=False).check_returncode()


# The floor: interpreter, the imports `migrate toto` needs, and reading + parsing every file.
READ_AND_PARSE = ("import json, os, sys, click, jsonschema; folder = sys.argv[1]; "
                  "[json.loads(open(os.path.join(folder, n), 'rb').read()) for n in os.listdir(folder)]")
# Measured under load (2 cores shared by six workers; load average 7), best of 5 each side:
# 2.2-2.6x at 1,000 files (process start and imports weigh more), 3.8-8.6x at 10,000 (the
# per-file work: validation, spans, a second parse, diffs). Twice the per-file cost fails these.
MAX_DRY_RUN_OVER_READ_AND_PARSE = {1_000: 5.0, 10_000: 15.0}


def test_dry_run(benchmark, pristine, tmp_path):
    source, n_files = pristine
    root = tmp_path / "root"
    shutil.copytree(source, root / "hyperparams")
    out = tmp_path / "dry-run.txt"
    floor: list[float] = []

    def read_and_parse():  # untimed setup, interleaved: the same load on both sides
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", READ_AND_PARSE, str(root / "hyperparams" / "toto")], check=True)
        floor.append(time.perf_counter() - start)

    def dry_run():
        with out.open("wb") as stdout:
            _run(root, "--dry-run", stdout=stdout)

    benchmark.pedantic(dry_run, setup=read_and_parse, rounds=5, iterations=1, warmup_rounds=1)
    text = out.read_text()
    assert text.count("\n+++ b/hyperparams/toto/") == n_files and f"to change: {n_files}\n" in text
    assert not (root / ".migrate").exists()
    if benchmark.disabled:  # --benchmark-disable: the behaviour above is all there is to check
        return
    ratio = min(benchmark.stats.stats.data) / min(floor)
    benchmark.extra_info["dry_run_over_read_and_parse"] = round(ratio, 3)
    assert ratio <= MAX_DRY_RUN_OVER_READ_AND_PARSE[n_files]


def test_apply(benchmark, pristine, tmp_path):
    source, n_files = pristine
    root = tmp_path / "root"

    def fresh_tree():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(source, root / "hyperparams")
        return (), {}

    def apply():
        _run(root, stdout=subprocess.DEVNULL)

    benchmark.pedantic(apply, setup=fresh_tree, rounds=3, iterations=1)
    for path in (root / "hyperparams/toto").glob("S*0.json"):
        config = json.loads(path.read_bytes())["config"]
        assert (config["num_samples"], config["samples_per_batch"]) == (32, 16)
    [migration] = Journal(root).history()
    assert migration.state == "applied" and len(migration.files) == n_files
