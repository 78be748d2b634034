"""The journal on real bytes: apply, history, revert, refusals, crash states."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.hints import root_option
from migrator import atomic, journal
from migrator.errors import BadInputError, SafetyError
from migrator.journal import FileChange, Journal, NothingToRevert, unfinished_notice
from migrator.journal.store import Store

from .helpers import apply_changes

# (name, original bytes, mode): the quirks users' files have.
FILES = [
    ("hyperparams/toto/CRLF.json", b'{\r\n  "num_samples": 1024\r\n}\r\n', 0o644),
    ("hyperparams/toto/LATIN1.json", b'{"name": "caf\xe9", "num_samples": 1024}', 0o600),  # no final newline
    ("src/backtest_test3_inline.py", b"max_horizon = 7\n\tx = 1  # tab\n", 0o755),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _new(data: bytes) -> bytes:
    return data.replace(b"1024", b"32").replace(b"= 7", b"= 1")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, data, mode in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    return root


def _changes(root: Path, names: list[str] | None = None) -> list[FileChange]:
    return [FileChange(root / name, data, _new(data)) for name, data, _ in FILES
            if names is None or name in names]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {name: ((root / name).read_bytes(), stat.S_IMODE((root / name).stat().st_mode))
            for name, _, _ in FILES}


ORIGINAL = {name: (data, mode) for name, data, mode in FILES}


class Killed(BaseException):
    """Stands for kill -9 in-process: no handler of migrate's catches it (no rollback runs)."""


def _interrupt_after(count: int, error: BaseException | None = None) -> Any:
    """A replace_many that renames `count` files, then dies the way a kill would leave it."""
    real = atomic.replace_many

    def replace_many(replacements: Any, *, tag: str, **kwargs: Any) -> None:
        real(replacements[:count], tag=tag, **kwargs)
        for r in replacements[count:]:  # temp files written, never renamed
            Path(atomic.temp_path(r.path, tag)).write_bytes(r.data)
        raise error if error is not None else Killed()

    return replace_many


# --- apply and revert ---------------------------------------------------------


def test_apply_then_revert_gives_back_exact_bytes_and_modes(root: Path) -> None:
    migration = apply_changes(root, "toto", ["migrate", "toto"], _changes(root))
    assert migration is not None and migration.state == "applied"
    after = _snapshot(root)
    assert after == {name: (_new(data), mode) for name, data, mode in FILES}
    result = Journal(root).revert()
    assert _snapshot(root) == ORIGINAL
    assert sorted(result.restored) == sorted(ORIGINAL) and result.unchanged == ()
    assert result.migration.state == "reverted" and result.migration.reverted
    assert not list(root.rglob("*.tmp"))


def test_the_record_holds_id_utc_time_argv_paths_and_hashes(root: Path) -> None:
    j = Journal(root)
    first = apply_changes(j.root, "toto", ["migrate", "toto", "--samples", "32"], _changes(root, [FILES[0][0]]))
    second = apply_changes(j.root, "apply", ["migrate", "apply"], _changes(root, [FILES[2][0]]))
    assert first is not None and second is not None
    assert (first.id, second.id) == ("0001", "0002")
    [h1, h2] = j.history()
    assert (h1.kind, h1.argv, h1.state) == ("toto", ("migrate", "toto", "--samples", "32"), "applied")
    created = datetime.datetime.fromisoformat(h1.created)
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs(datetime.datetime.now(datetime.timezone.utc) - created) < datetime.timedelta(minutes=5)
    name, data, _ = FILES[0]
    assert h1.files == (journal.FileRecord(name, _sha(data), _sha(_new(data))),)
    assert h2.files[0].path == "src/backtest_test3_inline.py"


def test_reading_an_absent_journal_creates_nothing(root: Path) -> None:
    j = Journal(root)
    assert j.history() == [] and j.unfinished() is None
    with pytest.raises(NothingToRevert):
        j.revert(dry_run=True)
    with pytest.raises(NothingToRevert):
        j.revert()
    with pytest.raises(BadInputError, match="no migration 0003"):
        j.revert("0003")
    assert not (root / ".migrate").exists()


def test_the_journal_folder_ignores_itself_in_git(root: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    apply_changes(root, "toto", ["migrate"], _changes(root))
    assert (root / ".migrate" / ".gitignore").read_bytes() == b"*\n"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                            check=True, capture_output=True, text=True).stdout
    assert ".migrate" not in status and "hyperparams/toto/CRLF.json" in status


