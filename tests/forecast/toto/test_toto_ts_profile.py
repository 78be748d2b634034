"""`migrate profile --backend toto-ts` on the real toto-ts 0.2.0 (required: missing, these fail): the JSON
document, the table, equivalence, exit codes, the checkpoint loaders and the missing-package line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

try:  # the pinned toto-ts is part of the test install: without it these tests fail, never skip
    import toto.inference.forecaster  # noqa: F401
except ImportError as error:
    raise ImportError("toto-ts is missing: pip install --no-deps -r requirements/toto-ts.txt") from error

import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from migrator.cli import main  # noqa: E402
from migrator.errors import BadInputError  # noqa: E402
from migrator.forecast.toto.toto_ts_profile import load_backbone  # noqa: E402
from migrator.runtime.bench import SMALL_CONFIG, random_backbone  # noqa: E402

# 2 simulations x 4 keys x 2 origins = 16 calls; contexts of N-2, N-3 (twice) and N-4 points: 12 distinct.
TINY = ["--sims", "2", "--horizon", "2", "--samples", "32", "--batch", "16", "--rounds", "2",
        "--baseline-calls", "1", "--equivalence-pairs", "2"]
REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path):
    return CliRunner().invoke(main, ["profile", "--backend", "toto-ts", *map(str, args)])


@pytest.fixture(scope="module")
def document() -> dict:
    result = run(*TINY, "--json")
    assert result.exit_code == 0, result.output
    assert all(line.startswith("migrate: profile: ") for line in result.stderr.splitlines())
    return json.loads(result.stdout)


def test_json_engines_and_counts(document: dict) -> None:
    assert document["backend"] == "toto-ts" and document["toto_ts_version"] == "0.2.0"
    engines = document["engines"]
    assert set(engines) == {"toto_ts", "toto_ts_cached", "exact"}
    for engine in engines.values():
        assert {"seconds", "model_calls", "forward_rows", "extrapolated"} <= set(engine)
        assert engine["seconds"] > 0 and len(engine["round_seconds"]) == 2
    assert (engines["toto_ts"]["model_calls"], engines["toto_ts_cached"]["model_calls"],
            engines["exact"]["model_calls"]) == (16, 12, 16)
    assert engines["toto_ts"]["forward_rows"] == 16 * 32  # toto-ts runs every sample's row
    assert engines["toto_ts"]["extrapolated"] is True and engines["exact"]["extrapolated"] is False
    # Every distinct context forwarded once by the exact forecaster, plus bounded speculation.
    stats = document["exact_stats"]
    assert engines["exact"]["forward_rows"] - stats["speculative_rows_unused"] == 12
    assert stats["fallback_calls"] == 0
    # The context cache is not timed: the document says so, and which measured figure it comes from.
    assert [name for name, engine in engines.items() if engine["derived"]] == ["toto_ts_cached"]
    assert engines["toto_ts_cached"]["round_seconds"] == pytest.approx(
        [seconds * 12 / 16 for seconds in engines["toto_ts"]["round_seconds"]])
    assert document["workload"]["baseline_calls"] == 1 and document["workload"]["sims"] == 2


def test_json_speedups_are_medians_of_rounds(document: dict) -> None:
    for name in ("vs_toto_ts", "vs_cached"):
        ratio = document["speedup"][name]
        assert len(ratio["rounds"]) == 2 and ratio["min"] <= ratio["median"] <= ratio["max"]
    per_round = [t / e for t, e in zip(document["engines"]["toto_ts"]["round_seconds"],
                                       document["engines"]["exact"]["round_seconds"])]
    assert document["speedup"]["vs_toto_ts"]["rounds"] == pytest.approx(per_round)


def test_equivalence_passes(document: dict) -> None:
    eq = document["equivalence"]
    assert set(eq) >= {"max_param_rel_diff", "pvalue", "same_distribution"}
    assert eq["same_distribution"] is True
    assert 0 <= eq["max_param_rel_diff"] <= 1e-5
    assert eq["pvalue"] >= eq["ks_threshold"] and len(eq["contexts"]) == 2


def test_text_table_states_k_and_the_short_default() -> None:
    result = run("--horizon", "1", "--samples", "16", "--batch", "16", "--rounds", "1", "--baseline-calls", "1",
                 "--equivalence-pairs", "1", "--threads", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "20 simulations x 4 keys x 1 origins = 80 calls" in out
    assert "A short run: 20 simulations by default with --backend toto-ts; the backtest's whole schedule: --sims 50" in out
    assert "toto-ts timed on 1 call per round (K = 1) and scaled" in out
    for label in ("toto-ts forecaster, per call", "toto-ts + context cache", "exact forecaster, per call"):
        assert f"| {label}" in out
    cached_row = next(line for line in out.splitlines() if "| toto-ts + context cache" in line)
    assert " s + |" in cached_row and "+ derived, not timed: from another engine's measured time" in out
    assert "the context cache: toto-ts's per-call time x the distinct contexts" in out
    assert " s * |" in next(line for line in out.splitlines() if "| toto-ts forecaster, per call" in line)
    assert "Speed-up of the exact forecaster vs toto-ts: " in out
    assert "Speed-up of the exact forecaster vs toto-ts + context cache: " in out
    assert "Equivalence on 1 context vs toto-ts: same distribution: yes" in out


def test_beyond_one_patch_compares_draws_only() -> None:
    result = run("--sims", "1", "--horizon", "1", "--samples", "16", "--batch", "16", "--rounds", "1",
                 "--baseline-calls", "1", "--equivalence-pairs", "1", "--prediction-length", "65", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["equivalence"]["max_param_rel_diff"] is None and doc["equivalence"]["same_distribution"] is True
    assert doc["exact_stats"]["fallback_calls"] == doc["engines"]["exact"]["model_calls"] == 4


@pytest.mark.parametrize("args, message", [
    (["--samples", "30", "--batch", "16"], "--samples (30) must be a multiple of --batch (16)"),
    (["--checkpoint", "nowhere.pt"], "nowhere.pt: cannot read checkpoint"),
    (["--checkpoint", "nowhere.safetensors"], "nowhere.safetensors: no such checkpoint file"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    result = run(*TINY, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(f"migrate: error: {message}")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_state_dict_of_toto_or_backbone(tmp_path: Path) -> None:
    from toto.model.toto import Toto

    torch.manual_seed(5)
    toto = Toto(**SMALL_CONFIG).eval()
    torch.save(toto.state_dict(), tmp_path / "toto.pt")
    torch.save(toto.model.state_dict(), tmp_path / "backbone.pt")
    for name in ("toto.pt", "backbone.pt"):
        assert _same_weights(load_backbone("small", 0, tmp_path / name), toto.model)
    assert not _same_weights(random_backbone(SMALL_CONFIG, 0), toto.model)
    with pytest.raises(BadInputError, match=r"backbone.pt: not a checkpoint of the toto-ts base model"):
        load_backbone("base", 0, tmp_path / "backbone.pt")


def test_toto_ts_checkpoint_directory_loads_as_from_pretrained(tmp_path: Path) -> None:
    import safetensors.torch
    from toto.model.toto import Toto

    torch.manual_seed(6)
    toto = Toto(**SMALL_CONFIG).eval()
    folder = tmp_path / "Toto-Open-Small"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(SMALL_CONFIG))
    safetensors.torch.save_file(toto.state_dict(), folder / "model.safetensors")
    # The config comes from config.json (--model base would not fit these weights otherwise).
    assert _same_weights(load_backbone("base", 0, folder), toto.model)
    assert _same_weights(load_backbone("small", 0, folder / "model.safetensors"), toto.model)

    state = toto.state_dict()
    state.pop(next(iter(state)))
    safetensors.torch.save_file(state, folder / "model.safetensors")
    with pytest.raises(BadInputError, match=r"Toto-Open-Small: cannot load as a toto-ts checkpoint: .*Missing"):
        load_backbone("small", 0, folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(BadInputError, match=r"config.json: not a JSON object of Toto settings"):
        load_backbone("small", 0, folder)


def test_missing_toto_ts_is_one_line_exit_2() -> None:
    code = ("import sys; sys.modules['toto'] = None\n"  # `import toto...` now raises ImportError
            "from migrator.cli import main\n"
            "main(['profile', '--backend', 'toto-ts'], prog_name='migrate')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("migrate: error: --backend toto-ts needs toto-ts: "
                           "pip install --no-deps -r requirements/toto-ts.txt\n")


def _write_bars(path: Path, days: int) -> Path:
    from migrator.forecast.data import synthetic_ohlc

    frame = synthetic_ohlc(days=days, seed=9)
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(frame)):
        prices = ",".join(repr(float(c[i])) for c in (frame.open, frame.high, frame.low, frame.close))
        lines.append(f"{frame.timestamps[i]},{prices},{frame.volume[i]:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_data_csv_is_the_series(tmp_path: Path) -> None:
    bars = _write_bars(tmp_path / "UNIUSD.csv", 150)
    result = run(*TINY, "--data", bars, "--json")
    assert result.exit_code == 0, result.output
    workload = json.loads(result.stdout)["workload"]
    # 149 percent changes; simulation 0's last origin forecasts change 148 from the 147 before it.
    assert workload["data"] == str(bars) and workload["context_length"] == 147
    assert workload["context_length_min"] == 149 - 2 - 2

    short = _write_bars(tmp_path / "SHORT.csv", 40)
    result = run(*TINY, "--data", short)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(f"migrate: error: {short}: 40 rows of data")


def test_quiet_prints_nothing() -> None:
    result = run("--sims", "1", "--horizon", "1", "--samples", "16", "--batch", "16", "--rounds", "1",
                 "--baseline-calls", "1", "--equivalence-pairs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
