"""Whether a config migration reaches the backtest: the files it reads, and its clamp as its own code
defines it (issue: `migrate toto` on a fresh checkout edits best/ selections the backtest never reads)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "explain" / "fixtures"
TOTO_ENV = ("MARKETSIM_TOTO_MIN_NUM_SAMPLES", "MARKETSIM_TOTO_MAX_NUM_SAMPLES",
            "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH", "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH",
            "HYPERPARAM_ROOT", "FAST_TESTING", "TOTO_NUM_SAMPLES", "TOTO_SAMPLES_PER_BATCH",
            "MARKETSIM_KRONOS_SAMPLE_COUNT", "NO_COLOR")


def run(root: Path, *args: str, **env: str):
    environment = {name: None for name in TOTO_ENV}
    environment.update(env)
    return CliRunner().invoke(main, [*args, "--root", str(root)], env=environment)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".migrate" not in p.parts}


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Path:
    """The example backtest and hyperparams as a fresh upstream checkout has them: no toto/ folder
    (upstream git-ignores it), so the best/ selections are all there is for Toto."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "hyperparams", root / "hyperparams")
    shutil.rmtree(root / "hyperparams" / "toto")
    return root


def toto_selections(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "hyperparams" / "best").glob("*.json")
                  if json.loads(p.read_bytes()).get("model") == "toto")


def explained_toto(root: Path, symbol: str) -> dict:
    done = run(root, "explain", "--json", "--symbol", symbol)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)["symbols"][symbol]["toto"]


def test_without_a_toto_folder_migrate_toto_says_the_backtest_reads_none_of_it(fresh_checkout):
    symbols = toto_selections(fresh_checkout)
    assert symbols
    before = files(fresh_checkout)
    done = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--dry-run", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["unread_selections"] == [f"hyperparams/best/{s}.json" for s in symbols]
    [warning] = [w for w in document["warnings"] if "not best/ selections" in w]
    assert all(symbol in warning for symbol in symbols) and "--create-missing" in warning
    assert files(fresh_checkout) == before
    # What the backtest runs for them: the module's defaults, whatever best/ says.
    assert explained_toto(fresh_checkout, symbols[0])["source"] == "module defaults"


def test_create_missing_writes_what_the_backtest_reads_and_revert_deletes_exactly_that(fresh_checkout):
    symbols = toto_selections(fresh_checkout)
    before = files(fresh_checkout)
    done = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing")
    assert done.exit_code == 0, done.output
    assert "created: " in done.stdout
    for symbol in symbols:
        created = fresh_checkout / "hyperparams" / "toto" / f"{symbol}.json"
        selection = json.loads((fresh_checkout / "hyperparams" / "best" / f"{symbol}.json").read_bytes())
        # The shape upstream's store writes: json.dump(record, indent=2), no final newline.
        assert created.read_bytes() == json.dumps(selection, indent=2).encode()
        assert selection["config"]["num_samples"] == 256
        toto = explained_toto(fresh_checkout, symbol)
        assert toto["file"]["state"] == "loaded"
        assert toto["values"]["num_samples"]["value"] == 256
        assert toto["runtime"]["num_samples"] == 256 and toto["runtime"]["samples_per_batch"] == 64

    again = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing", "--check")
    assert again.exit_code == 0, again.output  # nothing left to create or change

    reverted = run(fresh_checkout, "revert")
    assert reverted.exit_code == 0, reverted.output
    assert files(fresh_checkout) == before
    assert not (fresh_checkout / "hyperparams" / "toto").exists()  # the folder it created is gone too


def test_create_missing_in_dry_run_and_check_writes_nothing(fresh_checkout):
    before = files(fresh_checkout)
    dry = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+++ b/hyperparams/toto/" in dry.stdout and "to create: " in dry.stdout
    check = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing", "--check")
    assert check.exit_code == 1
    assert files(fresh_checkout) == before and not (fresh_checkout / "hyperparams" / "toto").exists()


def test_a_file_created_meanwhile_is_never_overwritten(fresh_checkout, monkeypatch):
    """Planned to create toto/SYMBOL.json; the user writes it before the write: refused, kept."""
    import migrator.configs.migrations as migrations

    [symbol, *_] = toto_selections(fresh_checkout)
    user_file = fresh_checkout / "hyperparams" / "toto" / f"{symbol}.json"
    real_plan = migrations.plan_migration

    def plan_then_user_writes(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        user_file.parent.mkdir(exist_ok=True)
        if not user_file.exists():
            user_file.write_bytes(b'{"mine": true}')
        return plan

    monkeypatch.setattr(migrations, "plan_migration", plan_then_user_writes)
    done = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing")
    assert user_file.read_bytes() == b'{"mine": true}'
    assert done.exit_code in (0, 2, 3), done.output
    assert "Traceback" not in done.output


def test_the_clamp_warning_names_the_users_own_floors(fresh_checkout):
    """The example reads its floors through _read_int_env (env-driven): the exports are its vars."""
    done = run(fresh_checkout, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json")
    clamp = json.loads(done.stdout)["clamp"]
    assert clamp["source"].startswith("read from backtest_test3_inline.py")
    assert clamp["runtime"] == {"num_samples": 128, "samples_per_batch": 32}
    assert clamp["env"] == {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}
    # With those exports set, the targets run as written and nothing is said.
    done = run(fresh_checkout, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json",
               MARKETSIM_TOTO_MIN_NUM_SAMPLES="32", MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH="16")
    assert json.loads(done.stdout)["clamp"]["takes_effect"] is True
    assert not any("clamps" in w for w in json.loads(done.stdout)["warnings"])


def test_plain_constant_floors_are_edits_not_exports(fresh_checkout):
    """The 2026 shape hard-codes TOTO_MIN_NUM_SAMPLES = 64 and reads no env var for it."""
    shutil.copy(FIXTURES / "plain_2026.py", fresh_checkout / "backtest_test3_inline.py")
    done = run(fresh_checkout, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json")
    clamp = json.loads(done.stdout)["clamp"]
    assert clamp["takes_effect"] is False and clamp["env"] == {}
    assert any(edit.startswith("TOTO_MIN_NUM_SAMPLES = 64 (") for edit in clamp["edits"])
    [warning] = [w for w in json.loads(done.stdout)["warnings"] if "clamps" in w]
    assert "edit them in the module" in warning and "export" not in warning


def test_without_a_backtest_module_the_documented_clamp_is_used_and_said(fresh_checkout):
    (fresh_checkout / "backtest_test3_inline.py").unlink()
    done = run(fresh_checkout, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json")
    clamp = json.loads(done.stdout)["clamp"]
    assert clamp["source"] == "upstream's documented clamp; backtest_test3_inline.py not found"
    assert clamp["env"] == {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}


def test_create_missing_names_the_file_as_the_selection_is_named_on_disk(fresh_checkout):
    """A selection whose name holds a control character: the label is escaped for printing, the
    created file is not (it must be the file the backtest would read for that symbol)."""
    best = fresh_checkout / "hyperparams" / "best"
    odd = "A\tB"
    record = json.loads((best / f"{toto_selections(fresh_checkout)[0]}.json").read_bytes())
    (best / f"{odd}.json").write_text(json.dumps(record, indent=2))
    done = run(fresh_checkout, "toto", "--samples", "256", "--batch", "64", "--create-missing")
    assert done.exit_code == 0, done.output
    assert (fresh_checkout / "hyperparams" / "toto" / f"{odd}.json").is_file()
    assert not (fresh_checkout / "hyperparams" / "toto" / "A\\tB.json").exists()
