"""`migrate history` and `migrate revert` through click's CliRunner, and the unfinished-migration warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from migrator.hints import root_option
from migrator import atomic
from migrator.cli import main
from migrator.journal import FileChange

from .helpers import apply_changes

# A real-shaped Toto config: CRLF, non-ASCII, no final newline (non-UTF-8 bytes: test_journal.py).
OLD = ('{\r\n  "symbol": "SYM",\r\n  "model": "toto",\r\n  "config": {"name": "caf\u00e9", '
       '"num_samples": 1024, "samples_per_batch": 128, "aggregate": "mean"}\r\n}').encode()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for symbol in ("AAPL", "MSFT"):
        path = root / "hyperparams" / "toto" / f"{symbol}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(OLD.replace(b"SYM", symbol.encode()))
        path.chmod(0o600)
    return root


def _paths(root: Path) -> list[Path]:
    return sorted((root / "hyperparams" / "toto").glob("*.json"))


def _apply(root: Path, argv: tuple[str, ...] = ("migrate", "toto", "--samples", "32")) -> str:
    migration = apply_changes(root, "toto", argv, [
        FileChange(p, p.read_bytes(), p.read_bytes().replace(b"1024", b"32")) for p in _paths(root)])
    assert migration is not None
    return migration.id


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--root", str(root)], catch_exceptions=False)


def _listing(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_history_of_an_empty_journal_says_so_and_creates_nothing(root: Path) -> None:
    result = run(root, "history")
    assert result.exit_code == 0
    assert result.stdout == f"no migrations recorded under {root / '.migrate'}\n"
    assert run(root, "history", "--json").stdout == "[]\n"
    assert not (root / ".migrate").exists()


def test_history_table_and_json(root: Path) -> None:
    _apply(root)
    result = run(root, "history")
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split() == ["ID", "TIME", "(UTC)", "KIND", "FILES", "STATE", "COMMAND"]
    assert row.startswith("0001  ") and row.endswith("  toto  2      applied  migrate toto --samples 32")
    [document] = json.loads(run(root, "history", "--json").stdout)
    assert document["id"] == "0001" and document["state"] == "applied" and not document["unfinished"]
    assert document["argv"] == ["migrate", "toto", "--samples", "32"]
    assert [f["path"] for f in document["files"]] == ["hyperparams/toto/AAPL.json",
                                                       "hyperparams/toto/MSFT.json"]
    assert run(root, "history", "-q").stdout == ""


def test_revert_restores_exact_bytes_and_says_what_it_did(root: Path) -> None:
    originals = {p: p.read_bytes() for p in _paths(root)}
    _apply(root)
    result = run(root, "revert")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("reverted migration 0001 (toto, ")
    assert "restored 2 files, 0 files already held the original bytes." in result.stdout
    assert {p: p.read_bytes() for p in _paths(root)} == originals
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in _paths(root))
    assert "reverted" in run(root, "history").stdout


def test_revert_dry_run_shows_the_diffs_and_writes_nothing(root: Path) -> None:
    _apply(root)
    before = _listing(root)
    result = run(root, "revert", "--dry-run")
    assert result.exit_code == 0
    assert "--- a/hyperparams/toto/AAPL.json\n+++ b/hyperparams/toto/AAPL.json\n" in result.stdout
    assert ('-  "config": {"name": "caf\u00e9", "num_samples": 32, "samples_per_batch": 128, '
            '"aggregate": "mean"}\n') in result.stdout
    assert ('+  "config": {"name": "caf\u00e9", "num_samples": 1024, "samples_per_batch": 128, '
            '"aggregate": "mean"}\n') in result.stdout
    assert "would restore 2 files of migration 0001" in result.stdout
    assert _listing(root) == before


def test_revert_check_exits_1_while_a_revert_would_change_files(root: Path) -> None:
    _apply(root)
    before = _listing(root)
    result = run(root, "revert", "--check", "-q")
    assert (result.exit_code, result.stdout) == (1, "")
    assert _listing(root) == before
    assert run(root, "revert").exit_code == 0
    assert run(root, "revert", "--check").exit_code == 0  # nothing left to revert


def test_revert_json(root: Path) -> None:
    _apply(root)
    document = json.loads(run(root, "revert", "--json").stdout)
    assert document["mode"] == "apply" and document["written"] is True
    assert document["migration"]["id"] == "0001" and document["migration"]["state"] == "reverted"
    assert document["restored"] == ["hyperparams/toto/AAPL.json", "hyperparams/toto/MSFT.json"]
    again = json.loads(run(root, "revert", "--json").stdout)
    assert again["migration"] is None and again["written"] is False
    assert again["message"].startswith("nothing to revert")


def test_a_changed_file_exits_3_naming_it_and_force_restores_it(root: Path) -> None:
    _apply(root)
    edited = _paths(root)[1]
    edited.write_bytes(b"my own edit")
    before = _listing(root)
    result = run(root, "revert")
    assert result.exit_code == 3
    assert result.stderr.startswith("migrate: error: 1 file(s) changed since migration 0001 (toto)")
    assert "hyperparams/toto/MSFT.json" in result.stderr and "AAPL" not in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert _listing(root) == before
    forced = run(root, "revert", "--force")
    assert forced.exit_code == 0
    assert "1 file changed since the migration were restored by --force" in forced.stdout
    assert edited.read_bytes() == OLD.replace(b"SYM", b"MSFT")
    assert (root / ".migrate/overwritten/0001/hyperparams/toto/MSFT.json").read_bytes() == b"my own edit"


def test_revert_with_nothing_left_is_exit_0_and_bad_ids_exit_2(root: Path) -> None:
    _apply(root)
    assert run(root, "revert").exit_code == 0
    again = run(root, "revert")
    assert again.exit_code == 0 and again.stdout.startswith("nothing to revert: no applied migration")
    for args, message in [(("revert", "0001"), "migration 0001 is already reverted"),
                          (("revert", "0042"), "no migration 0042"),
                          (("revert", "abc"), "no migration abc")]:
        result = run(root, *args)
        assert result.exit_code == 2 and message in result.stderr


HOLD_LOCK = """
import sys
from pathlib import Path
from migrator.journal import Journal
with Journal(Path(sys.argv[1])).lock():
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_held_lock_exits_3(root: Path) -> None:
    _apply(root)
    before = _listing(root)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = run(root, "revert")
        assert result.exit_code == 3
        assert result.stderr == (f"migrate: error: another migrate is working on {root} "
                                 f"(lock {root / '.migrate' / 'lock'} held)\n")
        assert _listing(root) == before
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_history_while_another_migrate_works_says_in_progress_not_unfinished(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupted_apply(root, monkeypatch)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = run(root, "history")
        assert "pending (in progress)" in result.stdout and result.stderr == ""
        assert json.loads(run(root, "history", "--json").stdout)[0]["unfinished"] is False
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert "pending (unfinished)" in run(root, "history").stdout


def _interrupted_apply(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave a pending migration as a kill after the first rename would."""
    real = atomic.replace_many

    class Killed(BaseException):  # kill -9 in-process: nothing of migrate's catches it
        pass

    def replace_first(replacements: Any, *, tag: str, **kwargs: Any) -> None:
        real(replacements[:1], tag=tag, **kwargs)
        raise Killed

    monkeypatch.setattr(atomic, "replace_many", replace_first)
    with pytest.raises(Killed):
        _apply(root)
    monkeypatch.undo()


def test_an_unfinished_migration_is_announced_and_reverted(root: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    originals = {p: p.read_bytes() for p in _paths(root)}
    _interrupted_apply(root, monkeypatch)
    warning = ("migrate: warning: migration 0001 (toto) did not finish; "
               f"`migrate revert{root_option(root)}` rolls it back\n")
    other = run(root, "toto", "--samples", "32", "--batch", "16", "--dry-run")  # any other command
    assert other.stderr.startswith(warning)
    history = run(root, "history")
    assert "pending (unfinished)" in history.stdout and history.stderr == warning
    refused = run(root, "toto", "--samples", "32", "--batch", "16")
    assert refused.exit_code == 3 and "did not finish" in refused.stderr
    result = run(root, "revert")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("reverted unfinished migration 0001 (toto, ")
    assert "restored 1 file, 1 file already held the original bytes." in result.stdout
    assert {p: p.read_bytes() for p in _paths(root)} == originals
    assert "did not finish" not in run(root, "history").stderr


@pytest.mark.parametrize("args,message", [
    (("revert", "0001", "--all"), "at most one of ID, --all, --to ID"),
    (("revert", "--to", "0001", "--all"), "at most one of ID, --all, --to ID"),
    (("revert", "--to", "0042"), "no migration 0042"),
    (("history", "--prune", "--dry-run"), "No such option '--dry-run'"),  # history never writes but --prune
])
def test_revert_and_prune_usage_errors_exit_2_writing_nothing(root: Path, args: tuple[str, ...],
                                                              message: str) -> None:
    _apply(root)
    before = _listing(root)
    result = run(root, *args)
    assert result.exit_code == 2 and message in result.stderr
    assert _listing(root) == before


def test_revert_all_json_is_a_list_newest_first(root: Path) -> None:
    originals = {p: p.read_bytes() for p in _paths(root)}
    first = _apply(root)
    second = apply_changes(root, "toto", ["migrate"], [
        FileChange(p, p.read_bytes(), p.read_bytes().replace(b": 32", b": 16")) for p in _paths(root)])
    assert second is not None
    result = run(root, "revert", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    documents = json.loads(result.stdout)
    assert [d["migration"]["id"] for d in documents] == [second.id, first]
    assert all(d["written"] and d["migration"]["state"] == "reverted" for d in documents)
    assert {p: p.read_bytes() for p in _paths(root)} == originals


def test_a_refused_revert_all_says_which_command_forces_it(root: Path) -> None:
    _apply(root)
    edited = _paths(root)[0]
    edited.write_bytes(b"mine")
    result = run(root, "revert", "--all")
    assert result.exit_code == 3 and f"`migrate revert --all --force{root_option(root)}` restores them" in result.stderr
    assert edited.read_bytes() == b"mine"
    assert run(root, "revert", "--all", "--force").exit_code == 0
