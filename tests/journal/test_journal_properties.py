"""Random interleavings of migrate / revert / in-place edits / kills (hypothesis stateful testing).

Invariants, after every step: nothing outside the root is written; every byte a
user wrote is still somewhere (the file, the pack a later migration keeps, or
.migrate/overwritten/); and `revert --all --force` gives back the original bytes
of every file the user never edited. A kill -9 is simulated by raising, at an
injected point, an exception no handler of migrate's catches.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from migrator import atomic
from migrator.errors import MigrateError
from migrator.journal import FileChange, Journal, NothingToRevert

from .helpers import apply_changes

NAMES = [f"hyperparams/toto/S{i}.json" for i in range(4)]
ORIGINAL = {name: b'{"num_samples": 1024, "i": %d}\r\n' % i for i, name in enumerate(NAMES)}


class Killed(BaseException):
    """kill -9, in-process."""


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="journal-props-"))
        self.root = self.base / "root"
        self.outside = self.base / "outside"
        self.outside.mkdir()
        (self.outside / "precious").write_bytes(b"precious")
        for name, data in ORIGINAL.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_bytes(data)
        self.edited: set[str] = set()
        self.user_bytes: dict[str, bytes] = {}  # the latest bytes the user wrote, per file
        self.counter = 0

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def _changes(self, names: list[str]) -> list[FileChange]:
        self.counter += 1
        changes = []
        for name in names:
            path = self.root / name
            data = path.read_bytes()
            changes.append(FileChange(path, data, data + b"m%d\n" % self.counter))
        return changes

    def _with_replace_many(self, count: int, call: Any) -> None:
        real = atomic.replace_many

        def killed(replacements: Any, *, tag: str, **kwargs: Any) -> None:
            real(replacements[:count], tag=tag, **kwargs)
            raise Killed

        atomic.replace_many = killed
        try:
            call()
        except Killed:
            pass
        except MigrateError:
            pass
        finally:
            atomic.replace_many = real

    @rule(names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    def migrate(self, names: list[str]) -> None:
        try:
            apply_changes(self.root, "toto", ["migrate"], self._changes(names))
        except MigrateError:
            pass  # an unfinished migration first: refused, nothing written

    @rule(names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True),
          count=st.integers(0, 3))
    def migrate_killed(self, names: list[str], count: int) -> None:
        changes = self._changes(names)
        self._with_replace_many(count, lambda: apply_changes(self.root, "toto", ["migrate"], changes))

    @rule()
    def create(self) -> None:
        """A migration that creates a file (FileChange.before None)."""
        self.counter += 1
        path = self.root / "hyperparams" / "toto" / f"NEW{self.counter}.json"
        try:
            apply_changes(self.root, "toto", ["migrate"], [FileChange(path, None, b"created\n")])
        except MigrateError:
            pass

    @rule(folder=st.integers(0, 1), killed=st.booleans())
    def create_in_missing_folders(self, folder: int, killed: bool) -> None:
        """A created file whose folders may not exist: the journal creates (and records) them."""
        self.counter += 1
        path = self.root / "hyperparams" / f"new{folder}" / "deep" / f"NEW{self.counter}.json"
        call = lambda: apply_changes(self.root, "toto", ["migrate"], [FileChange(path, None, b"new\n")])  # noqa: E731
        if killed:
            self._with_replace_many(0, call)  # killed after its folders exist, before the file
        else:
            try:
                call()
            except MigrateError:
                pass

    @rule(index=st.integers(0, 5), force=st.booleans())
    def revert_by_id_or_to(self, index: int, force: bool) -> None:
        journal = Journal(self.root)
        ids = [m.id for m in journal.history()]
        if not ids:
            return
        try:
            if index % 2:
                journal.revert(ids[index % len(ids)], force=force)
            else:
                journal.revert_many(to=ids[index % len(ids)], force=force)
        except MigrateError:
            pass  # refused (a newer migration, a changed file, already reverted): nothing written

    @rule(name=st.sampled_from(NAMES))
    def edit_during_migrate(self, name: str) -> None:
        """The user's editor writes in place while migrate writes its temp files."""
        changes = self._changes(NAMES)
        real = atomic._write_temp
        self.counter += 1
        data = b"edit %d during migrate\n" % self.counter

        def write_temp(replacement: Any, tag: str, *, fsync: bool) -> str:
            if str(replacement.path) == str(self.root / name):
                with open(self.root / name, "r+b") as handle:
                    handle.write(data)
                    handle.truncate()
                self._edited(name, data)
            return real(replacement, tag, fsync=fsync)

        atomic._write_temp = write_temp  # type: ignore[assignment]
        try:
            apply_changes(self.root, "toto", ["migrate"], changes)
        except MigrateError:
            pass
        finally:
            atomic._write_temp = real  # type: ignore[assignment]

    @rule(name=st.sampled_from(NAMES))
    def edit(self, name: str) -> None:
        self.counter += 1
        data = b"user edit %d\n" % self.counter
        with open(self.root / name, "r+b") as handle:  # in place, as editors and scripts do
            handle.write(data)
            handle.truncate()
        self._edited(name, data)

    def _edited(self, name: str, data: bytes) -> None:
        self.edited.add(name)
        self.user_bytes[name] = data

    @rule(force=st.booleans())
    def revert(self, force: bool) -> None:
        try:
            Journal(self.root).revert(force=force)
        except MigrateError:
            pass  # nothing to revert, or files changed (refused, nothing written)

    @rule(count=st.integers(0, 3))
    def revert_killed(self, count: int) -> None:
        self._with_replace_many(count, lambda: Journal(self.root).revert(force=True))

    @rule()
    def prune(self) -> None:
        """`history --prune` (no --keep): whatever it drops, every applied migration still reverts."""
        try:
            Journal(self.root).prune()
        except MigrateError:
            pass

    @precondition(lambda self: self.counter % 3 == 0)
    @rule()
    def revert_all(self) -> None:
        try:
            Journal(self.root).revert_many(everything=True, force=True)
        except NothingToRevert:
            pass
        for name, data in ORIGINAL.items():
            if name not in self.edited:
                assert (self.root / name).read_bytes() == data, name
        created = sorted((self.root / "hyperparams").glob("*/**/NEW*.json"))
        assert created == [], f"revert --all left created files: {created}"
        for folder in (self.root / "hyperparams").glob("new*"):
            # Kept only where an older migration that created it was reverted while a newer
            # one's file was still in it: never holding anything but folders.
            assert not [p for p in folder.rglob("*") if not p.is_dir()], folder

    @invariant()
    def nothing_outside_the_root(self) -> None:
        assert sorted(p.name for p in self.outside.iterdir()) == ["precious"]
        assert (self.outside / "precious").read_bytes() == b"precious"
        assert sorted(p.name for p in self.base.iterdir()) == ["outside", "root"]

    @invariant()
    def every_user_edit_is_kept_somewhere(self) -> None:
        kept = b""
        journal = self.root / ".migrate"
        if journal.exists():
            # The packs and overwritten/; not ID.replaced/ (links migrate never reads, prune drops).
            kept = b"\0".join(p.read_bytes() for p in journal.rglob("*")
                               if p.is_file() and not p.parent.name.endswith("replaced"))
        for name, data in self.user_bytes.items():
            current = (self.root / name).read_bytes()
            assert data in current or data in kept, f"{name}: the user's bytes {data!r} are lost"


JournalMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=12, deadline=None, derandomize=True,  # CI: the same runs each time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_journal_interleavings = JournalMachine.TestCase
