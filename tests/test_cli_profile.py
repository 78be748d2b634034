"""`migrate profile` through click: options, JSON, the table, errors as exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.forecast.data import synthetic_ohlc

TINY = ["--sims", "2", "--horizon", "2", "--samples", "32", "--batch", "16", "--equivalence-pairs", "2",
        "--rounds", "1", "--no-kronos"]
KRONOS = ["--sims", "2", "--horizon", "2", "--samples", "32", "--batch", "16", "--equivalence-pairs", "1",
          "--rounds", "2", "--kronos-samples", "4", "--kronos-context", "16"]


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = synthetic_ohlc(days=150, seed=9)
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(frame)):
        prices = ",".join(repr(float(c[i])) for c in (frame.open, frame.high, frame.low, frame.close))
        lines.append(f"{frame.timestamps[i]},{prices},{frame.volume[i]:.0f}")
    path = tmp_path_factory.mktemp("cli") / "UNIUSD.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args: str | Path):
    return CliRunner().invoke(main, ["profile", *map(str, args)])


def test_json_document(bars: Path) -> None:
    result = run(*TINY, "--data", bars, "--baseline-calls", "4", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["workload"]["sims"] == 2 and doc["workload"]["samples"] == 32
    assert doc["workload"]["data"] == str(bars) and doc["workload"]["seed"] == 3
    assert doc["engines"]["baseline"]["extrapolated"] is True
    assert doc["engines"]["baseline"]["timed_calls"] == 4
    assert doc["engines"]["baseline"]["model_calls"] == 16
    assert doc["engines"]["optimized"]["extrapolated"] is False
    assert doc["speedup"] == pytest.approx(doc["engines"]["baseline"]["seconds"] / doc["engines"]["optimized"]["seconds"])
    assert doc["equivalence"]["same_distribution"] is True
    assert doc["kronos"] is None and doc["workload"]["rounds"] == 1
    # Progress only, and only once the run has taken 2 s.
    assert all(line.startswith("migrate: profile: ") for line in result.stderr.splitlines())


def test_kronos_row_and_whole_backtest(bars: Path) -> None:
    result = run(*KRONOS, "--data", bars, "--kronos-all-keys", "--kronos-top-k", "5", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    kronos = doc["kronos"]
    assert kronos["workload"] == {"model": "mini", "parameters": kronos["workload"]["parameters"], "checkpoint": None,
                                  "sims": 2, "keys": ["Close", "Low", "High", "Open"], "pred_len": 7, "samples": 4,
                                  "context": 16, "temperature": 1.0, "top_k": 5, "top_p": 0.99, "clip": 5.0}
    assert kronos["engines"]["baseline"]["model_calls"] == 8  # 2 simulations x 4 keys
    assert kronos["engines"]["optimized"]["extrapolated"] is True  # timed on 1 of the 2 simulations
    assert kronos["equivalence"]["same_distribution"] is True
    assert set(doc["whole_backtest"]) == {"baseline_seconds", "optimized_seconds", "speedup"}
    assert doc["speedup_range"]["min"] <= doc["speedup"] <= doc["speedup_range"]["max"]


def test_kronos_table(bars: Path) -> None:
    result = run(*KRONOS, "--data", bars, "--kronos-baseline-steps", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "  Kronos: each timed call ran 3 of its 7 steps, scaled (every step runs the same full window)" in out
    assert "  Kronos: simulations per batch: up to 1 (4 paths each)" in out
    assert "Kronos workload: Kronos-mini (" in out and "2 simulations x 1 key(s) (Close) = 2 calls of 4 paths" in out
    assert out.count("| Forecasting (Kronos) ") == 2
    assert "Speed-up in Kronos forecasting: " in out and "(median of 2 rounds, " in out
    assert "Kronos equivalence on 1 call: same distribution: yes" in out


def test_kronos_equivalence_can_be_skipped(bars: Path) -> None:
    result = run(*KRONOS, "--data", bars, "--rounds", "1", "--kronos-equivalence-calls", "0", "--engine", "optimized")
    assert result.exit_code == 0, result.output
    assert "Kronos equivalence: not checked (--kronos-equivalence-calls 0)" in result.stdout
    assert "Whole backtest" not in result.stdout  # needs both roles


def test_progress_after_two_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    from migrator.output import ProgressLine

    progress = ProgressLine()
    progress("early")
    progress.started -= 2.5
    progress("late")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("migrate: profile: ") and err[0].endswith(": late")


def test_table_for_one_engine(bars: Path) -> None:
    result = run(*TINY, "--data", bars, "--engine", "optimized", "--aggregate", "trimmed_mean_10")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "aggregate trimmed_mean_10" in out
    assert "Optimized engines: Toto 12 model calls" in out and "Baseline engine" not in out
    for label in ("Forecasting (Toto)", "MaxDiff optimization", "Data processing", "Other", "Total"):
        assert f"| {label} " in out
    assert "Speed-up" not in out  # needs both engines
    assert "Equivalence on 2 (key, origin) pairs: same distribution: yes" in out


def test_prediction_length_within_one_patch(bars: Path) -> None:
    result = run(*TINY, "--data", bars, "--prediction-length", "5", "--engine", "optimized", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["workload"]["prediction_length"] == 5
    assert doc["engines"]["optimized"]["forward_passes"] == 1 and doc["engines"]["optimized"]["notes"] == []
    assert doc["equivalence"]["same_distribution"] is True and doc["equivalence"]["max_param_rel_diff"] < 1e-5


def test_prediction_length_beyond_one_patch_says_it_falls_back(bars: Path) -> None:
    result = run(*TINY, "--data", bars, "--prediction-length", "70", "--engine", "optimized")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Prediction length 70: each forecast aggregates the samples of the step 70 ahead" in out
    assert "  prediction length 70 > 64: Toto decodes it autoregressively" in out
    assert "Optimized engines: Toto 12 model calls, 48 forward passes" in out  # 12 contexts x 2 batches x 2 patches
    assert "same distribution: yes (max parameter relative difference n/a" in out


def test_quiet_prints_nothing(bars: Path) -> None:
    result = run(*TINY, "--data", bars, "--engine", "optimized", "-q")
    assert result.exit_code == 0 and result.output == ""


def test_fast_optimize_budget_is_reported(bars: Path) -> None:
    result = CliRunner(env={"MARKETSIM_FAST_OPTIMIZE": "yes"}).invoke(
        main, ["profile", *TINY, "--data", str(bars), "--engine", "optimized", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["workload"]["maxdiff_budget"] == 100
    assert 200 <= doc["engines"]["optimized"]["maxdiff"]["evaluations"] < 280


@pytest.mark.parametrize(("args", "message"), [
    (["--samples", "30", "--batch", "16"], "--samples 30 is not a multiple of --batch 16"),
    (["--sims", "0"], "Invalid value for '--sims'"),
    (["--baseline-calls", "0"], "Invalid value for '--baseline-calls': 0 is not at least 1"),
    (["--baseline-calls", "some"], "'some' is neither a number nor 'all'"),
    (["--engine", "fast"], "Invalid value for '--engine'"),
    (["--model", "large"], "Invalid value for '--model'"),
    (["--aggregate", "mode"], "unknown aggregate 'mode'"),
    (["--dry-run"], "No such option '--dry-run'"),
    (["--check"], "No such option '--check'"),
    (["--root", "."], "No such option '--root'"),
    (["--rounds", "0"], "Invalid value for '--rounds'"),
    (["--kronos-model", "large"], "Invalid value for '--kronos-model'"),
    (["--kronos-samples", "0"], "Invalid value for '--kronos-samples'"),
    (["--kronos-context", "7"], "the Kronos context (7) must be longer than pred_len (7)"),
    (["--kronos-calls", "0"], "Invalid value for '--kronos-calls': 0 is not at least 1"),
    (["--kronos-context", "150"], "Kronos (50 simulations x 150 bars of context) needs at least 200"),
    (["--kronos-top-p", "0"], "Invalid value for '--kronos-top-p'"),
    (["--kronos-baseline-steps", "0"], "Invalid value for '--kronos-baseline-steps'"),
    (["--threads", "-1"], "Invalid value for '--threads'"),
    (["--kronos-equivalence-calls", "-1"], "Invalid value for '--kronos-equivalence-calls'"),
    (["--sims", "200"], "rows of data, the workload (200 simulations, horizon 7"),
    (["--prediction-length", "0"], "Invalid value for '--prediction-length': 0 is not in the range x>=1"),
    (["--prediction-length", "ten"], "Invalid value for '--prediction-length': 'ten' is not a valid integer"),
])
def test_bad_arguments_exit_2(bars: Path, args: list[str], message: str) -> None:
    result = run("--data", bars, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("Date,Open,High,Close\n2024-01-02,1,2,1.5\n", "line 1: missing column Low"),
    ("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,2,x,1.5\n", "line 3, column Low: 'x' is not a number"),
    ("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,2,0.5,1.5\n", "2 rows of data, the workload"),
    ("Date,Open,High,Low,Close\n2024-01-02,1,0.4,0.5,0.45\n2024-01-03,1,2,0.5,1.5\n", "line 2: High is below Low"),
])
def test_bad_csv_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    result = run("--data", path)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"migrate: error: {path}: ")
    assert message in lines[0]
    assert result.stdout == ""


def test_unusable_checkpoint(bars: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "toto.pt"
    checkpoint.write_bytes(b"not a state dict")
    result = run(*TINY, "--data", bars, "--checkpoint", checkpoint)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"migrate: error: {checkpoint}") and len(result.stderr.splitlines()) == 1


def test_missing_data_file(tmp_path: Path) -> None:
    result = run("--data", tmp_path / "nope.csv", "--no-kronos")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"migrate: error: {tmp_path / 'nope.csv'}: no such file"


def test_help_does_not_import_torch() -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom migrator.cli import main\n"
            "r = CliRunner().invoke(main, ['profile', '--help'])\n"
            "assert r.exit_code == 0 and '--baseline-calls' in r.output, r.output\n"
            "print('torch' in sys.modules, 'migrator.forecast.profile' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unusable_kronos_checkpoint(bars: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "kronos.pt"
    checkpoint.write_bytes(b"junk")
    result = run(*KRONOS, "--data", bars, "--kronos-checkpoint", checkpoint)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"migrate: error: {checkpoint}: cannot read checkpoint")
    assert len(result.stderr.splitlines()) == 1
