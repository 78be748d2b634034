"""What every command shares: the options each takes, one ending (--json / -q / --check), --color and
NO_COLOR, errors as a JSON document with --json, profile without the forecast extra, shell completion."""

from __future__ import annotations

import errno
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.configs.models import MODELS
from migrator.journal import Journal

MIGRATE = Path(sys.executable).with_name("migrate")  # the console script of this venv
ANSI = "\x1b["

# The options of the shared groups (ROOT, HYPERPARAMS, WRITING_MODE, OUTPUT) each command takes.
SHARED = {"--root", "--hyperparams", "--dry-run", "--check", "--json", "-q"}
EXPECTED = {
    **{model.name: SHARED for model in MODELS},
    "apply": {"--root", "--dry-run", "--check", "--json", "-q"},
    "revert": {"--root", "--dry-run", "--check", "--json", "-q"},
    "history": {"--root", "--json", "-q"},
    "rules": {"--json", "-q"},
    "explain": {"--root", "--hyperparams", "--json", "-q"},  # --hyperparams: explain as if HYPERPARAM_ROOT=DIR
    "profile": {"--json", "-q"},
}




def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={"HYPERPARAM_ROOT": None, "NO_COLOR": None, **(env or {})})


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- each command takes only the options it uses ------------------------------------------------

def test_every_command_takes_exactly_the_shared_options_it_uses():
    assert set(main.commands) == set(EXPECTED), "a new command: say which shared options it takes"
    for name, command in main.commands.items():
        flags = {flag for param in command.params for flag in param.opts}
        assert flags & SHARED == EXPECTED[name], name


@pytest.mark.parametrize("args", [
    ("rules", "--root", "."),
    ("rules", "--dry-run"),
    ("history", "--check"),
    ("explain", "--dry-run"),
    ("profile", "--root", "."),
])
def test_an_option_a_command_does_not_use_is_a_usage_error(args):
    result = run(*args)
    assert result.exit_code == 2
    assert f"No such option '{args[1]}'" in result.stderr and result.stdout == ""


# --- one ending ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("toto", "--samples", "32", "--batch", "16", "--dry-run"),
    ("kronos", "--samples", "64", "--dry-run"),
    ("apply", "--dry-run"),
    ("rules",),
    ("history",),
    ("revert", "--dry-run"),
    ("explain",),
])
def test_json_is_one_document_and_quiet_prints_nothing(project, args):
    root_args = () if args[0] == "rules" else ("--root", str(project))
    before = _files(project)
    text = run(*args, *root_args)
    assert text.exit_code == 0, text.stderr
    assert text.stdout and ANSI not in text.stdout  # not a terminal: no color
    document = run(*args, *root_args, "--json")
    assert document.exit_code == 0
    parsed = json.loads(document.stdout)  # exactly one document: trailing text would raise
    # the command's own document (history's is a list), never the error document
    assert isinstance(parsed, list) or (isinstance(parsed, dict) and parsed and "error" not in parsed)
    quiet = run(*args, *root_args, "-q")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert _files(project) == before


@pytest.mark.parametrize("args", [
    ("toto", "--samples", "32", "--batch", "16"),
    ("apply",),
    ("revert",),
])
def test_check_exits_1_with_a_document_or_nothing_and_writes_nothing(project, args):
    if args[0] == "revert":
        assert run("toto", "--samples", "32", "--batch", "16", "--root", str(project)).exit_code == 0
    before = _files(project)
    assert run(*args, "--root", str(project), "--check", "-q").exit_code == 1
    checked = run(*args, "--root", str(project), "--check", "--json")
    assert checked.exit_code == 1 and json.loads(checked.stdout)
    assert _files(project) == before


