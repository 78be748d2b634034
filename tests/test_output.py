"""migrator.output: one ending for every command (json / quiet / --check / errors) and color."""

from __future__ import annotations

import io
import json

import click
import pytest
from click.testing import CliRunner

from migrator.errors import BadInputError
from migrator.output import Outcome, color_enabled, error_document, finish


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("choice, no_color, tty, expected", [
    ("auto", None, True, True),
    ("auto", None, False, False),
    ("auto", "1", True, False),
    ("auto", "", True, True),  # NO_COLOR counts only when non-empty
    ("always", "1", False, True),
    ("never", None, True, False),
])
def test_color_choice_and_no_color(monkeypatch, choice, no_color, tty, expected):
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert color_enabled(choice, _Tty() if tty else io.StringIO()) is expected


def _run(outcome: Outcome, **flags: bool):
    @click.command()
    def command() -> None:
        finish(outcome, as_json=flags.get("as_json", False), quiet=flags.get("quiet", False),
               check=flags.get("check", False))

    return CliRunner().invoke(command, [])


def test_text_then_warnings_on_stderr():
    result = _run(Outcome({"a": 1}, text="did it\n", warnings=["careful"]))
    assert result.exit_code == 0
    assert result.stdout == "did it\n"
    assert result.stderr == "migrate: warning: careful\n"


def test_json_is_one_document_and_quiet_prints_nothing():
    result = _run(Outcome({"a": 1}, text="did it\n"), as_json=True)
    assert json.loads(result.stdout) == {"a": 1}
    assert _run(Outcome({"a": 1}, text="did it\n"), quiet=True).stdout == ""


def test_check_with_pending_changes_exits_1_only_under_check():
    assert _run(Outcome({}, pending=True), check=True).exit_code == 1
    assert _run(Outcome({}, pending=True)).exit_code == 0
    assert _run(Outcome({}, pending=False), check=True).exit_code == 0


def test_errors_are_printed_then_the_failure_raised():
    result = _run(Outcome({}, errors=["a.json: bad"], failure=BadInputError("nothing written")))
    assert "migrate: error: a.json: bad" in result.stderr
    assert isinstance(result.exception, BadInputError)


def test_error_document():
    assert error_document("x: bad", 2) == {"error": {"message": "x: bad", "exit_code": 2}}
