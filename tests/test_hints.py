"""Every printed command carries `--root` when the root is not the current directory, and
running the printed command (as a shell would split it) acts on the same project."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.hints import command, root_option

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_root_option_is_shell_quoted_and_absent_for_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "my project's root"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    assert shlex.split(command("migrate revert 0001 --force", root)) == [
        "migrate", "revert", "0001", "--force", "--root", str(root)]
    monkeypatch.chdir(root)
    assert root_option(root) == "" and command("migrate revert", root) == "migrate revert"
    assert root_option(None) == ""


def _hint(text: str, pattern: str) -> list[str]:
    found = re.search(pattern, text)
    assert found, text
    return shlex.split(found.group(1))


@pytest.mark.parametrize("where", ["elsewhere", "in-the-root"])
def test_printed_undo_commands_act_on_the_same_project(where: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "a project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("__pycache__"))
    other = tmp_path / "other"
    shutil.copytree(EXAMPLES, other, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(other if where == "elsewhere" else root)
    original = (root / "backtest_test3_inline.py").read_bytes()
    runner = CliRunner()
    assert runner.invoke(main, ["apply", "--root", str(other)]).exit_code == 0  # a migration here too
    applied = runner.invoke(main, ["apply", "--root", str(root)])
    assert applied.exit_code == 0, applied.output
    undo = _hint(applied.stdout, r"undo: (migrate revert[^\n]*)")
    assert ("--root" in undo) == (where == "elsewhere")
    as_json = runner.invoke(main, ["apply", "--root", str(root), "--json", "--dry-run"])
    assert json.loads(as_json.stdout)["revert"] is None  # nothing written, nothing to undo
    reverted = runner.invoke(main, undo[1:])
    assert reverted.exit_code == 0, reverted.output
    assert (root / "backtest_test3_inline.py").read_bytes() == original
    assert (other / "backtest_test3_inline.py").read_bytes() != original  # the other project kept its own

    assert runner.invoke(main, ["apply", "--root", str(root)]).exit_code == 0
    (root / "backtest_test3_inline.py").write_bytes(b"# edited\n")
    refused = runner.invoke(main, ["revert", "--root", str(root)])
    assert refused.exit_code == 3
    force = _hint(refused.stderr, r"`(migrate revert \S+ --force[^`]*)`")
    assert ("--root" in force) == (where == "elsewhere")
    assert runner.invoke(main, force[1:]).exit_code == 0
    assert (root / "backtest_test3_inline.py").read_bytes() == original