# --- --color and NO_COLOR -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("toto", "--samples", "32", "--batch", "16", "--dry-run"),
    ("apply", "--dry-run"),
])
def test_color_always_colors_the_diffs_never_and_json_do_not(project, args):
    colored = run("--color", "always", *args, "--root", str(project))
    assert colored.exit_code == 0 and f"{ANSI}31m-" in colored.stdout and f"{ANSI}32m+" in colored.stdout
    plain = run("--color", "never", *args, "--root", str(project))
    assert plain.exit_code == 0 and ANSI not in plain.stdout
    # The same diff lines, less the escapes.
    assert plain.stdout == colored.stdout.replace(f"{ANSI}31m", "").replace(f"{ANSI}32m", "").replace(
        f"{ANSI}36m", "").replace(f"{ANSI}0m", "")
    as_json = run("--color", "always", *args, "--root", str(project), "--json")
    assert as_json.exit_code == 0 and ANSI not in as_json.stdout and json.loads(as_json.stdout)


def test_color_always_colors_revert_diffs_and_explain_headers(project):
    assert run("toto", "--samples", "32", "--batch", "16", "--root", str(project)).exit_code == 0
    reverted = run("--color", "always", "revert", "--dry-run", "--root", str(project))
    assert reverted.exit_code == 0 and f"{ANSI}31m-" in reverted.stdout
    explained = run("--color", "always", "explain", "--root", str(project))
    assert explained.exit_code == 0 and f"{ANSI}1mSYMBOL" in explained.stdout
    assert ANSI not in run("explain", "--root", str(project)).stdout


def test_an_unknown_color_is_a_usage_error():
    result = run("--color", "pink", "rules")
    assert result.exit_code == 2 and "'pink' is not one of 'auto', 'always', 'never'" in result.stderr


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """stdout of `migrate ARGS` run on a pseudo-terminal, as a user at a shell sees it."""
    leader, follower = pty.openpty()
    done = subprocess.Popen([str(MIGRATE), *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.wait(timeout=120) == 0
    return b"".join(chunks).decode()


@pytest.mark.skipif(not MIGRATE.exists(), reason="needs the migrate console script (pip install -e .)")
def test_on_a_terminal_diffs_are_colored_unless_no_color(project):
    args = ["toto", "--samples", "32", "--batch", "16", "--dry-run", "--root", str(project)]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "HYPERPARAM_ROOT")}
    assert f"{ANSI}31m-" in _on_a_terminal(args, env)
    assert ANSI not in _on_a_terminal(args, {**env, "NO_COLOR": "1"})
    assert f"{ANSI}31m-" in _on_a_terminal(["--color", "always", *args], {**env, "NO_COLOR": "1"})


# --- with --json, an error is a JSON document on stdout too -------------------------------------

def _error(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.stderr)
    document = json.loads(result.stdout)
    assert list(document) == ["error"] and document["error"]["exit_code"] == exit_code
    return document["error"]["message"]


def test_a_migrate_error_with_json_is_a_document_and_one_stderr_line(project):
    result = run("revert", "0042", "--root", str(project), "--json")
    message = _error(result, 2)
    assert message.startswith("no migration 0042")
    assert result.stderr == f"migrate: error: {message}\n"
    without = run("revert", "0042", "--root", str(project))
    assert without.exit_code == 2 and without.stdout == ""


@pytest.mark.parametrize("args, needle", [
    (("toto", "--samples", "many", "--json"), "'many' is not a valid integer"),
    (("revert", "0001", "--all", "--json"), "give at most one of ID, --all, --to ID"),
    (("toto", "--samples", "32", "--nonsense", "--json"), "No such option '--nonsense'"),
    (("nonsense", "--json"), "No such command 'nonsense'"),
    (("--color", "pink", "rules", "--json"), "'pink' is not one of"),
])
def test_a_usage_error_with_json_is_a_document_exit_2(project, args, needle):
    before = _files(project)
    result = run(*args, "--root", str(project)) if args[0] != "--color" else run(*args)
    assert needle in _error(result, 2)
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr
    assert _files(project) == before


def test_a_root_that_is_not_a_directory_with_json(tmp_path):
    missing = tmp_path / "missing"
    result = run("history", "--root", str(missing), "--json")
    assert f"{missing}: not a directory" in _error(result, 2)


