"""`migrate explain` on the real upstream backtest agrees with the module's own resolution.

The ground truth is upstream's resolve_toto_params / resolve_kronos_params / resolve_best_model,
imported from a copy of the real tree (read from ../shared at test time) in a subprocess, for
every symbol of the real hyperparams corpus, under six environments. Every value explain gives
must be equal; at most 5% may be unknown, each with a reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import FIXTURES, REPO, READ_VARS, run_explain

SHARED = REPO / ".." / "shared"
UPSTREAM = SHARED / "upstream" / "5c71b959"
CORPUS = SHARED / "corpus"
# Also read by the real module's selection (a test mode, a forced model): unset in every scenario.
OTHER_VARS = ("TESTING", "MARKETSIM_ALLOW_MOCK_ANALYTICS", "MARKETSIM_FORCE_KRONOS", "REAL_TESTING")
KRONOS_KEYS = ("temperature", "top_p", "top_k", "sample_count", "max_context", "clip")


def scenarios(elsewhere: Path) -> dict[str, dict[str, str]]:
    return {
        "none": {},
        "TOTO_NUM_SAMPLES=64": {"TOTO_NUM_SAMPLES": "64"},
        "FAST_TESTING=1": {"FAST_TESTING": "1"},
        "lower floors 32/16": {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"},
        "MARKETSIM_KRONOS_SAMPLE_COUNT=64": {"MARKETSIM_KRONOS_SAMPLE_COUNT": "64"},
        "HYPERPARAM_ROOT elsewhere": {"HYPERPARAM_ROOT": str(elsewhere)},
    }


def _hyperparams(folder: Path, toto_every_other: int) -> None:
    """The corpus (best/, kronos/), and toto/SYMBOL.json (the shape of a best/ file of model toto)
    for every other symbol: both a loaded Toto config and upstream's missing one occur."""
    shutil.copytree(CORPUS / "hyperparams", folder)
    (folder / "toto").mkdir()
    for index, path in enumerate(sorted((folder / "best").glob("*.json"))):
        if index % 2 == toto_every_other and json.loads(path.read_bytes()).get("model") == "toto":
            shutil.copy2(path, folder / "toto" / path.name)


def _explained(document: dict, symbol: str) -> dict:
    parts = document["symbols"][symbol]
    runtime = parts["toto"]["runtime"]
    kronos = parts["kronos"]
    values = {f"toto.{key}": runtime[key] for key in ("num_samples", "samples_per_batch", "aggregate")}
    values.update({f"kronos.{key}": kronos["values"][key]["value"] for key in KRONOS_KEYS if key != "sample_count"})
    values["kronos.sample_count"] = kronos["sample_count"]["value"]
    values["best"] = parts["best"]["runs"]["value"]
    return values


def _truth(result: dict) -> dict:
    values = {f"toto.{key}": result["toto"][key] for key in ("num_samples", "samples_per_batch", "aggregate")}
    values.update({f"kronos.{key}": result["kronos"][key] for key in KRONOS_KEYS})
    values["best"] = result["best"]
    return values


def agreement_table(tmp_path: Path) -> tuple[dict, list[str]]:
    """{scenario: {symbol: "equal" | "unknown" | "wrong: ..."}} and the unknowns' reasons."""
    tree = tmp_path / "upstream"
    shutil.copytree(UPSTREAM, tree)
    _hyperparams(tree / "hyperparams", 0)
    elsewhere = tmp_path / "elsewhere"
    _hyperparams(elsewhere, 1)
    symbols = sorted({p.stem for model in ("best", "kronos") for p in (CORPUS / "hyperparams" / model).glob("*.json")})
    assert symbols
    cases = scenarios(elsewhere)
    (tmp_path / "scenarios.json").write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if k not in (*READ_VARS, *OTHER_VARS)}
    env.update(MARKETSIM_ALLOW_CPU_FALLBACK="1", TOTO_DISABLE_COMPILE="1", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, str(FIXTURES / "run_upstream.py"), str(tree), str(tmp_path / "scenarios.json"),
                           *symbols], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    truth = json.loads(done.stdout.strip().splitlines()[-1])
    table: dict[str, dict[str, str]] = {}
    reasons: list[str] = []
    for name, settings in cases.items():
        code, out, err = run_explain(["--root", str(tree), "--json"], {**settings, "MIGRATE_EVAL_SECONDS": "120"})
        assert code == 0, err
        document = json.loads(out)
        table[name] = {}
        for symbol in symbols:
            explained, expected = _explained(document, symbol), _truth(truth[name][symbol])
            wrong = [f"{key}: {explained[key]!r} != {expected[key]!r}" for key in expected
                     if not (isinstance(explained[key], dict) and "unknown" in explained[key])
                     and explained[key] != expected[key]]
            unknown = [f"{key}: {explained[key]['unknown']}" for key in expected
                       if isinstance(explained[key], dict) and "unknown" in explained[key]]
            reasons += unknown
            table[name][symbol] = f"wrong: {wrong}" if wrong else "unknown" if unknown else "equal"
    return table, reasons


@pytest.mark.skipif(not (UPSTREAM / "backtest_test3_inline.py").is_file(), reason="the real upstream tree is absent")
def test_explain_agrees_with_the_real_upstream_module(tmp_path: Path):
    pytest.importorskip("pandas")
    pytest.importorskip("torch")
    table, reasons = agreement_table(tmp_path)
    cells = [state for row in table.values() for state in row.values()]
    assert not [c for c in cells if c.startswith("wrong")], table
    assert sum(c == "unknown" for c in cells) <= 0.05 * len(cells), table
    assert all(reason.strip() for reason in reasons)
    # The real module resolves definite values: the issue's own examples.
    assert set(table["none"].values()) == {"equal"}