def test_changes_that_change_nothing_are_skipped(root: Path) -> None:
    name, data, _ = FILES[0]
    same = FileChange(root / name, data, data)
    assert apply_changes(root, "toto", ["migrate"], [same]) is None
    assert Journal(root).history() == []
    migration = apply_changes(root, "toto", ["migrate"], [same, *_changes(root, [FILES[1][0]])])
    assert migration is not None and [f.path for f in migration.files] == [FILES[1][0]]


def test_many_files_take_the_batched_path_and_round_trip(tmp_path: Path) -> None:
    count = atomic.BATCH_MIN_FILES * 2
    changes = []
    for index in range(count):
        path = tmp_path / "hyperparams" / "toto" / f"S{index}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b'{"num_samples": 1024, "i": %d}\r\n' % index
        path.write_bytes(data)
        changes.append(FileChange(path, data, _new(data)))
    apply_changes(tmp_path, "toto", ["migrate"], changes)
    assert all(c.path.read_bytes() == c.after for c in changes)
    Journal(tmp_path).revert()
    assert all(c.path.read_bytes() == c.before for c in changes)


def test_a_file_with_other_hard_links_is_copied_and_still_reverts_exactly(root: Path) -> None:
    name, data, _ = FILES[0]
    other = root / "elsewhere.json"
    os.link(root / name, other)
    apply_changes(root, "toto", ["migrate"], _changes(root, [name]))
    # The user's other name keeps the old inode: os.replace gives the path a new file.
    assert other.read_bytes() == data and (root / name).read_bytes() == _new(data)
    other.write_bytes(b"edited through the other link")  # must not touch the journal's original
    Journal(root).revert()
    assert (root / name).read_bytes() == data


# --- apply refusals -----------------------------------------------------------


def test_apply_refuses_a_file_that_changed_since_it_was_read(root: Path) -> None:
    changes = _changes(root)
    (root / FILES[1][0]).write_bytes(b"edited meanwhile")
    with pytest.raises(SafetyError, match="hyperparams/toto/LATIN1.json: changed since it was read"):
        apply_changes(root, "toto", ["migrate"], changes)
    assert (root / FILES[0][0]).read_bytes() == FILES[0][1]  # nothing written
    assert Journal(root).history() == []


def test_a_symlink_inside_the_root_is_followed_and_kept(root: Path) -> None:
    name, data, _ = FILES[0]
    link = root / "hyperparams" / "toto" / "ALIAS.json"
    link.symlink_to(root / name)
    migration = apply_changes(root, "toto", ["migrate"], [FileChange(link, data, _new(data))])
    assert migration is not None and migration.files[0].path == name  # the real file is recorded
    assert link.is_symlink() and (root / name).read_bytes() == _new(data)
    Journal(root).revert()
    assert link.is_symlink() and (root / name).read_bytes() == data


@pytest.mark.parametrize("how", ["file symlink", "folder symlink", "dot-dot"])
def test_paths_leading_outside_the_root_are_refused(root: Path, tmp_path: Path, how: str) -> None:
    outside = tmp_path / "outside" / "AAPL.json"
    outside.parent.mkdir()
    outside.write_bytes(b'{"num_samples": 1024}')
    if how == "file symlink":
        path = root / "hyperparams" / "toto" / "AAPL.json"
        path.symlink_to(outside)
    elif how == "folder symlink":
        (root / "hyperparams" / "linked").symlink_to(outside.parent)
        path = root / "hyperparams" / "linked" / "AAPL.json"
    else:
        path = root / ".." / "outside" / "AAPL.json"
    changes = [*_changes(root), FileChange(path, outside.read_bytes(), b'{"num_samples": 32}')]
    with pytest.raises(SafetyError, match="resolves outside the root"):
        apply_changes(root, "toto", ["migrate"], changes)
    assert outside.read_bytes() == b'{"num_samples": 1024}'
    assert _snapshot(root) == ORIGINAL


def test_a_file_listed_twice_and_a_missing_file_are_bad_input(root: Path) -> None:
    name, data, _ = FILES[0]
    twice = [FileChange(root / name, data, b"a"), FileChange(root / name, data, b"b")]
    with pytest.raises(BadInputError, match="listed twice"):
        apply_changes(root, "toto", ["migrate"], twice)
    with pytest.raises(BadInputError, match="gone.json: no such file"):
        apply_changes(root, "toto", ["migrate"], [FileChange(root / "gone.json", b"x", b"y")])
    assert _snapshot(root) == ORIGINAL


