"""Every exception from every command ends at the CLI's edge as one line and a documented exit code;
with --json, stdout holds exactly one JSON document (issue #17, item 4).

Python's own errors on input too large or malformed for it are bad input (2); anything else
no module turned into a MigrateError is a bug, said so in one line (3). Wherever they are raised,
a command never ends in a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from migrator.cli import main





def _unicode_error() -> UnicodeError:
    return UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


PYTHON_LIMITS: list[tuple[Callable[[], BaseException], str]] = [
    (lambda: OverflowError("cannot convert float infinity to integer"),
     "OverflowError: cannot convert float infinity to integer"),
    (MemoryError, "MemoryError: out of memory"),
    (lambda: RecursionError("maximum recursion depth exceeded"), "RecursionError: maximum recursion depth exceeded"),
    (lambda: ValueError("Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
     "ValueError: Exceeds the limit (4300 digits) for integer string conversion"),
    (_unicode_error, "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff"),
]

# Where each command does its work: raising there stands for anything raised under it.
COMMANDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "toto": (("toto", "--samples", "32", "--batch", "16", "--dry-run"), "migrator.configs.migrations", "plan_migration"),
    "kronos": (("kronos", "--samples", "64"), "migrator.configs.migrations", "plan_migration"),
    "apply": (("apply", "--dry-run"), "migrator.codemod.apply", "run_apply"),
    "explain": (("explain",), "migrator.explain", "explain"),
    "history": (("history",), "migrator.journal.Journal", "history"),
    "revert": (("revert",), "migrator.journal.Journal", "revert_many"),
}


def _raising(monkeypatch: pytest.MonkeyPatch, command: str, error: Callable[[], BaseException]) -> tuple[str, ...]:
    import importlib

    args, module, name = COMMANDS[command]
    owner_path, _, cls = module.rpartition(".") if module.endswith("Journal") else (module, "", "")
    owner: Any = importlib.import_module(owner_path)
    if cls:
        owner = getattr(owner, cls)

    def fail(*_: Any, **__: Any) -> Any:
        raise error()

    monkeypatch.setattr(owner, name, fail)
    return args


def _invoke(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--root", str(root)], env={"HYPERPARAM_ROOT": None})


def _one_line(result: Result, code: int, needle: str) -> str:
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrate: error: "), lines
    assert needle in lines[0], lines[0]
    return lines[0].removeprefix("migrate: error: ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("error, shown", PYTHON_LIMITS, ids=["overflow", "memory", "recursion", "int-digits",
                                                             "unicode"])
def test_pythons_limits_are_bad_input_in_one_line(project: Path, monkeypatch: pytest.MonkeyPatch, command: str,
                                                  error: Callable[[], BaseException], shown: str) -> None:
    args = _raising(monkeypatch, command, error)
    message = _one_line(_invoke(project, *args), 2, f"cannot handle this input: {shown}")
    as_json = _invoke(project, *args, "--json")
    assert json.loads(as_json.stdout) == {"error": {"message": message, "exit_code": 2}}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unexpected_exception_is_one_line_saying_it_is_a_bug(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                                command: str) -> None:
    args = _raising(monkeypatch, command, lambda: KeyError("config"))
    message = _one_line(_invoke(project, *args), 3,
                        "internal error (a bug in migrate, please report it): KeyError: 'config'")
    assert json.loads(_invoke(project, *args, "--json").stdout) == {"error": {"message": message, "exit_code": 3}}


def test_a_long_or_multi_line_message_stays_one_short_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = _raising(monkeypatch, "toto", lambda: TypeError("first\nsecond\x1b[31m" + "x" * 1000))
    message = _one_line(_invoke(project, *args), 3, "TypeError: first\\nsecond\\x1b[31m")
    assert len(message) < 400 and message.endswith("...")


def test_rules_and_profile_end_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    import migrator.cli.profile as cli
    from migrator.codemod import report

    def overflow(*_: Any) -> Any:
        raise OverflowError("too big")

    monkeypatch.setattr(report, "rules_text", overflow)
    result = CliRunner().invoke(main, ["rules"])
    _one_line(result, 2, "cannot handle this input: OverflowError: too big")
    monkeypatch.setattr(cli, "require_forecast_extra", overflow)
    result = CliRunner().invoke(main, ["profile", "--json"])
    assert json.loads(result.stdout)["error"]["exit_code"] == 2
    _one_line(result, 2, "OverflowError: too big")


def test_the_exit_code_of_check_is_untouched(project: Path) -> None:
    # click's own Exit (how --check ends with 1) is not an error to report.
    result = _invoke(project, "toto", "--samples", "32", "--batch", "16", "--check")
    assert result.exit_code == 1 and "error" not in result.stderr


def test_a_usage_error_quoting_a_hostile_argument_is_one_line(tmp_path: Path) -> None:
    hostile = str(tmp_path / "no\nsuch\x1b[31m")
    result = CliRunner().invoke(main, ["history", "--root", hostile, "--json"])
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "no\\nsuch\\x1b[31m" in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "Invalid value" in line]
    assert "no\\nsuch" in line
    assert "no\\nsuch" in json.loads(result.stdout)["error"]["message"]
