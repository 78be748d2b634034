"""migrator.files: the one reader of the user's files (regular files only, never blocking, capped)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from migrator.errors import BadInputError
from migrator.files import CONFIG, MODULE, Cap, UnreadableFile, read_user_file

SMALL = Cap("MIGRATE_TEST_CAP", 10)


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.json"
    path.write_bytes(b'{"a": 1}\n')
    assert read_user_file(path, CONFIG) == b'{"a": 1}\n'


def test_a_fifo_is_refused_at_once_without_a_writer(tmp_path: Path) -> None:
    # A blocking open of a FIFO with no writer never returns: this test would hang.
    fifo = tmp_path / "AAPL.json"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFile, match=r"^not a regular file \(a FIFO\)$"):
        read_user_file(fifo, CONFIG)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(UnreadableFile, match="not a regular file"):
            read_user_file(path, MODULE)
    finally:
        server.close()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_symlink_to_a_device_is_refused_without_reading_it(tmp_path: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} is absent here")
    link = tmp_path / "backtest_test3_inline.py"
    link.symlink_to(device)
    with pytest.raises(UnreadableFile, match=r"^not a regular file \(a character device\)$"):
        read_user_file(link, MODULE)


def test_a_device_node_named_py_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "f.py"
    try:
        os.mknod(node, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero's numbers
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    with pytest.raises(UnreadableFile, match="character device"):
        read_user_file(node, MODULE)


def test_a_folder_is_refused_as_the_system_names_it(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="^Is a directory$"):
        read_user_file(tmp_path, CONFIG)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as caught:
        read_user_file(tmp_path / "nope.json", CONFIG)
    assert caught.value.missing and caught.value.reason == "No such file or directory"


def test_not_following_symlinks_refuses_one(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(b"{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert read_user_file(link, CONFIG) == b"{}"
    with pytest.raises(UnreadableFile, match="symbolic links"):
        read_user_file(link, CONFIG, follow_symlinks=False)


def test_the_cap_is_exact_and_named_with_its_variable(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"x" * 10)
    assert read_user_file(path, SMALL) == b"x" * 10
    path.write_bytes(b"x" * 11)
    with pytest.raises(UnreadableFile, match=r"^too large: 11 bytes, over the limit of 10 bytes "
                                             r"\(set MIGRATE_TEST_CAP to raise it\)$"):
        read_user_file(path, SMALL)


def test_the_cap_holds_where_fstat_cannot_tell_the_size(tmp_path: Path) -> None:
    # /proc files are regular files of size 0 whatever they hold: the read itself stops at the cap.
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("no /proc here")
    with pytest.raises(UnreadableFile, match="too large: more bytes, over the limit of 10 bytes"):
        read_user_file(maps, SMALL)


def test_the_caps_default_to_16_and_8_mib_and_follow_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATE_MAX_CONFIG_BYTES", raising=False)
    monkeypatch.delenv("MIGRATE_MAX_MODULE_BYTES", raising=False)
    assert (CONFIG.limit(), MODULE.limit()) == (16 * 1024 * 1024, 8 * 1024 * 1024)
    monkeypatch.setenv("MIGRATE_MAX_CONFIG_BYTES", "123")
    monkeypatch.setenv("MIGRATE_MAX_MODULE_BYTES", " 456 ")
    assert (CONFIG.limit(), MODULE.limit()) == (123, 456)


@pytest.mark.parametrize("value", ["0", "-1", "1e6", "lots", "9" * 40])
def test_a_bad_cap_is_bad_input_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MIGRATE_MAX_MODULE_BYTES", value)
    with pytest.raises(BadInputError, match=r"^MIGRATE_MAX_MODULE_BYTES=.*: not a positive number of bytes$"):
        MODULE.limit()
