"""`migrate apply` / `migrate rules` through the CLI: targets, modes, journal, bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import libcst as cst
import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.codemod.rules import eod_comment
from migrator.journal import Journal

from .helpers import code

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGETS = ("backtest_test3_inline.py", "backtest_test3_inline_parallel.py",
           "src/optimization_utils.py")
BACKUP = "backtest_test3_inline.py.pre_speedup"  # the guide's script leaves it: never touched


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {path: (root / path).read_bytes() for path in TARGETS}


def test_dry_run_shows_each_rule_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    result = invoke("apply", "--root", str(project), "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(project) == before
    out = result.output
    assert "backtest_test3_inline.py: max-horizon, fast-simulate, eod-comment, imports\n" in out
    assert "backtest_test3_inline_parallel.py: max-horizon, fast-simulate, imports\n" in out
    assert "src/optimization_utils.py: fast-optimize, imports\n" in out
    for rule in ("max-horizon", "fast-simulate", "eod-comment", "imports", "fast-optimize"):
        assert f"# rule {rule}\n" in out
    assert "-    max_horizon = 7\n" in out
    assert ('+    max_horizon = _marketsim_env_int("MARKETSIM_MAX_HORIZON", 7, low=7, high=7)\n'
            in out)
    assert not (project / ".migrate").exists() or not Journal(project).history()


def test_apply_check_idempotence_and_revert(project: Path) -> None:
    original = snapshot(project)
    backup = (project / BACKUP).read_bytes()
    assert invoke("apply", "--root", str(project), "--check").exit_code == 1
    assert snapshot(project) == original

    first = invoke("apply", "--root", str(project))
    assert first.exit_code == 0, first.output
    patched = snapshot(project)
    assert all(patched[path] != original[path] for path in TARGETS)
    for path in TARGETS:
        compile(patched[path], path, "exec", dont_inherit=True)
    history = Journal(project).history()
    assert [m.kind for m in history] == ["apply"]
    assert sorted(f.path for f in history[0].files) == sorted(TARGETS)

    second = invoke("apply", "--root", str(project))
    assert second.exit_code == 0 and "nothing to do" in second.output
    assert snapshot(project) == patched
    assert invoke("apply", "--root", str(project), "--check").exit_code == 0
    assert len(Journal(project).history()) == 1

    reverted = invoke("revert", "--root", str(project))
    assert reverted.exit_code == 0, reverted.output
    assert snapshot(project) == original
    assert (project / BACKUP).read_bytes() == backup
    assert invoke("apply", "--root", str(project), "--check").exit_code == 1


def test_root_without_python_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("max_horizon = 7\n")
    result = invoke("apply", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}: no Python files under the root" in result.output


def test_discovery_looks_at_every_module_and_changes_those_a_rule_applies_to(project: Path) -> None:
    data = json.loads(invoke("apply", "--root", str(project), "--check", "--json").output)
    assert [f["path"] for f in data["files"]] == sorted(["src/__init__.py", *TARGETS])
    assert {f["path"] for f in data["files"] if f["changed"]} == set(TARGETS)
    (project / "src" / "optimization_utils.py").unlink()
    (project / "backtest_test3_inline_parallel.py").unlink()
    data = json.loads(invoke("apply", "--root", str(project), "--check", "--json").output)
    assert [f["path"] for f in data["files"] if f["changed"]] == ["backtest_test3_inline.py"]


def test_backup_is_never_a_target(project: Path) -> None:
    backup = (project / BACKUP).read_bytes()
    assert b"max_horizon = 7" in backup  # it would be patched if it were taken for code
    for args in ([], [str(project)]):  # the default targets, then the folder
        result = invoke("apply", "--root", str(project), *args)
        assert result.exit_code == 0, result.output
        assert (project / BACKUP).read_bytes() == backup
    named = invoke("apply", "--root", str(project), str(project / BACKUP))
    assert named.exit_code == 2 and "a backup the speed-up guide's script left" in named.stderr
    assert (project / BACKUP).read_bytes() == backup
    files = [f.path for m in Journal(project).history() for f in m.files]
    assert BACKUP not in files


def test_json_statuses(project: Path) -> None:
    result = invoke("apply", "--root", str(project), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["written"] and data["changed"] == 3 and data["errors"] == []
    assert data["revert"] == f"migrate revert {data['migration']} --root {project}"
    by_path = {f["path"]: f["rules"] for f in data["files"]}
    assert by_path["backtest_test3_inline.py"] == {
        "max-horizon": "applied", "fast-simulate": "applied", "fast-optimize": "not applicable",
        "eod-comment": "applied", "exact-toto": "not applicable", "exact-kronos": "not applicable",
        "imports": "applied"}
    notes = {f["path"]: f["notes"] for f in data["files"]}
    assert any(note.startswith("backtest_test3_inline.py:") and "`validation = price[-7:]`" in note
               for note in notes["backtest_test3_inline.py"])
    assert by_path["src/optimization_utils.py"]["fast-optimize"] == "applied"
    again = json.loads(invoke("apply", "--root", str(project), "--json").output)
    assert again["changed"] == 0 and not again["written"]
    assert {f["path"]: f["rules"] for f in again["files"]}["backtest_test3_inline.py"][
        "max-horizon"] == "already applied"


def test_rule_selection(project: Path) -> None:
    result = invoke("apply", "--root", str(project), "--rules", "max-horizon")
    assert result.exit_code == 0, result.output
    patched = (project / "backtest_test3_inline.py").read_bytes()
    assert b'_marketsim_env_int("MARKETSIM_MAX_HORIZON", 7, low=7, high=7)' in patched
    assert b"def _marketsim_env_int(" in patched  # imports always runs
    assert b"_marketsim_env_flag(\"MARKETSIM_FAST_SIMULATE\")" not in patched
    assert eod_comment.NOTE.encode() not in patched
    assert b"_marketsim_fast_budget" not in (project / "src/optimization_utils.py").read_bytes()
    # The other rules are still pending, and apply later on top.
    assert invoke("apply", "--root", str(project), "--check").exit_code == 1
    assert invoke("apply", "--root", str(project)).exit_code == 0
    assert invoke("apply", "--root", str(project), "--check").exit_code == 0


def test_unknown_rule(project: Path) -> None:
    result = invoke("apply", "--root", str(project), "--rules", "max-horizon,nope")
    assert result.exit_code == 2
    assert "unknown rule nope" in result.output


def test_rules_command() -> None:
    text = invoke("rules")
    assert text.exit_code == 0
    names = [line.split()[0] for line in text.output.splitlines()]
    assert names == ["max-horizon", "fast-simulate", "fast-optimize", "eod-comment", "exact-toto",
                     "exact-kronos", "imports"]
    data = json.loads(invoke("rules", "--json").output)
    env = {r["name"]: r["env_var"] for r in data}
    assert env["max-horizon"] == "MARKETSIM_MAX_HORIZON"
    assert env["exact-toto"] == "MARKETSIM_EXACT_TOTO"
    assert env["exact-kronos"] == "MARKETSIM_EXACT_KRONOS"


HORIZON = code('''
    def forecast():
        max_horizon = 7
        return max_horizon
''')


@pytest.mark.parametrize("args", [[], ["."], ["pkg", "."]], ids=["discovery", "root-folder", "folders"])
def test_folders_skip_vcs_venvs_journal_builds_and_other_repositories(
        tmp_path: Path, args: list[str]) -> None:
    for folder in (".git", "venv", ".venv", ".migrate", "__pycache__", "custom_env", "pkg/sub",
                   "lib/python3.11/site-packages", "build/lib", "pkg.egg-info", "external/kronos"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "mod.py").write_bytes(HORIZON)
    (tmp_path / "custom_env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "external" / "kronos" / ".git").write_text("gitdir: elsewhere\n")  # a submodule
    (tmp_path / "pkg" / "notes.txt").write_bytes(HORIZON)
    result = invoke("apply", "--root", str(tmp_path), "--check", "--json", *args)
    assert result.exit_code == 1
    assert [f["path"] for f in json.loads(result.output)["files"]] == ["pkg/sub/mod.py"]


def test_paths_are_relative_to_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "mod.py").write_bytes(HORIZON)
    (tmp_path / "src").mkdir()  # the same name under the current directory: not taken
    (tmp_path / "src" / "mod.py").write_bytes(HORIZON)
    monkeypatch.chdir(tmp_path)
    result = invoke("apply", "--root", "project", "src/mod.py")
    assert result.exit_code == 0, result.output
    assert b"MARKETSIM_MAX_HORIZON" in (root / "src" / "mod.py").read_bytes()
    assert (tmp_path / "src" / "mod.py").read_bytes() == HORIZON
    missing = invoke("apply", "--root", "project", "nope.py")
    assert missing.exit_code == 2 and "nope.py: no such file or directory under" in missing.stderr


def test_discovery_passes_over_files_without_trigger_text_unparsed(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_bytes(HORIZON)
    (tmp_path / "py2.py").write_bytes(b"print 'not Python 3'\n")  # no rule's trigger: not parsed
    (tmp_path / "data.py").write_bytes(b"\0\1binary")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_bytes(HORIZON)
    (tmp_path / "link.py").symlink_to(outside)  # a symlinked file is not followed
    result = invoke("apply", "--root", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    files = {f["path"]: f for f in json.loads(result.output)["files"]}
    assert sorted(files) == ["data.py", "mod.py", "py2.py"]
    assert files["mod.py"]["changed"] and not files["py2.py"]["changed"]
    assert files["py2.py"]["reason"] == "no rule's trigger text (not parsed)"
    assert outside.read_bytes() == HORIZON
    # Named, the same file must be valid input.
    named = invoke("apply", "--root", str(tmp_path), "py2.py")
    assert named.exit_code == 2 and "py2.py:1:" in named.stderr


def test_parallel_jobs_match_serial(tmp_path: Path) -> None:
    for index in range(8):
        (tmp_path / f"m{index}.py").write_bytes(HORIZON.replace(b"7", str(index + 2).encode()))
    serial = json.loads(invoke("apply", "--root", str(tmp_path), "--dry-run", "--json",
                               str(tmp_path)).output)
    parallel = invoke("apply", "--root", str(tmp_path), "-j", "2", str(tmp_path))
    assert parallel.exit_code == 0, parallel.output
    assert "patching" in parallel.stderr  # progress bar for more than a few files
    for entry in serial["files"]:
        text = (tmp_path / entry["path"]).read_text()
        literal = int(entry["path"][1:-3]) + 2  # the default is the value it replaces
        assert f"_marketsim_env_int(\"MARKETSIM_MAX_HORIZON\", {literal})" in text
        assert entry["diffs"]["max-horizon"].count("\n+") >= 2


def test_all_or_nothing_on_bad_input(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_bytes(HORIZON)
    cases = {
        "syntax.py": (b"def f(:\n    pass\n", "syntax.py:1: "),
        "latin.py": (b"# caf\xe9\nmax_horizon = 1\n", "latin.py:1: not valid UTF-8 and no encoding declaration"),
        "binary.py": (b"\x00\x01max_horizon", "binary.py: binary file"),
        "badcoding.py": (b"# -*- coding: nope -*-\nx = 1\n", "badcoding.py: unknown encoding"),
        "noreturn.py": (b"return 1\n", "noreturn.py:1: 'return' outside function"),
    }
    for name, (data, message) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(data)
        result = invoke("apply", "--root", str(tmp_path), str(good), str(bad))
        assert result.exit_code == 2, name
        assert message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.output
        assert good.read_bytes() == HORIZON and bad.read_bytes() == data
        bad.unlink()
    assert not (tmp_path / ".migrate").exists() or not Journal(tmp_path).history()


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "locked.py"
    target.write_bytes(HORIZON)
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):  # running as root, chmod cannot refuse a read
        if os.fspath(path).endswith("locked.py"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    result = invoke("apply", "--root", str(tmp_path), str(target))
    assert result.exit_code == 2
    assert "locked.py: cannot read: Permission denied" in result.stderr


def test_rule_producing_invalid_code_leaves_file_alone(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "mod.py"
    source = code('''
        def f(close_at_eod=None):
            close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]
    ''')
    target.write_bytes(source)
    real = eod_comment.RULE.transform

    def broken(module: cst.Module, ctx):  # type: ignore[no-untyped-def]
        module, status = real(module, ctx)
        return module.with_changes(body=[*module.body, cst.SimpleStatementLine([cst.Return()])]), status

    monkeypatch.setattr(eod_comment.RULE, "transform", broken)
    result = invoke("apply", "--root", str(tmp_path), str(target))
    assert result.exit_code == 2
    assert "mod.py:4: 'return' outside function (in the code rule eod-comment produced" in result.stderr
    assert target.read_bytes() == source


def test_write_outside_root_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere.py"
    root.mkdir()
    elsewhere.write_bytes(HORIZON)
    assert invoke("apply", "--root", str(root), "--check", str(elsewhere)).exit_code == 1
    result = invoke("apply", "--root", str(root), str(elsewhere))
    assert result.exit_code == 2 and "outside the root" in result.stderr
    assert elsewhere.read_bytes() == HORIZON


def test_quiet_prints_nothing(project: Path) -> None:
    result = invoke("apply", "--root", str(project), "-q")
    assert result.exit_code == 0 and result.output == ""


def test_pre_commit_hook(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook as pre-commit runs it: from the repository root, without file names (the whole
    tree, so a module importing TotoForecaster anywhere is checked too)."""
    import shlex

    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((EXAMPLES.parent / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "migrate-apply-check")
    assert hook["pass_filenames"] is False and "files" not in hook
    command = shlex.split(hook["entry"])
    assert command[0] == "migrate"
    monkeypatch.chdir(project)
    assert invoke(*command[1:]).exit_code == 1
    assert invoke("apply").exit_code == 0
    assert invoke(*command[1:]).exit_code == 0
    (project / "src" / "models").mkdir()
    (project / "src" / "models" / "wrapper.py").write_text(
        "from toto.inference.forecaster import TotoForecaster\n")
    assert invoke(*command[1:]).exit_code == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_deep_expression_is_one_line_exit_2(tmp_path: Path, jobs: str) -> None:
    """Failed before: a traceback (RecursionError from CPython's parser) and exit 1."""
    deep = tmp_path / "deep.py"
    deep.write_text("close_at_eod_candidates = " + " + ".join(["[1]"] * 3000) + "\n")
    good = tmp_path / "good.py"
    good.write_bytes(HORIZON)
    result = invoke("apply", "--root", str(tmp_path), "-j", jobs, str(good), str(deep))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "deep.py" in line]
    assert errors == [
        "migrate: error: deep.py: nested too deeply for Python's parser; file left alone"]
    assert good.read_bytes() == HORIZON