def test_the_journal_folder_itself_is_never_a_target(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    state = root / ".migrate" / "migrations" / "0001.state"
    with pytest.raises(SafetyError, match="inside the journal folder"):
        apply_changes(root, "toto", ["migrate"], [FileChange(state, state.read_bytes(), b"{}")])


# --- the lock -----------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from migrator.journal import Journal
with Journal(Path(sys.argv[1])).lock():
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_migrate_is_refused_while_another_holds_the_lock(root: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(SafetyError, match=r"another migrate is working on .*project \(lock .*lock held\)"):
            apply_changes(root, "toto", ["migrate"], _changes(root))
        assert _snapshot(root) == ORIGINAL
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert apply_changes(root, "toto", ["migrate"], _changes(root)) is not None  # free again


def test_the_lock_is_reentrant_within_one_journal(root: Path) -> None:
    j = Journal(root)
    with j.lock():
        with j.lock():  # the same Journal again: no refusal
            with pytest.raises(SafetyError, match="another migrate is working on"):
                with Journal(root).lock():  # another one is refused
                    pass
        with pytest.raises(SafetyError, match="another migrate is working on"):
            apply_changes(root, "toto", ["migrate"], _changes(root))  # still held after the inner exit
    assert apply_changes(root, "toto", ["migrate"], _changes(root)) is not None  # free once the outer exits


# --- revert: refusals and force ---------------------------------------------


def test_revert_refuses_changed_files_naming_each_and_writes_nothing(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    (root / FILES[0][0]).write_bytes(b"edited after the migration")
    (root / FILES[2][0]).unlink()
    before = {name: (root / name).read_bytes() for name, _, _ in FILES[:2]}
    with pytest.raises(SafetyError) as info:
        Journal(root).revert()
    message = str(info.value)
    assert "2 file(s) changed since migration 0001" in message
    assert "hyperparams/toto/CRLF.json" in message and "src/backtest_test3_inline.py (missing)" in message
    assert "LATIN1" not in message and "--force" in message
    assert {name: (root / name).read_bytes() for name, _, _ in FILES[:2]} == before
    assert not (root / FILES[2][0]).exists()
    assert Journal(root).history()[0].state == "applied"
    with pytest.raises(SafetyError):
        Journal(root).revert(dry_run=True)


def test_force_restores_changed_and_missing_files_and_keeps_the_edits(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    (root / FILES[0][0]).write_bytes(b"edited after the migration")
    (root / FILES[2][0]).unlink()
    result = Journal(root).revert(force=True)
    assert _snapshot(root) == ORIGINAL  # the missing file is back with its original mode
    assert sorted(result.forced) == [FILES[0][0], FILES[2][0]]
    assert result.saved_to == ".migrate/overwritten/0001"
    assert (root / result.saved_to / FILES[0][0]).read_bytes() == b"edited after the migration"


def test_files_already_holding_the_original_bytes_count_as_unchanged(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    (root / FILES[1][0]).write_bytes(FILES[1][1])  # the user put this one back by hand
    result = Journal(root).revert()
    assert result.unchanged == (FILES[1][0],)
    assert sorted(result.restored) == sorted([FILES[0][0], FILES[2][0]])
    assert _snapshot(root) == ORIGINAL


def test_dry_run_reports_current_to_original_and_writes_nothing(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    listing = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = Journal(root).revert(dry_run=True)
    assert result.dry_run and result.migration.state == "applied"
    assert {str(c.path.relative_to(root)): (c.before, c.after) for c in result.changes} == {
        name: (_new(data), data) for name, data, _ in FILES}
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == listing
    assert Journal(root).history()[0].state == "applied"


# --- revert: which migration --------------------------------------------------


def test_revert_is_an_undo_stack_and_named_ids_are_checked(root: Path) -> None:
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    apply_changes(j.root, "kronos", ["migrate"], _changes(root, [FILES[1][0]]))
    with pytest.raises(BadInputError, match="no migration 9"):
        j.revert("9")
    assert j.revert().migration.id == "0002"
    with pytest.raises(BadInputError, match="migration 0002 is already reverted"):
        j.revert("0002")
    assert j.revert().migration.id == "0001"  # again: the one before (failed before: a no-op)
    assert _snapshot(root) == ORIGINAL
    with pytest.raises(NothingToRevert, match="no applied migration"):
        j.revert()


def test_an_id_is_typed_with_or_without_its_zeros(root: Path) -> None:
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    assert j.revert("1").migration.id == "0001"
    with pytest.raises(BadInputError, match="no migration 1{20}"):
        j.revert("1" * 5000)  # an absurd id: one short line, no int-digits traceback


def test_an_older_migration_can_be_reverted_by_id(root: Path) -> None:
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    apply_changes(j.root, "apply", ["migrate"], _changes(root, [FILES[2][0]]))
    j.revert("0001")
    assert (root / FILES[0][0]).read_bytes() == FILES[0][1]
    assert (root / FILES[2][0]).read_bytes() == _new(FILES[2][1])
    assert [m.state for m in j.history()] == ["reverted", "applied"]


def test_a_damaged_original_is_refused_before_anything_is_written(root: Path) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    pack = root / ".migrate" / "migrations" / "0001.pack"
    data = bytearray(pack.read_bytes())
    offset = len(FILES[0][1])  # the second file's original follows the first's
    data[offset:offset + 3] = b"rot"
    pack.write_bytes(bytes(data))
    with pytest.raises(SafetyError, match="journal damaged: the original bytes of hyperparams/toto/LATIN1.json"):
        Journal(root).revert()
    assert (root / FILES[0][0]).read_bytes() == _new(FILES[0][1])


# --- unfinished migrations and reverts ---------------------------------------


def test_an_interrupted_apply_is_pending_blocks_applies_and_reverts_exactly(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "replace_many", _interrupt_after(1))
    with pytest.raises(Killed):
        apply_changes(root, "toto", ["migrate", "toto"], _changes(root))
    monkeypatch.undo()
    states = [(root / n).read_bytes() in (d, _new(d)) for n, d, _ in FILES]
    assert all(states)  # every file whole
    assert sorted((root / n).read_bytes() == _new(d) for n, d, _ in FILES) == [False, False, True]
    pending = Journal(root).unfinished()
    assert pending is not None and (pending.id, pending.state) == ("0001", "pending")
    assert unfinished_notice(pending) == ("migration 0001 (toto) did not finish; "
                                          "`migrate revert` rolls it back")
    assert unfinished_notice(pending, root).endswith(f"`migrate revert{root_option(root)}` rolls it back")
    with pytest.raises(SafetyError, match="migration 0001 .* did not finish"):
        apply_changes(root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    result = Journal(root).revert()
    assert result.previous_state == "pending" and len(result.restored) == 1 and len(result.unchanged) == 2
    assert _snapshot(root) == ORIGINAL
    assert not list(root.rglob("*.tmp"))  # the killed run's temp files are gone too
    assert Journal(root).unfinished() is None


def test_an_interrupted_revert_is_completed_by_the_next_one(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_changes(root, "toto", ["migrate"], _changes(root))
    monkeypatch.setattr(atomic, "replace_many", _interrupt_after(1))
    with pytest.raises(Killed):
        Journal(root).revert()
    monkeypatch.undo()
    half = Journal(root).unfinished()
    assert half is not None and half.state == "reverting"
    assert "the revert of migration 0001 (toto) did not finish" in unfinished_notice(half)
    result = Journal(root).revert()
    assert len(result.unchanged) == 1 and len(result.restored) == 2 and result.previous_state == "reverting"
    assert _snapshot(root) == ORIGINAL and Journal(root).history()[0].state == "reverted"
    assert not list(root.rglob("*.tmp"))


def test_naming_another_id_while_one_is_unfinished_is_refused(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    monkeypatch.setattr(atomic, "replace_many", _interrupt_after(0))
    with pytest.raises(Killed):
        apply_changes(root, "toto", ["migrate"], _changes(root, [FILES[1][0]]))
    monkeypatch.undo()
    with pytest.raises(SafetyError, match=r"migration 0002 did not finish; revert it first"):
        Journal(root).revert("0001")
    assert Journal(root).revert().migration.id == "0002"


def test_leftovers_of_a_run_killed_before_its_state_are_ignored_then_removed(root: Path) -> None:
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[0][0]]))
    folder = root / ".migrate" / "migrations"
    (folder / "0002.json").write_text(json.dumps({"id": "0002"}))  # killed while recording
    (folder / "0002.pack").write_bytes(b"half")
    (folder / ".0002.state.migrate.tmp").write_bytes(b"{")
    (folder / "notes.txt").write_bytes(b"not ours")  # never removed: migrate did not write it
    assert [m.id for m in j.history()] == ["0001"] and j.unfinished() is None
    migration = apply_changes(j.root, "toto", ["migrate"], _changes(root, [FILES[1][0]]))
    assert migration is not None and migration.id == "0002"
    assert (folder / "0002.pack").read_bytes() == FILES[1][1]
    assert sorted(p.name for p in folder.iterdir()) == [
        "0001.json", "0001.pack", "0001.replaced", "0001.state",
        "0002.json", "0002.pack", "0002.replaced", "0002.state", "notes.txt"]


def test_a_file_edited_after_a_killed_apply_is_refused_and_force_keeps_the_edit(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "replace_many", _interrupt_after(0))
    with pytest.raises(Killed):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    monkeypatch.undo()
    edited = root / FILES[0][0]
    with edited.open("r+b") as handle:  # in place
        handle.write(b"[")
    with pytest.raises(SafetyError, match="CRLF.json; refusing to revert"):
        Journal(root).revert()
    result = Journal(root).revert(force=True)
    assert result.forced == (FILES[0][0],) and _snapshot(root) == ORIGINAL
    kept = root / ".migrate" / "overwritten" / "0001" / FILES[0][0]
    assert kept.read_bytes() == b"[" + FILES[0][1][1:]  # the user's edit is kept


def test_a_pending_migration_another_migrate_is_working_on_is_not_called_unfinished(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "replace_many", _interrupt_after(1))
    with pytest.raises(Killed):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    monkeypatch.undo()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        j = Journal(root)
        assert j.held_elsewhere() and j.unfinished() is None
        assert j.history()[0].state == "pending"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    j = Journal(root)
    assert not j.held_elsewhere()
    unfinished = j.unfinished()
    assert unfinished is not None and unfinished.id == "0001"
    with j.lock():
        assert not j.held_elsewhere() and j.unfinished() is not None  # we hold it ourselves


def test_a_failing_write_leaves_a_clear_error_and_a_revertible_state(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(replacements: Any, *, tag: str, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "replace_many", no_space)  # the rollback fails too
    with pytest.raises(SafetyError, match=r"migration 0001 \(toto\) did not finish: .*No space left.*"
                                          r"`migrate revert --root .*` rolls it back"):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    assert Journal(root).unfinished() is not None
    with pytest.raises(SafetyError, match="the revert of migration 0001 .* run `migrate revert --root .*` again"):
        Journal(root).revert()
    monkeypatch.undo()
    assert Journal(root).revert().previous_state == "reverting"
    assert _snapshot(root) == ORIGINAL


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["ENOSPC", "Ctrl-C"])
def test_a_failure_part_way_is_rolled_back_at_once(root: Path, monkeypatch: pytest.MonkeyPatch,
                                                   error: BaseException) -> None:
    """Failed before: the migration was left pending (a traceback, exit 1, for ENOSPC)."""
    real = atomic.replace_many
    calls = []

    def once(replacements: Any, *, tag: str, **kwargs: Any) -> None:
        calls.append(tag)
        if len(calls) == 1:
            return _interrupt_after(1, error)(replacements, tag=tag, **kwargs)
        return real(replacements, tag=tag, **kwargs)

    monkeypatch.setattr(atomic, "replace_many", once)
    expected = SafetyError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected, match="rolled back" if expected is SafetyError else None):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    assert _snapshot(root) == ORIGINAL and not list(root.rglob("*.tmp"))
    assert [m.state for m in Journal(root).history()] == ["reverted"]


def test_the_record_failing_to_write_is_one_line_and_nothing_written(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full while the record is written: the migration never exists, no user file changes."""
    def full(self: Store, record: Any) -> None:
        raise OSError(28, "No space left on device", str(self.paths.record(record.id)))

    monkeypatch.setattr(Store, "write_record", full)
    with pytest.raises(SafetyError, match=r"cannot record the migration: .*0001.json: No space left on device; "
                                          r"nothing written"):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    assert _snapshot(root) == ORIGINAL
    assert Journal(root).history() == []


def test_the_applied_state_failing_to_write_is_rolled_back(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full while "applied" is written: failed before with a traceback, migration left pending."""
    real = Store.write_state  # the writer's Store, below the facade's Journal

    def full(self: Store, migration_id: str, state: Any) -> None:
        if state.state == "applied":
            raise OSError(28, "No space left on device", str(self.paths.state(migration_id)))
        real(self, migration_id, state)

    monkeypatch.setattr(Store, "write_state", full)
    with pytest.raises(SafetyError, match=r"0001.state: No space left on device; rolled back"):
        apply_changes(root, "toto", ["migrate"], _changes(root))
    assert _snapshot(root) == ORIGINAL



# --- created files (FileChange.before None) ------------------------------------------


def test_a_created_file_is_deleted_by_revert_exactly(root: Path) -> None:
    """Failed before: a change without `before` bytes was "no such file", exit 2."""
    new = root / "hyperparams" / "toto" / "NEW.json"
    j = Journal(root)
    migration = apply_changes(j.root, "toto", ["migrate", "toto", "--create-missing"],
                        [FileChange(new, None, b'{"num_samples": 32}'), *_changes(root, [FILES[0][0]])])
    assert migration is not None and new.read_bytes() == b'{"num_samples": 32}'
    assert migration.files[0] == journal.FileRecord("hyperparams/toto/NEW.json", None,
                                                    _sha(b'{"num_samples": 32}'))
    result = j.revert()
    assert not new.exists() and result.deleted == ("hyperparams/toto/NEW.json",)
    assert _snapshot(root) == ORIGINAL


def test_a_file_to_create_that_appeared_meanwhile_is_never_overwritten(root: Path) -> None:
    new = root / "hyperparams" / "toto" / "NEW.json"
    new.write_bytes(b"the user's")
    with pytest.raises(SafetyError, match="NEW.json: exists now"):
        apply_changes(root, "toto", ["migrate"], [FileChange(new, None, b"ours")])
    assert new.read_bytes() == b"the user's" and Journal(root).history() == []


def test_a_created_file_edited_since_is_kept_unless_force_which_saves_it(root: Path) -> None:
    new = root / "hyperparams" / "toto" / "NEW.json"
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], [FileChange(new, None, b"ours")])
    new.write_bytes(b"edited by the user")
    with pytest.raises(SafetyError, match="NEW.json; refusing to revert"):
        j.revert()
    assert new.read_bytes() == b"edited by the user"
    result = j.revert(force=True)
    assert not new.exists() and result.forced == ("hyperparams/toto/NEW.json",)
    assert (root / ".migrate/overwritten/0001/hyperparams/toto/NEW.json").read_bytes() == b"edited by the user"


def test_a_created_file_already_gone_counts_as_reverted(root: Path) -> None:
    new = root / "hyperparams" / "toto" / "NEW.json"
    j = Journal(root)
    apply_changes(j.root, "toto", ["migrate"], [FileChange(new, None, b"ours")])
    new.unlink()
    result = j.revert()
    assert result.unchanged == ("hyperparams/toto/NEW.json",) and result.restored == ()


# --- write_migration: the lock covers planning ----------------------------------------

TRY_LOCK = """
import sys
from pathlib import Path
from migrator.errors import SafetyError
from migrator.journal import Journal
try:
    with Journal(Path(sys.argv[1])).lock():
        print("got it")
except SafetyError:
    print("refused")
"""


def test_write_migration_plans_under_the_lock(root: Path) -> None:
    """Before: writers planned first and took the lock only around Journal.apply."""
    seen = []

    def plan() -> list[FileChange]:
        other = subprocess.run([sys.executable, "-c", TRY_LOCK, str(root)], capture_output=True,
                               text=True, timeout=60)
        seen.append(other.stdout.strip())
        return _changes(root)

    migration = journal.write_migration(root, "toto", ["migrate"], plan)
    assert seen == ["refused"] and migration is not None
    assert _snapshot(root) == {name: (_new(data), mode) for name, data, mode in FILES}


def test_write_migration_never_plans_while_another_migrate_holds_the_lock(root: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    planned = []
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(SafetyError, match="another migrate is working"):
            journal.write_migration(root, "toto", ["migrate"], lambda: planned.append(1) or [])
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert planned == []
