"""Atomic replacement: exact bytes, modes kept, no leftovers, and the batch's flush ordering."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from migrator import atomic
from migrator.atomic import Replacement, replace_many, temp_path, write_atomic

QUIRKY = [
    b'{\r\n  "a": 1\r\n}\r\n',  # CRLF
    b'{"name": "caf\xe9"}',  # not UTF-8, no final newline
    b"",  # empty
    bytes(range(256)) * 4,  # every byte value
]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_replaces_bytes_and_keeps_mode_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "conf.json"
    target.write_bytes(b"old")
    target.chmod(0o755)
    old_umask = os.umask(0o077)
    try:
        write_atomic(target, QUIRKY[0])
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == QUIRKY[0]
    assert _mode(target) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf.json"]


def test_write_atomic_creates_a_new_file_with_the_given_or_default_mode(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a", b"x", mode=0o600)
    write_atomic(tmp_path / "b", b"y")
    assert (_mode(tmp_path / "a"), _mode(tmp_path / "b")) == (0o600, 0o644)


def test_temp_files_are_hidden_beside_the_target_and_not_matched_by_config_globs(tmp_path: Path) -> None:
    temp = Path(temp_path(tmp_path / "AAPL.json", "migrate-0007"))
    assert temp.parent == tmp_path
    assert temp.name == ".AAPL.json.migrate-0007.tmp"
    assert not temp.match("*.json") and not temp.match("*.py")


@pytest.mark.parametrize("count", [3, atomic.BATCH_MIN_FILES + 5], ids=["per-file", "batched"])
def test_replace_many_writes_every_file_exactly_with_its_mode(tmp_path: Path, count: int) -> None:
    modes = [0o600, 0o755, 0o644, 0o640]
    replacements = []
    for index in range(count):
        folder = tmp_path / f"dir{index % 2}"
        folder.mkdir(exist_ok=True)
        path = folder / f"f{index}.json"
        path.write_bytes(b"before")
        path.chmod(modes[index % 4])
        replacements.append(Replacement(path, QUIRKY[index % 4] + str(index).encode(), modes[index % 4]))
    replace_many(replacements, tag="t")
    for r in replacements:
        assert Path(r.path).read_bytes() == r.data
        assert _mode(Path(r.path)) == r.mode
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.skipif(atomic._syncfs is None, reason="no Linux syncfs(2) on this platform: the batched path "
                    "never runs here (replace_many takes the per-file path, tested below)")
def test_batched_replace_flushes_once_after_every_temp_and_before_any_rename(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_syncfs, real_replace, real_fsync, real_write = atomic._syncfs, os.replace, os.fsync, os.write
    assert real_syncfs is not None  # for type checkers: the skipif above

    def syncfs(fd: int) -> int:
        events.append("syncfs")
        return real_syncfs(fd)

    monkeypatch.setattr(atomic, "_syncfs", syncfs)
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b))[1])
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "write", lambda fd, d: (events.append("write"), real_write(fd, d))[1])
    count = atomic.BATCH_MIN_FILES * 2
    replacements = []
    for index in range(count):
        path = tmp_path / f"f{index}"
        path.write_bytes(b"old")
        replacements.append(Replacement(path, b"new%d" % index, 0o644))
    replace_many(replacements, tag="t")
    # All temp files written, one flush, all renames, then one fsync for the one folder.
    assert events == ["write"] * count + ["syncfs"] + ["rename"] * count + ["fsync"]
    assert [Path(r.path).read_bytes() for r in replacements] == [r.data for r in replacements]


def test_without_syncfs_large_batches_take_the_per_file_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic, "_syncfs", None)
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    count = atomic.BATCH_MIN_FILES + 1
    paths = [tmp_path / f"f{i}" for i in range(count)]
    for path in paths:
        path.write_bytes(b"old")
    replace_many([Replacement(p, b"new", 0o644) for p in paths], tag="t")
    assert len(fsyncs) == count + 1  # each temp file, then the folder
    assert all(p.read_bytes() == b"new" for p in paths)


def test_a_failing_batch_renames_nothing_and_leaves_no_temp_file(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{i}" for i in range(atomic.BATCH_MIN_FILES + 1)]
    for path in paths:
        path.write_bytes(b"old")
    missing_folder = tmp_path / "gone" / "f"
    with pytest.raises(FileNotFoundError):
        replace_many([Replacement(p, b"new", 0o644) for p in paths]
                     + [Replacement(missing_folder, b"new", 0o644)], tag="t")
    assert all(p.read_bytes() == b"old" for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_a_link_planted_at_the_temp_name_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"precious")
    inside = tmp_path / "root"
    inside.mkdir()
    target = inside / "conf.json"
    target.write_bytes(b"old")
    os.symlink(outside, temp_path(target, "t"))
    replace_many([Replacement(target, b"new", 0o644)], tag="t")
    assert outside.read_bytes() == b"precious"
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in inside.iterdir()) == ["conf.json"]
