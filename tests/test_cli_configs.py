"""`migrate toto` / `migrate kronos` through the CLI: output, exit codes, nothing written on bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.hints import root_option
from migrator.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "hyperparams"
MIGRATE = Path(sys.executable).with_name("migrate")
CLAMP_EXPORTS = ("export MARKETSIM_TOTO_MIN_NUM_SAMPLES=32\n"
                 "  export MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH=16")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root holding a copy of the bundled example hyperparams."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project / "hyperparams")
    return project


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(root: Path, *args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    return runner.invoke(main, [*args, "--root", str(root)], env={"HYPERPARAM_ROOT": None, **(env or {})},
                         catch_exceptions=False)


def test_dry_run_shows_diffs_and_summary_and_writes_nothing(root):
    before = _files(root)
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "--- a/hyperparams/toto/MSFT.json\n+++ b/hyperparams/toto/MSFT.json\n" in out
    assert ('-        "name": "toto_opt_median_1024_spb128",\n-        "num_samples": 1024,\n'
            '+        "name": "toto_opt_median_32_spb16",\n+        "num_samples": 32,\n') in out  # 4-space file
    assert '-    "samples_per_batch": 512\n+    "samples_per_batch": 16\n' in out
    assert "\x1b[" not in out  # no color when not a tty
    assert "(dry-run: nothing written)\n  to change: 5\n  already at target: 0\n" in out
    assert "    hyperparams/best/XOM.json: model is 'chronos2'\n" in out
    assert "    hyperparams/best/ETHUSD.json: model is 'kronos'\n" in out
    assert "no effect by itself" in result.stderr and CLAMP_EXPORTS in result.stderr
    assert _files(root) == before and not (root / ".migrate").exists()


def test_json_document(root):
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["mode"] == "dry-run" and doc["targets"] == {"num_samples": 32, "samples_per_batch": 16}
    assert [c["path"] for c in doc["changed"]] == [
        "hyperparams/toto/AAPL.json", "hyperparams/toto/BTCUSD.json", "hyperparams/toto/MSFT.json",
        "hyperparams/best/AAPL.json", "hyperparams/best/BTCUSD.json"]
    msft = doc["changed"][2]
    assert msft["edits"] == [
        {"path": "$.config.num_samples", "before": 1024, "after": 32},
        {"path": "$.config.samples_per_batch", "before": 128, "after": 16},
        {"path": "$.config.name", "before": "toto_opt_median_1024_spb128", "after": "toto_opt_median_32_spb16"}]
    assert msft["diff"].startswith("--- a/hyperparams/toto/MSFT.json")
    assert doc["skipped"] == [{"path": "hyperparams/best/ETHUSD.json", "reason": "model is 'kronos'"},
                              {"path": "hyperparams/best/XOM.json", "reason": "model is 'chronos2'"}]
    assert doc["invalid"] == [] and doc["already_at_target"] == [] and doc["written"] is False
    assert doc["clamp"] == {"takes_effect": False, "runtime": {"num_samples": 128, "samples_per_batch": 32},
                            "env": {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32",
                                    "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"},
                            "edits": [],  # no backtest module in this root: upstream's documented clamp
                            "source": "upstream's documented clamp; backtest_test3_inline.py not found"}
    assert doc["unread_selections"] == []  # every toto selection here has its toto/SYMBOL.json


def test_no_clamp_warning_when_the_environment_lowers_the_floors(root):
    env = {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", env=env)
    assert result.exit_code == 0 and "clamps" not in result.stderr


def test_check_exits_1_when_changes_are_pending_and_0_when_not(root):
    before = _files(root)
    result = run(root, "kronos", "--samples", "64", "--check", "-q")
    assert result.exit_code == 1 and result.stdout == ""
    assert _files(root) == before
    result = run(root, "kronos", "--samples", "224", "--check", "--symbol", "AAPL")
    assert result.exit_code == 0, result.output
    assert "to change: 0\n  already at target: 1\n" in result.stdout


def test_apply_then_revert_restores_every_byte(root):
    before = _files(root)
    result = run(root, "toto", "--samples", "64", "--batch", "32")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("migrate toto: num_samples=64 samples_per_batch=32: changed 5 files (migration ")
    migration_id = first.split("(migration ")[1].split(")")[0]
    assert first.endswith(f"undo with: migrate revert {migration_id}{root_option(root)}")
    msft = (root / "hyperparams/toto/MSFT.json").read_bytes()
    assert msft == before["hyperparams/toto/MSFT.json"].replace(b": 1024,", b": 64,").replace(
        b": 128\n", b": 32\n").replace(b"_1024_spb128", b"_64_spb32")
    assert (root / "hyperparams/best/XOM.json").read_bytes() == before["hyperparams/best/XOM.json"]
    again = run(root, "toto", "--samples", "64", "--batch", "32")
    assert again.exit_code == 0 and "nothing to change" in again.stdout
    from migrator.journal import Journal

    Journal(root).revert(migration_id)
    assert {k: v for k, v in _files(root).items() if not k.startswith(".migrate/")} == before


def test_apply_json_names_the_migration(root):
    result = run(root, "kronos", "--samples", "64", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["written"] is True and doc["revert"] == f"migrate revert {doc['migration']}{root_option(root)}"
    assert [c["path"] for c in doc["changed"]] == [
        "hyperparams/kronos/AAPL.json", "hyperparams/kronos/ETHUSD.json", "hyperparams/best/ETHUSD.json"]
    assert doc["clamp"] is None


BAD_FILES = [
    (b'{"symbol": "MSFT",\n  "model": "toto",\n  "config": {"num_samples": 1024,,}}',
     "hyperparams/toto/MSFT.json:3:34: malformed JSON: Expecting property name enclosed in double quotes"),
    (b'{"symbol": "MSFT"}\xff', "hyperparams/toto/MSFT.json: not UTF-8 text (byte 0xff at offset 18)"),
    (b'"just a string"', "hyperparams/toto/MSFT.json: $: not a JSON object (found a string)"),
    (None, "hyperparams/toto/MSFT.json: $.config.num_samples: 'many' is not of type 'integer'"),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
@pytest.mark.parametrize("mode", [[], ["--dry-run"], ["--check"], ["--json"]])
def test_any_invalid_file_stops_everything(root, content, message, mode):
    msft = root / "hyperparams/toto/MSFT.json"
    if content is None:
        content = msft.read_bytes().replace(b'"num_samples": 1024', b'"num_samples": "many"')
    msft.write_bytes(content)
    before = _files(root)
    result = run(root, "toto", "--samples", "32", "--batch", "16", *mode)
    assert result.exit_code == 2
    assert f"migrate: error: {message}\n" in result.stderr
    assert "migrate: error: nothing written: 1 invalid file (fix, or pass --skip-invalid" in result.stderr
    assert "Traceback" not in result.output
    if "--json" in mode:
        assert json.loads(result.stdout)["invalid"] == [message]
    assert _files(root) == before and not (root / ".migrate").exists()


def test_skip_invalid_migrates_the_rest(root):
    msft = root / "hyperparams/toto/MSFT.json"
    msft.write_bytes(b"[]")
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "migrate: warning: skipped invalid file hyperparams/toto/MSFT.json: $: not a JSON object" in result.stderr
    assert "changed 4 files" in result.stdout and "invalid: 1" in result.stdout
    assert msft.read_bytes() == b"[]"
    assert json.loads((root / "hyperparams/toto/AAPL.json").read_bytes())["config"]["num_samples"] == 32


@pytest.mark.parametrize("args, message", [
    (["toto", "--samples", "32", "--batch", "24"], "--samples (32) must be a multiple of --batch (24)"),
    (["toto", "--samples", "16", "--batch", "32"], "--batch (32) must not exceed --samples (16)"),
    (["toto", "--samples", "0", "--batch", "16"], "--samples must be a positive integer, got 0"),
    (["kronos", "--samples", "-5"], "--samples must be a positive integer, got -5"),
    (["toto", "--samples", "32", "--batch", "16", "--symbol", "NOPE"], "unknown symbol NOPE"),
    (["toto", "--samples", "many", "--batch", "16"], "'many' is not a valid integer"),
    (["toto", "--samples", "32"], "Missing option '--batch'"),
])
def test_bad_arguments_exit_2_and_write_nothing(root, args, message):
    before = _files(root)
    result = run(root, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert _files(root) == before and not (root / ".migrate").exists()


def test_hyperparams_outside_the_root_is_refused(root, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    result = run(other, "toto", "--samples", "32", "--batch", "16", "--hyperparams", str(root / "hyperparams"))
    assert result.exit_code == 2
    assert "is outside the root" in result.stderr and "pass --root" in result.stderr
    env_result = run(other, "kronos", "--samples", "64", env={"HYPERPARAM_ROOT": str(root / "hyperparams")})
    assert env_result.exit_code == 2 and "pass --root" in env_result.stderr


def test_symbol_narrows(root):
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json", "--symbol", "MSFT")
    assert [c["path"] for c in json.loads(result.stdout)["changed"]] == ["hyperparams/toto/MSFT.json"]


def test_installed_script_in_a_subprocess(root):
    assert MIGRATE.exists(), f"no migrate script next to {sys.executable}"
    before = _files(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPERPARAM_ROOT", "MARKETSIM_"))}
    dry = subprocess.run([str(MIGRATE), "toto", "--samples", "32", "--batch", "16", "--check"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 1, dry.stderr
    assert "+        \"num_samples\": 32," in dry.stdout and CLAMP_EXPORTS in dry.stderr
    assert _files(root) == before
    bad = subprocess.run([str(MIGRATE), "toto", "--samples", "32", "--batch", "16", "--symbol", "NOPE"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("migrate: error: unknown symbol NOPE")
    applied = subprocess.run([str(MIGRATE), "kronos", "--samples", "64", "-q"],
                             cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0 and applied.stdout == ""
    assert json.loads((root / "hyperparams/kronos/ETHUSD.json").read_bytes())["config"]["sample_count"] == 64


def test_json_lists_the_clamp_warning(root):
    doc = json.loads(run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json").stdout)
    assert any("no effect by itself" in w and CLAMP_EXPORTS in w for w in doc["warnings"])


def test_an_unfinished_migration_is_reported_and_blocks_apply(root, monkeypatch):
    import migrator.atomic

    def interrupted(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(migrator.atomic, "replace_many", interrupted)
    failed = run(root, "kronos", "--samples", "64")
    assert failed.exit_code == 3 and "did not finish" in failed.stderr
    monkeypatch.undo()
    dry = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stderr.count(f"`migrate revert{root_option(root)}` rolls it back") == 1  # said once, by the common options
    blocked = run(root, "toto", "--samples", "32", "--batch", "16")
    assert blocked.exit_code == 3 and "did not finish" in blocked.stderr


def test_refused_apply_says_so_in_the_summary(root):
    (root / "hyperparams/toto/MSFT.json").write_bytes(b"{")
    result = run(root, "toto", "--samples", "32", "--batch", "16")
    assert result.exit_code == 2
    assert "(apply: refused, invalid files; nothing written)" in result.stdout


def test_hyperparam_root_env_is_honoured_relative_to_the_root(root):
    (root / "hyperparams").rename(root / "hp_alt")
    result = run(root, "kronos", "--samples", "64", "--dry-run", "--json", env={"HYPERPARAM_ROOT": "hp_alt"})
    assert result.exit_code == 0, result.output
    assert [c["path"] for c in json.loads(result.stdout)["changed"]][0] == "hp_alt/kronos/AAPL.json"
    missing = run(root, "kronos", "--samples", "64", "--dry-run")
    assert missing.exit_code == 2 and "no hyperparams folder" in missing.stderr


def test_an_empty_tree_says_so(root):
    for path in (root / "hyperparams").rglob("*.json"):
        path.unlink()
    result = run(root, "toto", "--samples", "256", "--batch", "64", "--dry-run")
    assert result.exit_code == 0
    assert "migrate: warning: no .json files in hyperparams/toto/ or hyperparams/best/" in result.stderr


def test_unreadable_file_stops_everything(root, monkeypatch):
    # Running as root, chmod cannot make a file unreadable: fail the reader's os.open() instead.
    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        if str(path).endswith("BTCUSD.json") and "best" not in str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    before = _files(root)
    result = run(root, "toto", "--samples", "32", "--batch", "16")
    assert result.exit_code == 2
    assert "migrate: error: hyperparams/toto/BTCUSD.json: cannot read: Permission denied\n" in result.stderr
    assert _files(root) == before and not (root / ".migrate").exists()


def _deep_array(root: Path) -> None:
    (root / "hyperparams/toto/DEEP.json").write_text("[" * 10_000 + "]" * 10_000)


def _huge_integer(root: Path) -> None:
    (root / "hyperparams/toto/DEEP.json").write_text('{"symbol": "DEEP",\n  "n": -' + "7" * 5_000 + "}")


def _symlink_loop(root: Path) -> None:
    os.symlink("DEEP.json", root / "hyperparams/toto/DEEP.json")


def _folder(root: Path) -> None:
    (root / "hyperparams/toto/DEEP.json").mkdir()


def _fifo(root: Path) -> None:
    os.mkfifo(root / "hyperparams/toto/DEEP.json")


def _deep_but_parseable(root: Path) -> None:
    # Parses (json's limit is ~1,000 levels) but the checks after parsing must not recurse out.
    (root / "hyperparams/toto/DEEP.json").write_text(
        '{"symbol": "DEEP", "model": "toto", "config": ' + "[" * 950 + "]" * 950 + "}")


HOSTILE_FILES = [
    (_deep_array, "hyperparams/toto/DEEP.json:1:10000: arrays/objects nested 10000 deep: too deep to read"),
    (_huge_integer, "hyperparams/toto/DEEP.json:2:8: an integer of 5000 digits, over Python's limit of 4300"),
    (_symlink_loop, "hyperparams/toto/DEEP.json: cannot read: Too many levels of symbolic links"),
    (_folder, "hyperparams/toto/DEEP.json: cannot read: Is a directory"),
    (_fifo, "hyperparams/toto/DEEP.json: cannot read: not a regular file"),
    # Where it fails (parsing, or a later step) depends on the stack depth at hand; it names the file.
    (_deep_but_parseable, "hyperparams/toto/DEEP.json"),
]


@pytest.mark.parametrize("make, message", HOSTILE_FILES, ids=[m.__name__ for m, _ in HOSTILE_FILES])
@pytest.mark.parametrize("mode", [[], ["--dry-run"], ["--json"]])
def test_hostile_files_are_one_line_errors_exit_2_nothing_written(root, make, message, mode):
    make(root)
    before = _files(root) if make not in (_symlink_loop, _fifo) else None
    result = run(root, "toto", "--samples", "32", "--batch", "16", *mode)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.stderr.splitlines() if "DEEP.json" in line]
    assert line.startswith(f"migrate: error: {message}")
    assert len(line) < 300
    if make not in (_symlink_loop, _fifo):
        assert _files(root) == before
    assert not (root / ".migrate").exists()


@pytest.mark.parametrize("make, message", HOSTILE_FILES, ids=[m.__name__ for m, _ in HOSTILE_FILES])
def test_hostile_files_are_skipped_with_skip_invalid(root, make, message):
    make(root)
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert f"migrate: warning: skipped invalid file {message}" in result.stderr, result.stderr
    assert "changed 5 files" in result.stdout
    assert json.loads((root / "hyperparams/toto/MSFT.json").read_bytes())["config"]["num_samples"] == 32


def test_an_unlistable_folder_is_one_line_exit_2(root, monkeypatch):
    from migrator.configs import discovery

    real_scandir = os.scandir

    def failing_scandir(path):
        if str(path).endswith("toto"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", failing_scandir)
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.endswith("migrate: error: hyperparams/toto: cannot list the folder: Permission denied\n")


# --- migrate chronos2 ---------------------------------------------------------------------------

def test_chronos2_dry_run_on_the_bundled_examples(root):
    before = _files(root)
    result = run(root, "chronos2", "--device-map", "cpu", "--batch-size", "16", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ("--- a/hyperparams/chronos2/XOM.json\n+++ b/hyperparams/chronos2/XOM.json\n" in out
            and "--- a/hyperparams/best/XOM.json\n" in out)
    assert '-    "name": "chronos2_ctx1024_bs1024_val20_test20",\n+    "name": "chronos2_ctx1024_bs16_val20_test20",' in out
    assert out.endswith("migrate chronos2: device_map=cpu batch_size=16 (dry-run: nothing written)\n"
                        "  to change: 3\n  already at target: 0\n  skipped (other models): 3\n"
                        "    hyperparams/best/AAPL.json: model is 'toto'\n"
                        "    hyperparams/best/BTCUSD.json: model is 'toto'\n"
                        "    hyperparams/best/ETHUSD.json: model is 'kronos'\n  invalid: 0\n")
    assert result.stderr == ""  # no run-time note for Chronos-2
    assert _files(root) == before and not (root / ".migrate").exists()


def test_chronos2_apply_json_then_revert(root):
    before = _files(root)
    result = run(root, "chronos2", "--context-length", "256", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "chronos2" and doc["targets"] == {"context_length": 256} and doc["clamp"] is None
    assert [c["path"] for c in doc["changed"]] == [
        "hyperparams/chronos2/AAPL.json", "hyperparams/chronos2/XOM.json", "hyperparams/best/XOM.json"]
    assert doc["changed"][0]["edits"] == [
        {"path": "$.config.context_length", "before": 512, "after": 256},
        {"path": "$.config.name", "before": "ctx512_bs128_median_uni", "after": "ctx256_bs128_median_uni"}]
    aapl = (root / "hyperparams/chronos2/AAPL.json").read_bytes()  # CRLF, 4 spaces, final newline
    assert aapl == before["hyperparams/chronos2/AAPL.json"].replace(
        b'"context_length": 512,\r\n', b'"context_length": 256,\r\n').replace(b'"ctx512_bs128_', b'"ctx256_bs128_')
    check = run(root, "chronos2", "--context-length", "256", "--check")
    assert check.exit_code == 0 and "to change: 0\n  already at target: 3\n" in check.stdout
    reverted = run(root, "revert", doc["migration"])
    assert reverted.exit_code == 0, reverted.output
    assert {k: v for k, v in _files(root).items() if not k.startswith(".migrate/")} == before


@pytest.mark.parametrize("args, message", [
    (["chronos2"], "give at least one of --device-map, --batch-size, --context-length"),
    (["chronos2", "--device-map", "gpu"], "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got 'gpu'"),
    (["chronos2", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["chronos2", "--context-length", "4k"], "'4k' is not a valid integer"),
    (["chronos2", "--samples", "32"], "No such option '--samples'"),
])
def test_chronos2_bad_arguments_exit_2(root, args, message):
    before = _files(root)
    result = run(root, *args)
    assert result.exit_code == 2 and message in result.stderr
    assert _files(root) == before and not (root / ".migrate").exists()


def test_chronos2_check_exits_1_when_changes_are_pending(root):
    result = run(root, "chronos2", "--device-map", "cuda:0", "--check", "-q")
    assert result.exit_code == 1 and result.stdout == ""


def test_kronos_warns_when_the_env_override_makes_the_change_moot(root):
    result = run(root, "kronos", "--samples", "64", "--dry-run", "--json",
                 env={"MARKETSIM_KRONOS_SAMPLE_COUNT": "192"})
    assert result.exit_code == 0
    assert "migrate: warning: MARKETSIM_KRONOS_SAMPLE_COUNT=192 is set here" in result.stderr
    assert json.loads(result.stdout)["clamp"] == {
        "takes_effect": False, "runtime": {"sample_count": 192}, "env": {"MARKETSIM_KRONOS_SAMPLE_COUNT": "192"}}


BLOCK_HEAVY = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "scipy", "torch", "libcst"):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
sys.argv = ["migrate", *sys.argv[1:]]
from migrator.cli import main
main()
"""


