"""Hostile files against every command that reads them (issue #17's table, file rows).

Each command runs as its own process under a time and memory limit, as a user would run it:
a command that blocks on a FIFO or reads /dev/zero fails the test instead of hanging it.
Every case: one line on stderr, the documented exit code, exactly one JSON document with
--json, no traceback, nothing written.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT_S = 120  # generous for a loaded box; the commands take about a second
MEMORY_LIMIT = 3 << 30  # what a run may map: /dev/zero read whole would pass it
TOTO = ("toto", "--samples", "32", "--batch", "16")




def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def migrate(root: Path, *args: str, env: dict[str, str] | None = None,
            with_root: bool = True) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "HYPERPARAM_ROOT" and not k.startswith("MARKETSIM_")}
    return subprocess.run([sys.executable, "-m", "migrator", *args, *(("--root", str(root)) if with_root else ())],
                          capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=_limit_memory,
                          env={**environ, **(env or {})}, cwd=root)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("migrate: error:")]
    assert errors, result.stderr
    for needle in needles:
        assert any(needle in line for line in errors), (needle, errors)
    return errors[0]


def one_document(result: subprocess.CompletedProcess[str]) -> object:
    return json.loads(result.stdout)  # exactly one document: anything else fails to parse


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and stat.S_ISREG(p.lstat().st_mode)}


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


# --- FIFOs: explain, toto and apply never block ----------------------------------------------

def test_a_fifo_config_is_reported_by_explain_not_waited_on(project: Path) -> None:
    _replace_with_fifo(project / "hyperparams/toto/AAPL.json")  # before: explain hung forever
    result = migrate(project, "explain", "--json")
    assert result.returncode == 0, result.stderr
    toto = one_document(result)["symbols"]["AAPL"]["toto"]  # type: ignore[index]
    assert toto["file"]["state"] == "invalid"
    assert "not a regular file (a FIFO)" in json.dumps(toto)


@pytest.mark.parametrize("command", [("explain",), (*TOTO, "--dry-run"), ("apply", "--dry-run")],
                         ids=["explain", "toto", "apply"])
def test_a_fifo_backtest_module_is_refused_not_waited_on(project: Path, command: tuple[str, ...]) -> None:
    _replace_with_fifo(project / "backtest_test3_inline.py")  # before: explain and toto hung forever
    result = migrate(project, *command)
    if command[0] == "explain":
        one_line_error(result, 2, "backtest_test3_inline.py: cannot read the backtest: not a regular file (a FIFO)")
    elif command[0] == "apply":  # before: "no such file", which it is not
        one_line_error(result, 2, "backtest_test3_inline.py: cannot read: not a regular file (a FIFO)")
    else:  # toto still migrates; its clamp note falls back to the documented clamp, saying why
        assert result.returncode == 0, result.stderr
        assert "not a regular file (a FIFO)" in result.stderr


def test_a_fifo_module_under_a_folder_given_to_apply_is_refused(project: Path) -> None:
    (project / "pkg").mkdir()
    os.mkfifo(project / "pkg/f.py")  # before: apply hung forever
    before = _files(project)
    result = migrate(project, "apply", str(project / "pkg"), "--json")
    one_line_error(result, 2, "pkg/f.py: cannot read: not a regular file (a FIFO)")
    assert one_document(result)["errors"] == ["pkg/f.py: cannot read: not a regular file (a FIFO)"]  # type: ignore[index]
    assert _files(project) == before and not (project / ".migrate").exists()


@pytest.mark.parametrize("option", ["--data", "--checkpoint", "--kronos-checkpoint"])
def test_a_fifo_given_to_profile_is_refused_not_waited_on(tmp_path: Path, option: str) -> None:
    pytest.importorskip("torch")
    fifo = tmp_path / "input"
    os.mkfifo(fifo)  # before: profile hung forever
    result = migrate(tmp_path, "profile", option, str(fifo), "--json", with_root=False)
    one_line_error(result, 2, f"{fifo}: cannot read", "not a regular file (a FIFO)")
    assert one_document(result)["error"]["exit_code"] == 2  # type: ignore[index]


# --- /dev/zero, device nodes, a 50 MB module ---------------------------------------------------

def test_a_backtest_linked_to_dev_zero_is_one_line_not_a_memory_error(project: Path) -> None:
    module = project / "backtest_test3_inline.py"
    module.unlink()
    module.symlink_to("/dev/zero")  # before: read until MemoryError, then a traceback, no JSON
    result = migrate(project, "explain", "--json")
    one_line_error(result, 2, "cannot read the backtest: not a regular file (a character device)")
    assert one_document(result)["error"]["exit_code"] == 2  # type: ignore[index]


def test_a_config_linked_to_dev_zero_is_an_invalid_file_not_a_memory_error(project: Path) -> None:
    config = project / "hyperparams/toto/AAPL.json"
    config.unlink()
    config.symlink_to("/dev/zero")  # before: explain read until MemoryError, then a traceback
    result = migrate(project, "explain", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    toto = one_document(result)["symbols"]["AAPL"]["toto"]  # type: ignore[index]
    assert toto["file"]["state"] == "invalid"
    assert "not a regular file (a character device)" in json.dumps(toto)
    # toto never follows a link out of the root: skipped with a warning, the rest migrated
    result = migrate(project, *TOTO, "--dry-run")
    assert result.returncode == 0 and "AAPL.json: skipped: symlink leads outside the root" in result.stderr


def test_a_device_node_named_py_is_refused_by_apply(project: Path) -> None:
    (project / "pkg").mkdir()
    try:
        os.mknod(project / "pkg/dev.py", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero's numbers
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    result = migrate(project, "apply", str(project / "pkg"), "--dry-run")
    one_line_error(result, 2, "pkg/dev.py: cannot read: not a regular file (a character device)")


def test_a_50_mb_module_is_refused_by_the_module_cap_naming_the_cause(project: Path) -> None:
    # Before: 8.4 GB and minutes; under a memory limit, "nested too deeply" (the wrong cause).
    (project / "backtest_test3_inline.py").write_bytes(b"x = 1\n" * 9_000_000)
    result = migrate(project, "explain", "--json")
    line = one_line_error(result, 2, "backtest_test3_inline.py: cannot read the backtest: too large: "
                                     "54,000,000 bytes, over the limit of 8,388,608 bytes "
                                     "(set MIGRATE_MAX_MODULE_BYTES to raise it)")
    assert "nested" not in line
    assert one_document(result)["error"]["message"] == line.removeprefix("migrate: error: ")  # type: ignore[index]


def test_the_module_cap_is_configurable(project: Path) -> None:
    result = migrate(project, "explain", "--json", env={"MIGRATE_MAX_MODULE_BYTES": "1000"})
    one_line_error(result, 2, "too large", "over the limit of 1,000 bytes")
    result = migrate(project, "apply", "--dry-run", env={"MIGRATE_MAX_MODULE_BYTES": "1000"})
    one_line_error(result, 2, "backtest_test3_inline.py: cannot read: too large")


def test_the_config_cap_is_configurable(project: Path) -> None:
    result = migrate(project, *TOTO, "--dry-run", env={"MIGRATE_MAX_CONFIG_BYTES": "100"})
    one_line_error(result, 2, "hyperparams/toto/AAPL.json: cannot read: too large",
                   "(set MIGRATE_MAX_CONFIG_BYTES to raise it)")


# --- a 5,000-digit integer in a config -----------------------------------------------------------

def test_a_5000_digit_integer_in_a_config_is_an_invalid_file_for_explain(project: Path) -> None:
    path = project / "hyperparams/toto/AAPL.json"
    path.write_text(path.read_text().replace('"num_samples": 2048', '"num_samples": ' + "9" * 5000))
    result = migrate(project, "explain", "--json")  # before: ValueError traceback, stdout empty
    assert result.returncode == 0, result.stderr
    toto = one_document(result)["symbols"]["AAPL"]["toto"]  # type: ignore[index]
    assert toto["file"]["state"] == "invalid"
    assert "an integer with more digits than Python's limit of 4300" in json.dumps(toto)
    text = migrate(project, "explain")
    assert text.returncode == 0 and "Traceback" not in text.stderr


# --- names with a newline or an ESC ---------------------------------------------------------------

HOSTILE_NAME = "A\nB\x1b[31m"
SHOWN = "A\\nB\\x1b[31m"


def _no_raw_controls(text: str) -> None:
    """No raw ESC, and the hostile name never split over two lines."""
    assert "\x1b" not in text
    assert not [line for line in text.splitlines() if line.startswith("B")], text


def test_apply_names_a_hostile_file_escaped_in_text_and_json(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / f"{HOSTILE_NAME}.py").write_text("def broken(:\n")
    result = migrate(project, "apply", str(project / "pkg"))
    _no_raw_controls(result.stderr)  # before: the error split over two lines, ESC raw
    one_line_error(result, 2, f"pkg/{SHOWN}.py:1:")
    document = migrate(project, "apply", str(project / "pkg"), "--json")
    [error] = one_document(document)["errors"]  # type: ignore[index]
    assert error.startswith(f"pkg/{SHOWN}.py:1:")


def test_explain_shows_a_hostile_symbol_escaped_in_text_and_json(project: Path) -> None:
    shutil.copy(project / "hyperparams/toto/AAPL.json", project / "hyperparams/toto" / f"{HOSTILE_NAME}.json")
    text = migrate(project, "explain")
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout  # before: the raw ESC reached the terminal
    assert not [line for line in text.stdout.splitlines() if line.startswith(("B\x1b", "B\\x1b"))]  # never split
    assert any(line.startswith(SHOWN) for line in text.stdout.splitlines())
    document = one_document(migrate(project, "explain", "--json"))
    assert SHOWN in document["symbols"] and HOSTILE_NAME not in document["symbols"]  # type: ignore[operator,index]


def test_history_and_revert_show_a_hostile_file_escaped(project: Path) -> None:
    shutil.copy(project / "hyperparams/toto/AAPL.json", project / "hyperparams/toto" / f"{HOSTILE_NAME}.json")
    assert migrate(project, *TOTO).returncode == 0
    history = one_document(migrate(project, "history", "--json"))
    paths = [f["path"] for f in history[0]["files"]]  # type: ignore[index]
    assert f"hyperparams/toto/{SHOWN}.json" in paths
    dry = migrate(project, "revert", "--dry-run")
    assert dry.returncode == 0 and "\x1b" not in dry.stdout
    assert f"--- a/hyperparams/toto/{SHOWN}.json" in dry.stdout
    reverted = one_document(migrate(project, "revert", "--json"))
    assert f"hyperparams/toto/{SHOWN}.json" in reverted["restored"]  # type: ignore[index]


def test_a_selection_with_a_hostile_symbol_is_named_escaped(project: Path) -> None:
    best = project / "hyperparams" / "best"
    shutil.copy(best / "BTCUSD.json", best / f"{HOSTILE_NAME}.json")  # a toto selection with no toto/ file
    result = migrate(project, *TOTO, "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    _no_raw_controls(result.stderr)
    assert f"{SHOWN}" in result.stderr
    assert f"hyperparams/best/{SHOWN}.json" in one_document(result)["unread_selections"]  # type: ignore[index]
    created = migrate(project, *TOTO, "--create-missing")
    assert created.returncode == 0, created.stderr
    _no_raw_controls(created.stderr + created.stdout)
    assert (project / "hyperparams" / "toto" / f"{HOSTILE_NAME}.json").is_file()  # named as on disk


def test_an_error_message_naming_a_hostile_path_is_one_line(project: Path) -> None:
    hostile_root = project.parent / HOSTILE_NAME
    project.rename(hostile_root)
    (hostile_root / "backtest_test3_inline.py").write_text("def broken(:\n")
    result = migrate(hostile_root, "explain", "--json")
    line = one_line_error(result, 2, "not valid Python")
    assert SHOWN in line and len(result.stderr.splitlines()) == 1
    assert one_document(result)["error"]["message"] == line.removeprefix("migrate: error: ")  # type: ignore[index]
