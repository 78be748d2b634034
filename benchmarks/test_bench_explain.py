"""`migrate toto --dry-run` on the bundled examples with a hostile backtest module, side by side
with the same run on the plain one (pytest-benchmark; whole processes).

The hostile module is the example backtest plus the issue's attacks: 60 chained squarings read by
a clamp bound, and 2,000 functions each reading DEFAULT_KRONOS_PARAMS.get(...). Before the bounded
evaluator it did not finish in 120 s; now the evaluation stops at its budgets. CI asserts the ratio
to the plain run, never a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MIGRATE = str(Path(sys.executable).with_name("migrate"))
REPO = Path(__file__).resolve().parents[1]
# Measured under load (2 shared cores, load average 3.3): 2.3x. The 2 s time budget alone
# would allow about 5x; past that the evaluation is not bounded.
MAX_HOSTILE_OVER_PLAIN = 5.0


def _project(root: Path, hostile: bool) -> Path:
    shutil.copytree(REPO / "examples", root)
    shutil.copytree(REPO / "hyperparams", root / "hyperparams", dirs_exist_ok=True)
    if hostile:
        backtest = root / "backtest_test3_inline.py"
        chain = "A0 = 3\n" + "".join(f"A{i} = A{i - 1} * A{i - 1}\n" for i in range(1, 61))
        readers = "".join(f"def kronos_reader_{i}():\n    DEFAULT_KRONOS_PARAMS.get('sample_count')\n"
                          f"    return DEFAULT_KRONOS_PARAMS.get('top_k')\n" for i in range(2_000))
        backtest.write_text(backtest.read_text() + "\n" + chain + readers
                            + "TOTO_MAX_SAMPLES_PER_BATCH = 512 + A40 % 1\n")
    return root


def _dry_run(root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPERPARAM_ROOT", "MARKETSIM_", "MIGRATE_"))}
    subprocess.run([MIGRATE, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--root", str(root)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True, timeout=120)


def test_dry_run_with_a_hostile_backtest(benchmark, tmp_path):
    plain, hostile = _project(tmp_path / "plain", False), _project(tmp_path / "hostile", True)
    plain_times: list[float] = []

    def plain_run():  # untimed setup, interleaved: the same load on both sides
        start = time.perf_counter()
        _dry_run(plain)
        plain_times.append(time.perf_counter() - start)

    benchmark.pedantic(lambda: _dry_run(hostile), setup=plain_run, rounds=3, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: the runs above finishing is all there is to check
        return
    ratio = min(benchmark.stats.stats.data) / min(plain_times)
    benchmark.extra_info["hostile_over_plain"] = round(ratio, 3)
    assert ratio <= MAX_HOSTILE_OVER_PLAIN