@pytest.mark.parametrize("args", [["toto", "--samples", "32", "--batch", "16"], ["kronos", "--samples", "64"],
                                  ["chronos2", "--device-map", "cpu", "--batch-size", "16"]])
def test_config_commands_need_no_numpy_scipy_torch_or_libcst(root, args):
    result = subprocess.run([sys.executable, "-c", BLOCK_HEAVY, *args, "--root", str(root), "--check", "-q"],
                            capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("MARKETSIM_")})
    assert result.returncode == 1, result.stderr  # --check: changes pending, found without those imports
    assert "Traceback" not in result.stderr


def test_a_file_name_with_control_characters_stays_one_escaped_line(root):
    (root / "hyperparams/toto/a\nb\x1b[31m.json").write_text("{")
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run")
    assert result.exit_code == 2
    assert "migrate: error: hyperparams/toto/a\\nb\\x1b[31m.json:1:2: malformed JSON" in result.stderr
    assert "\x1b" not in result.output


def test_backtest_option_reads_the_clamp_from_the_named_module(root):
    """A root without backtest_test3_inline.py: by default the documented clamp, saying so; with
    --backtest (relative to the current directory) the named module's own clamp and its line."""
    plain = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json")
    assert json.loads(plain.stdout)["clamp"]["source"].endswith("backtest_test3_inline.py not found")
    module = root / "elsewhere" / "my_backtest.py"
    module.parent.mkdir()
    shutil.copy(REPO / "examples" / "backtest_test3_inline.py", module)
    before = _files(root)
    cwd = os.getcwd()
    try:
        os.chdir(root)
        named = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json",
                    "--backtest", "elsewhere/my_backtest.py")
    finally:
        os.chdir(cwd)
    assert named.exit_code == 0, named.output
    clamp = json.loads(named.stdout)["clamp"]
    assert "my_backtest.py" in clamp["source"] and "not found" not in clamp["source"]
    assert clamp["runtime"] == {"num_samples": 128, "samples_per_batch": 32}
    assert _files(root) == before


def test_backtest_option_naming_a_missing_module_falls_back_and_says_why(root):
    result = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run", "--json",
                 "--backtest", str(root / "nope.py"))
    assert result.exit_code == 0, result.output
    assert "nope.py not found" in json.loads(result.stdout)["clamp"]["source"]