def test_a_refused_config_migration_prints_its_own_document_only(project):
    (project / "hyperparams" / "toto" / "AAPL.json").write_text("[]")
    result = run("toto", "--samples", "32", "--batch", "16", "--root", str(project), "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)  # one document: the command's, not an error document after it
    assert "error" not in document and document["invalid"] and document["written"] is False
    assert result.stderr.endswith("(fix, or pass --skip-invalid to migrate the valid ones)\n")


def test_a_file_system_error_with_json_is_exit_3(project, monkeypatch):
    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(project / ".migrate" / "x"))

    monkeypatch.setattr(Journal, "history", full)
    result = run("history", "--root", str(project), "--json")
    assert _error(result, 3) == f"{project / '.migrate' / 'x'}: No space left on device"
    assert result.stderr == f"migrate: error: {project / '.migrate' / 'x'}: No space left on device\n"


def test_ctrl_c_with_json_is_exit_130_and_a_document(project, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Journal, "history", interrupted)
    result = run("history", "--root", str(project), "--json")
    assert _error(result, 130) == "interrupted"
    assert result.stderr == "migrate: interrupted\n"
    assert run("history", "--root", str(project)).stdout == ""


# --- migrate profile without the forecast extra -------------------------------------------------

# A fresh interpreter where numpy, scipy and torch are not installed, as after `pip install migrate`:
# importing them fails as Python fails for a missing package (or, with BROKEN set, as a broken install).
WITHOUT_EXTRA = """
import os, sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in {"torch", "numpy", "scipy"}:
            if os.environ.get("BROKEN"):
                raise ImportError(f"libtorch_cpu.so: cannot open shared object file ({top})")
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None

sys.meta_path.insert(0, NotInstalled())
from migrator.cli import main
main(sys.argv[1:], prog_name="migrate")
"""


def _without_extra(*args: str, broken: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BROKEN"} | ({"BROKEN": "1"} if broken else {})
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRA, *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_profile_without_the_forecast_extra_says_how_to_get_it_in_one_line():
    done = _without_extra("profile")
    assert done.returncode == 2
    assert done.stderr == "migrate: error: migrate profile needs the forecast extra: pip install 'migrate[forecast]'\n"
    assert done.stdout == ""
    as_json = _without_extra("profile", "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout) == {"error": {
        "message": "migrate profile needs the forecast extra: pip install 'migrate[forecast]'", "exit_code": 2}}
    # Its help still works, and a broken install says what failed, still in one line.
    assert _without_extra("profile", "--help").returncode == 0
    broken = _without_extra("profile", broken=True)
    assert broken.returncode == 2 and len(broken.stderr.splitlines()) == 1
    assert broken.stderr.startswith("migrate: error: migrate profile needs the forecast extra: pip install")
    assert "libtorch_cpu.so" in broken.stderr and "Traceback" not in broken.stderr


# --- shell completion ---------------------------------------------------------------------------

def _complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(MIGRATE)] if MIGRATE.exists() else [
        sys.executable, "-c", "from migrator.cli import main; main(prog_name='migrate')"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_for_the_migrate_command(shell):
    done = _complete({"_MIGRATE_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert "_MIGRATE_COMPLETE" in done.stdout and "migrate" in done.stdout.replace("_MIGRATE_COMPLETE", "")


def test_bash_completion_completes_commands_and_options():
    commands = _complete({"_MIGRATE_COMPLETE": "bash_complete", "COMP_WORDS": "migrate re", "COMP_CWORD": "1"})
    assert commands.returncode == 0 and commands.stdout.split() == ["plain,revert"]
    options = _complete({"_MIGRATE_COMPLETE": "bash_complete", "COMP_WORDS": "migrate rules --", "COMP_CWORD": "2"})
    assert set(options.stdout.split()) == {"plain,--json", "plain,--quiet", "plain,--help"}
