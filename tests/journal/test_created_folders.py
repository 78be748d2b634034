"""Folders the journal creates for created files: recorded before they exist, removed by a
revert (or a rollback) only when left empty, never through a symlink, never one it did not record.

Before this change a created file's folder had to exist (the caller mkdir'ed it outside the
journal) and a revert left it behind, empty: the first tests here failed then ("its folder does
not exist", exit 2).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import migrator.journal.apply as apply_module
from migrator.errors import BadInputError, SafetyError
from migrator.journal import FileChange, Journal
from migrator.journal.paths import create_recorded_folders

from .helpers import apply_changes, clean_exit, run

NEW = "hyperparams/new/deep/NEW.json"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "hyperparams" / "toto").mkdir(parents=True)
    (root / "hyperparams" / "toto" / "AAPL.json").write_bytes(b'{"num_samples": 1024}\r\n')
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    (folder / "deep").mkdir(parents=True)  # an empty folder a crafted entry could aim at
    (folder / "precious").write_bytes(b"precious")
    return folder


def _tree(root: Path) -> list[tuple[str, bytes | None]]:
    """Every file (with its bytes) and folder under the root, outside .migrate/."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(".migrate"):
            found.append((rel, None if path.is_dir() else path.read_bytes()))
    return found


def _outside_intact(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["deep", "precious"]
    assert (outside / "precious").read_bytes() == b"precious" and (outside / "deep").is_dir()


def _create(root: Path, *names: str) -> Any:
    return apply_changes(root, "toto", ["migrate", "toto", "--create-missing"],
                               [FileChange(root / name, None, b'{"num_samples": 32}') for name in names])


def _record(root: Path, migration_id: str = "0001") -> dict[str, Any]:
    return json.loads((root / ".migrate" / "migrations" / f"{migration_id}.json").read_bytes())


def _write_record(root: Path, document: dict[str, Any], migration_id: str = "0001") -> None:
    (root / ".migrate" / "migrations" / f"{migration_id}.json").write_text(json.dumps(document))


# --- created, recorded, removed --------------------------------------------------------


def test_a_file_in_missing_nested_folders_is_created_and_revert_removes_the_folders(root: Path) -> None:
    before = _tree(root)
    migration = _create(root, NEW)
    assert migration is not None and (root / NEW).read_bytes() == b'{"num_samples": 32}'
    assert _record(root)["folders"] == ["hyperparams/new", "hyperparams/new/deep"]
    done = run(root, "revert")
    assert done.exit_code == 0, done.output
    assert ("Removed the 2 folders it had created, left empty: hyperparams/new, hyperparams/new/deep."
            in done.stdout)
    assert _tree(root) == before and not (root / "hyperparams" / "new").exists()


def test_a_record_without_created_folders_has_no_folders_field(root: Path) -> None:
    _create(root, "hyperparams/toto/NEW.json")
    assert "folders" not in _record(root)  # the record an older migrate reads, unchanged


def test_an_older_record_without_the_field_still_reverts_leaving_its_folders(root: Path) -> None:
    _create(root, NEW)
    document = _record(root)
    del document["folders"]  # as a migrate before this field wrote it
    _write_record(root, document)
    assert Journal(root).revert().deleted == (NEW,)
    assert not (root / NEW).exists() and (root / "hyperparams/new/deep").is_dir()  # not recorded: kept


def test_a_user_file_in_a_created_folder_keeps_the_folder_and_the_file(root: Path) -> None:
    _create(root, NEW, "hyperparams/new/OTHER.json")
    mine = root / "hyperparams" / "new" / "deep" / "mine.txt"
    mine.write_bytes(b"the user's")
    result = Journal(root).revert()
    assert sorted(result.deleted) == ["hyperparams/new/OTHER.json", NEW]
    assert result.removed_folders == ()
    assert mine.read_bytes() == b"the user's"
    assert sorted(p.relative_to(root).as_posix() for p in (root / "hyperparams" / "new").rglob("*")) == [
        "hyperparams/new/deep", "hyperparams/new/deep/mine.txt"]


def test_an_empty_folder_the_user_made_inside_keeps_the_created_ones(root: Path) -> None:
    _create(root, NEW)
    (root / "hyperparams" / "new" / "deep" / "mine").mkdir()
    assert Journal(root).revert().removed_folders == ()
    assert (root / "hyperparams" / "new" / "deep" / "mine").is_dir()


def test_a_folder_an_older_migration_created_is_removed_when_the_last_file_goes(root: Path) -> None:
    _create(root, NEW)
    _create(root, "hyperparams/new/deep/SECOND.json")
    assert "folders" not in _record(root, "0002")  # it existed: 0002 did not create it
    assert Journal(root).revert().removed_folders == ()  # 0002: NEW.json of 0001 is still there
    assert (root / NEW).exists()
    done = run(root, "revert", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["removed_folders"] == ["hyperparams/new/deep", "hyperparams/new"]
    assert not (root / "hyperparams" / "new").exists()


def test_a_dry_run_revert_removes_nothing(root: Path) -> None:
    _create(root, NEW)
    done = run(root, "revert", "--dry-run")
    assert done.exit_code == 0, done.output
    assert (root / NEW).exists()


def test_a_file_in_the_way_of_a_folder_is_bad_input_and_nothing_is_written(root: Path) -> None:
    (root / "hyperparams" / "new").write_bytes(b"a file")
    with pytest.raises(BadInputError, match="hyperparams/new: is not a folder"):
        _create(root, NEW)
    assert (root / "hyperparams" / "new").read_bytes() == b"a file" and Journal(root).history() == []


# --- crafted records ---------------------------------------------------------------------


@pytest.mark.parametrize("entry", [
    "ABSOLUTE", "..", "hyperparams/..", "hyperparams/../..", "hyperparams//new", "./hyperparams",
    ".migrate", ".migrate/migrations", "hyperparams/toto", "src", "hyperparams/new/deep/NEW.json", 7, None,
], ids=lambda e: repr(e))
def test_a_crafted_folder_entry_is_refused_exit_3_naming_it(root: Path, outside: Path, entry: Any) -> None:
    """Each entry would name a folder the migration did not create (or one outside the root).

    (A folder of a created file that existed before, e.g. "hyperparams", passes the check: it
    is never empty once the created files are gone, as tests below show, so it is kept.)
    """
    _create(root, NEW)
    before = _tree(root)
    document = _record(root)
    crafted = str(outside / "deep") if entry == "ABSOLUTE" else entry
    document["folders"] = [crafted]
    _write_record(root, document)
    for args in (("revert",), ("revert", "--force"), ("revert", "--all"), ("history",)):
        clean_exit(run(root, *args), 3, ".migrate/migrations/0001.json", "folders[0]")
    assert _tree(root) == before
    _outside_intact(outside)


def test_a_folder_entry_that_is_not_a_list_or_listed_twice_is_refused(root: Path) -> None:
    _create(root, NEW)
    document = _record(root)
    for crafted, needle in (("hyperparams/new", "folders is not a list"),
                            (["hyperparams/new", "hyperparams/new"], "listed twice")):
        document["folders"] = crafted
        _write_record(root, document)
        clean_exit(run(root, "revert"), 3, "0001.json", needle)
    assert (root / NEW).exists()


def test_a_created_folder_replaced_by_a_symlink_is_refused_and_the_target_untouched(
        root: Path, outside: Path) -> None:
    _create(root, NEW)
    (root / NEW).unlink()
    os.rmdir(root / "hyperparams/new/deep")
    os.rmdir(root / "hyperparams/new")
    os.symlink(outside, root / "hyperparams" / "new")  # new/deep now reaches outside/deep (empty)
    for args in (("revert",), ("revert", "--force")):
        clean_exit(run(root, *args), 3, "hyperparams/new", "symlink")
    _outside_intact(outside)
    assert os.path.islink(root / "hyperparams" / "new")
    assert [m.state for m in Journal(root).history()] == ["applied"]


def test_the_folder_check_alone_refuses_a_symlink_on_a_recorded_folder(root: Path, outside: Path) -> None:
    """Even where no created file's path would be checked (defence in depth at revert time)."""
    from migrator.journal.revert import plan_revert

    _create(root, NEW)
    journal = Journal(root)
    migration, record = journal.load("0001")
    (root / NEW).unlink()
    os.rmdir(root / "hyperparams/new/deep")
    os.symlink(outside / "deep", root / "hyperparams/new/deep")
    bare = type(record)(record.format, record.id, record.kind, record.created, record.argv, (), record.folders)
    with pytest.raises(SafetyError, match="hyperparams/new/deep is not a plain folder"):
        plan_revert(journal, migration, bare, force=True)
    _outside_intact(outside)


# --- failures between the record and the folders ------------------------------------------


class Killed(BaseException):
    """kill -9, in-process: no handler of migrate's catches it."""


@pytest.mark.parametrize("created_first", [False, True], ids=["before mkdir", "after mkdir"])
def test_a_kill_between_record_and_files_leaves_what_the_next_revert_cleans(
        root: Path, monkeypatch: pytest.MonkeyPatch, created_first: bool) -> None:
    before = _tree(root)

    def killed(paths: Any, folders: Any) -> None:
        if created_first:
            create_recorded_folders(paths, folders)
        raise Killed

    monkeypatch.setattr(apply_module, "create_recorded_folders", killed)
    with pytest.raises(Killed):
        _create(root, NEW)
    monkeypatch.undo()
    assert (root / "hyperparams" / "new" / "deep").is_dir() == created_first
    assert [m.state for m in Journal(root).history()] == ["pending"]
    done = run(root, "revert")
    assert done.exit_code == 0, done.output
    assert _tree(root) == before
    assert [m.state for m in Journal(root).history()] == ["reverted"]


def test_a_failure_creating_the_folders_is_rolled_back_at_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _tree(root)

    def half(paths: Any, folders: Any) -> None:
        create_recorded_folders(paths, folders[:1])
        raise OSError(28, "No space left on device", str(root / folders[1]))

    monkeypatch.setattr(apply_module, "create_recorded_folders", half)
    with pytest.raises(SafetyError, match="No space left on device; rolled back"):
        _create(root, NEW)
    assert _tree(root) == before
    assert [m.state for m in Journal(root).history()] == ["reverted"]


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
import migrator.journal.apply as apply_module
from migrator.journal import FileChange, write_migration
from migrator.journal.paths import create_recorded_folders

root, created_first = Path(sys.argv[1]), sys.argv[2] == "1"

def killed(paths, folders):
    if created_first:
        create_recorded_folders(paths, folders)
    os.kill(os.getpid(), signal.SIGKILL)

apply_module.create_recorded_folders = killed
write_migration(root, "toto", ["migrate"], lambda: [FileChange(root / sys.argv[3], None, b"new")])
"""


@pytest.mark.parametrize("created_first", [False, True], ids=["before mkdir", "after mkdir"])
def test_a_real_kill_9_between_record_and_folders_is_cleaned_by_migrate_revert(
        root: Path, created_first: bool) -> None:
    before = _tree(root)
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(root), str(int(created_first)), NEW],
                          capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert (root / "hyperparams" / "new").exists() == created_first
    history = run(root, "history")
    assert history.exit_code == 0 and "pending (unfinished)" in history.stdout, history.output
    reverted = run(root, "revert")
    assert reverted.exit_code == 0, reverted.output
    assert _tree(root) == before
