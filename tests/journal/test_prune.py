"""`migrate history --prune --keep N`: the originals of applied migrations older than the N
newest are dropped; those are marked pruned and a revert that needs one is refused (exit 3,
one line); the newest applied one is never pruned; what the kept ones need is never touched.

Every test here failed before `--keep` existed (no such option: exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from migrator.hints import root_option
from migrator.errors import BadInputError
from migrator.journal import FileChange, Journal

from .helpers import apply_changes, run

FILES = ("hyperparams/toto/AAPL.json", "hyperparams/toto/MSFT.json")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "hyperparams" / "toto").mkdir(parents=True)
    for index, name in enumerate(FILES):
        (root / name).write_bytes(b'{"num_samples": 1024, "i": %d}\r\n' % index)
    return root


def _bytes(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in FILES}


def _listing(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def _migrate(root: Path, step: int, names: tuple[str, ...] = FILES) -> str:
    """One migration changing `names`; returns its id."""
    migration = apply_changes(root, "toto", ["migrate", "toto", str(step)], [
        FileChange(root / n, (root / n).read_bytes(), (root / n).read_bytes() + b"step %d\n" % step)
        for n in names])
    assert migration is not None
    return migration.id


def _three(root: Path) -> list[dict[str, bytes]]:
    """0001, 0002, 0003 on the same files; the bytes before each, then after the last."""
    seen = [_bytes(root)]
    for step in (1, 2, 3):
        _migrate(root, step)
        seen.append(_bytes(root))
    return seen


def _refused(result: Result, *needles: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrate: error:") and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_keep_1_drops_the_older_applied_originals_reports_the_bytes_and_marks_them(root: Path) -> None:
    _three(root)
    migrations = root / ".migrate" / "migrations"
    dropped = [migrations / "0001.pack", migrations / "0002.pack"]
    linked = [p for p in migrations.glob("*replaced/*") if p.stat().st_nlink == 1]
    size = sum(p.stat().st_size for p in dropped + linked)
    kept = (migrations / "0003.pack").read_bytes()
    result = run(root, "history", "--prune", "--keep", "1")
    assert result.exit_code == 0, result.output
    assert f"{size:,} bytes freed" in result.stdout
    assert "the originals of 2 applied migrations (0001, 0002)" in result.stdout
    assert "0001, 0002 can no longer be reverted" in result.stdout
    assert not any(p.exists() for p in dropped) and (migrations / "0003.pack").read_bytes() == kept
    table = run(root, "history").stdout.splitlines()
    assert [line.split("  ")[0] for line in table[1:]] == ["0001", "0002", "0003"]
    assert "applied (pruned)" in table[1] and "applied (pruned)" in table[2]
    assert "pruned" not in table[3] and "applied" in table[3]
    documents = json.loads(run(root, "history", "--json").stdout)
    assert [(d["state"], d["pruned"]) for d in documents] == [
        ("applied", True), ("applied", True), ("applied", False)]


def test_the_newest_applied_one_still_reverts_exactly_then_the_pruned_one_is_refused(root: Path) -> None:
    seen = _three(root)
    assert run(root, "history", "--prune", "--keep", "1").exit_code == 0
    done = run(root, "revert")
    assert done.exit_code == 0, done.output
    assert _bytes(root) == seen[2]  # 0003's originals: exactly what 0002 left
    before = _listing(root)
    _refused(run(root, "revert"), "migration 0002 was pruned", "cannot be reverted", "nothing written")
    assert _listing(root) == before


def test_revert_all_or_to_that_needs_a_pruned_one_is_refused_before_writing_anything(root: Path) -> None:
    seen = _three(root)
    _migrate(root, 4)
    assert run(root, "history", "--prune", "--keep", "2").exit_code == 0  # 0001, 0002 pruned
    before = _listing(root)
    for args in (("revert", "--all"), ("revert", "--to", "0001"), ("revert", "--all", "--dry-run")):
        _refused(run(root, *args), "migration 0002 was pruned", f"`migrate revert --to 0002{root_option(root)}`",
                 "(0004, 0003)")
    _refused(run(root, "revert", "1"), "migration 0001 was pruned")  # not "newer migrations changed it"
    assert _listing(root) == before
    done = run(root, "revert", "--to", "0002")  # what the message suggests: the kept ones
    assert done.exit_code == 0, done.output
    assert _bytes(root) == seen[2]


def test_a_prune_never_removes_what_the_revertable_migrations_need(root: Path) -> None:
    """Reverted, applied, created files in new folders, interleaved; keep 2 of 3 applied."""
    first = _migrate(root, 1, FILES[:1])
    after_first = _bytes(root)
    _migrate(root, 2, FILES[1:])
    third = _migrate(root, 3)
    Journal(root).revert(third)  # reverted: its pack goes too
    created = root / "hyperparams" / "new" / "NEW.json"
    apply_changes(root, "toto", ["migrate"], [FileChange(created, None, b"new\n")])  # 0004
    result = Journal(root).prune(keep=2)
    assert result.pruned == ("0003",) and result.pruned_applied == (first,)
    journal = Journal(root)
    for migration_id in ("0002", "0004"):  # the revertable ones: every original still checks out
        migration, record = journal.load(migration_id)
        assert not migration.pruned
        for index, stored in enumerate(record.files):
            if not stored.created:
                assert journal.original(record, index, stored) is not None
    results = journal.revert_many(to=first)
    assert [r.migration.id for r in results] == ["0004", "0002"]
    assert _bytes(root) == after_first and not (root / "hyperparams" / "new").exists()


def test_without_keep_every_applied_migration_keeps_its_originals(root: Path) -> None:
    seen = _three(root)
    result = run(root, "history", "--prune")
    assert result.exit_code == 0 and "applied" not in result.stdout
    assert all((root / ".migrate" / "migrations" / f"000{i}.pack").exists() for i in (1, 2, 3))
    assert run(root, "revert", "--all").exit_code == 0 and _bytes(root) == seen[0]


def test_keep_more_than_there_are_prunes_no_applied_one(root: Path) -> None:
    _three(root)
    result = Journal(root).prune(keep=5)
    assert result.pruned_applied == () and not any(m.pruned for m in Journal(root).history())


@pytest.mark.parametrize("args,message", [
    (("history", "--prune", "--keep", "0"), "0 is not in the range x>=1"),
    (("history", "--prune", "--keep", "-3"), "is not in the range x>=1"),
    (("history", "--prune", "--keep", "x"), "is not a valid integer"),
    (("history", "--keep", "1"), "--keep N goes with --prune"),
])
def test_keep_below_1_or_without_prune_is_a_usage_error_writing_nothing(
        root: Path, args: tuple[str, ...], message: str) -> None:
    _three(root)
    before = _listing(root)
    result = run(root, *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert _listing(root) == before


def test_the_api_refuses_keep_0_too(root: Path) -> None:
    _three(root)
    with pytest.raises(BadInputError, match="never pruned"):
        Journal(root).prune(keep=0)
    assert not any(m.pruned for m in Journal(root).history())


def test_a_kill_after_marking_leaves_it_refused_and_the_next_prune_frees_the_rest(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import migrator.journal.prune as prune_module

    seen = _three(root)
    real = prune_module._remove

    class Killed(BaseException):
        """kill -9, in-process."""

    def killed_at_the_pack(path: object) -> int:
        if str(path).endswith(".pack"):
            raise Killed
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(prune_module, "_remove", killed_at_the_pack)
    with pytest.raises(Killed):
        Journal(root).prune(keep=2)
    monkeypatch.undo()
    pack = root / ".migrate" / "migrations" / "0001.pack"
    assert [m.pruned for m in Journal(root).history()] == [True, False, False] and pack.exists()
    _refused(run(root, "revert", "--all"), "migration 0001 was pruned", f"`migrate revert --to 0001{root_option(root)}`")
    linked = [p for p in pack.parent.glob("*replaced/*") if p.stat().st_nlink == 1]  # 0002's, 0003's
    size = pack.stat().st_size + sum(p.stat().st_size for p in linked)
    result = Journal(root).prune(keep=2)
    assert result.pruned_applied == () and result.bytes_freed == size and not pack.exists()
    assert run(root, "revert", "--to", "0001").exit_code == 0 and _bytes(root) == seen[1]


@pytest.mark.parametrize("state", ["pending", "reverting"])
def test_a_state_file_marking_an_unfinished_migration_pruned_is_refused(root: Path, state: str) -> None:
    """Only applied (--keep) and reverted migrations are ever pruned: anything else is crafted."""
    _migrate(root, 1)
    (root / ".migrate" / "migrations" / "0001.state").write_text(
        json.dumps({"state": state, "reverted": None, "pruned": True}))
    before = _listing(root)
    for args in (("history",), ("revert",), ("history", "--prune", "--keep", "1")):
        _refused(run(root, *args), ".migrate/migrations/0001.state", "pruned is wrong")
    assert _listing(root) == before