def test_notes_and_max_horizon_refusal_in_text(project: Path) -> None:
    result = invoke("apply", "--root", str(project), "--dry-run", "-q")
    assert result.exit_code == 0
    refused = invoke("apply", "--root", str(project), "--max-horizon", "3")
    assert refused.exit_code == 2
    assert "--max-horizon 3 would break this backtest: `validation = price[-7:]`" in refused.stderr
    assert (project / "backtest_test3_inline.py").read_bytes() == \
        (EXAMPLES / "backtest_test3_inline.py").read_bytes()
    text = invoke("apply", "--root", str(project), "--check").output
    assert "note: backtest_test3_inline.py:" in text
    assert "MARKETSIM_MAX_HORIZON other than 7 would break the backtest" in text


def test_a_new_hook_value_updates_the_inserted_one_journaled_and_revertible(project: Path) -> None:
    assert invoke("apply", "--root", str(project)).exit_code == 0
    patched = snapshot(project)
    parallel = "backtest_test3_inline_parallel.py"
    again = invoke("apply", "--root", str(project), "--fast-simulations", "20", "--check")
    assert again.exit_code == 1  # a new value is a pending change, never "nothing to do"
    updated = invoke("apply", "--root", str(project), "--fast-simulations", "20")
    assert updated.exit_code == 0, updated.output
    assert "num_simulations = min(num_simulations, 20)" in (project / parallel).read_text()
    assert "cap 35 becomes 20 (--fast-simulations)" in updated.stdout
    assert invoke("apply", "--root", str(project)).exit_code == 0  # not given: 20 stays
    assert "min(num_simulations, 20)" in (project / parallel).read_text()
    assert [m.kind for m in Journal(project).history()] == ["apply", "apply"]
    assert invoke("revert", "--root", str(project)).exit_code == 0
    assert snapshot(project) == patched
    # The fixed forecast window still refuses a horizon it cannot take, naming the flag.
    refused = invoke("apply", "--root", str(project), "--max-horizon", "5")
    assert refused.exit_code == 2 and "--allow-unsafe-horizon" in refused.stderr
    assert snapshot(project) == patched


def test_the_report_names_every_file_looked_at(project: Path) -> None:
    (project / "src" / "models").mkdir()
    (project / "src" / "models" / "notes.py").write_text("# mentions max_horizon only in a comment\n")
    text = invoke("apply", "--root", str(project), "--dry-run", "-q").output
    assert text == ""
    short = invoke("apply", "--root", str(project), "--check")
    assert "2 other files looked at: no rule applies (-v lists them)\n" in short.stdout
    verbose = invoke("apply", "--root", str(project), "--check", "-v").stdout
    assert "skipped src/__init__.py: no rule's trigger text (not parsed)\n" in verbose
    assert "skipped src/models/notes.py: no rule applies\n" in verbose
    for target in TARGETS:
        assert f"would patch {target}: " in verbose
    data = json.loads(invoke("apply", "--root", str(project), "--check", "--json").output)
    reasons = {f["path"]: f["reason"] for f in data["files"]}
    assert reasons["src/models/notes.py"] == "no rule applies"
    assert reasons["backtest_test3_inline.py"].startswith("would patch: max-horizon applied")
