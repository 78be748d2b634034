"""Nothing of the user's touched (issue #17, item 5): temp names, no .migrate/ for a run that
writes nothing, owner and group kept, a plan re-made when a file it read changed before the lock."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from migrator.journal import Journal

from .helpers import clean_exit, run

TOTO = ("toto", "--samples", "32", "--batch", "16")




# --- temp names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [".AAPL.json.migrate-0001.tmp", ".AAPL.json.migrate-0001-revert.tmp"])
def test_a_users_file_named_like_an_old_temp_file_is_never_removed(project: Path, name: str) -> None:
    folder = project / "hyperparams" / "toto"
    (folder / name).write_bytes(b"mine")  # before: deleted by `migrate toto` in a root with no journal
    assert not (project / ".migrate").exists()
    assert run(project, *TOTO).exit_code == 0
    assert (folder / name).read_bytes() == b"mine"
    assert run(project, "revert").exit_code == 0
    assert (folder / name).read_bytes() == b"mine"
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == [name]


def test_temp_names_carry_the_migrations_random_token(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from migrator import atomic

    tags: list[str] = []
    real = atomic.replace_many

    def spy(replacements, *, tag, **kwargs):  # type: ignore[no-untyped-def]
        tags.append(tag)
        return real(replacements, tag=tag, **kwargs)

    monkeypatch.setattr(atomic, "replace_many", spy)
    assert run(project, *TOTO).exit_code == 0
    assert run(project, "revert").exit_code == 0
    [record] = Journal(project).history()
    token = Journal(project).read_record(record.id).temp_token
    assert len(token) == 16 and int(token, 16) >= 0
    assert tags == [f"migrate-0001-{token}", f"migrate-0001-{token}-revert"]


# --- a run that writes nothing creates nothing -----------------------------------------------

def test_apply_over_invalid_modules_creates_no_journal(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "broken.py").write_text("def broken(:\n")
    shutil.copy(project / "backtest_test3_inline.py", project / "pkg" / "backtest.py")
    result = run(project, "apply", str(project / "pkg"))
    clean_exit(result, 2, "nothing written")
    assert not (project / ".migrate").exists()  # before: created anyway


def test_apply_with_nothing_to_do_creates_no_journal(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "plain.py").write_text("x = 1\n")
    result = run(project, "apply", str(project / "pkg"))
    assert result.exit_code == 0, result.output
    assert not (project / ".migrate").exists()


# --- owner and group -------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another user's owner needs root")
OTHER = (4242, 4343)  # a uid and gid no process of this test runs as


def _owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


@needs_root
def test_owner_and_group_are_kept_by_a_config_migration_and_its_revert(project: Path) -> None:
    path = project / "hyperparams" / "toto" / "AAPL.json"
    os.chown(path, *OTHER)
    path.chmod(0o640)
    before = path.read_bytes()
    assert run(project, *TOTO).exit_code == 0
    assert path.read_bytes() != before
    assert _owner(path) == OTHER and path.stat().st_mode & 0o777 == 0o640  # before: root's
    assert run(project, "revert").exit_code == 0
    assert path.read_bytes() == before
    assert _owner(path) == OTHER and path.stat().st_mode & 0o777 == 0o640


@needs_root
def test_owner_and_group_are_kept_by_apply_and_its_revert(project: Path) -> None:
    path = project / "backtest_test3_inline.py"
    os.chown(path, *OTHER)
    before = path.read_bytes()
    assert run(project, "apply").exit_code == 0
    assert path.read_bytes() != before and _owner(path) == OTHER
    assert run(project, "revert").exit_code == 0
    assert path.read_bytes() == before and _owner(path) == OTHER


# --- a plan made before the lock ----------------------------------------------------------------

def test_apply_plans_again_when_a_file_it_read_changed_before_the_lock(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between apply's plan (no lock) and its lock, another hand rewrites a file the plan leaves alone."""
    import migrator.journal as journal

    (project / "pkg").mkdir()
    shutil.copy(project / "backtest_test3_inline.py", project / "pkg" / "a.py")
    untouched = project / "pkg" / "b.py"
    untouched.write_text("x = 1\n")  # nothing to patch: the first plan leaves it alone
    real = journal.write_migration

    def meanwhile(root, kind, argv, plan):  # type: ignore[no-untyped-def]
        shutil.copy(project / "backtest_test3_inline.py", untouched)  # now it needs the patch too
        return real(root, kind, argv, plan)

    monkeypatch.setattr(journal, "write_migration", meanwhile)
    assert run(project, "apply", str(project / "pkg")).exit_code == 0
    assert untouched.read_bytes() == (project / "pkg" / "a.py").read_bytes()
    assert b"MARKETSIM_" in untouched.read_bytes()


@pytest.mark.parametrize("token", ["../../../x", "0123456789ABCDEF", "short", 12, "0123456789abcdef/"])
def test_a_crafted_temp_token_is_a_damaged_journal(project: Path, token: object) -> None:
    """The token goes into file names a revert removes: only 16 lowercase hex digits are taken."""
    import json

    assert run(project, *TOTO).exit_code == 0
    record = project / ".migrate" / "migrations" / "0001.json"
    document = json.loads(record.read_bytes())
    assert len(document["temp_token"]) == 16
    document["temp_token"] = token
    record.write_text(json.dumps(document))
    before = {p: p.read_bytes() for p in (project / "hyperparams").rglob("*.json")}
    clean_exit(run(project, "revert"), 3, "journal damaged", "0001.json", "temp_token")
    assert {p: p.read_bytes() for p in (project / "hyperparams").rglob("*.json")} == before
