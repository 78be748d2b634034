"""Reading and writing the journal's own files: states, records, packs (all checked on read)."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from migrator.atomic import fsync_folder, write_atomic
from migrator.errors import SafetyError
from migrator.journal.lock import RootLock
from migrator.journal.paths import (JournalPaths, check_journal_folders, journal_file_size,
                                    plain_folder, read_journal_file)
from migrator.journal.records import (JOURNAL_FOLDER, UNFINISHED_STATES, Migration, Record, State,
                                      StoredFile, is_id, parse_record, parse_state)

# Names migrate writes in migrations/: ID.json/.state/.pack, legacy ID.originals, and temp files.
_OWN_NAME = re.compile(r"\.?([0-9]{4,9})\.(json|state|pack|originals|replaced|revert-replaced)(\..*\.tmp)?")


class Store:
    """ROOT/.migrate/: the lock, migration records and states, original bytes.

    The modules above it (apply, revert, prune) take a Store; callers outside the journal
    use the facade, migrator.journal (its Journal adds the operations).
    """

    def __init__(self, root: Path | str) -> None:
        self.paths = JournalPaths(Path(root).resolve())
        self.root = self.paths.root
        self._lock = RootLock(self.paths)
        self._pack: tuple[str, bytes | None] | None = None  # (id, bytes): one pack read per revert

    # --- lock -------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the root's lock; SafetyError (exit 3) at once if another migrate holds it.

        Re-entrant within one Store. Creates ROOT/.migrate/: call it only to write.
        """
        self.create_folders()
        with self._lock.hold():
            yield

    def held_elsewhere(self) -> bool:
        return self._lock.held_elsewhere()

    # --- reading ----------------------------------------------------------

    def ids_and_states(self) -> list[tuple[str, State]]:
        """(id, state) of every migration, oldest first. Creates nothing."""
        if not check_journal_folders(self.paths):
            return []
        result = []
        for name in self._names():
            if not name.endswith(".state"):
                continue
            migration_id = name[:-len(".state")]
            if not is_id(migration_id):
                raise SafetyError(f"journal damaged: {JOURNAL_FOLDER}/migrations/{name}: not a name "
                                  "migrate writes (remove it); nothing written")
            result.append((migration_id, self.read_state(migration_id)))
        return sorted(result, key=lambda item: int(item[0]))

    def read_state(self, migration_id: str) -> State:
        path = self.paths.state(migration_id)
        data = read_journal_file(path, self.paths.label(path))
        if data is None:
            raise SafetyError(f"journal damaged: {self.paths.label(path)}: missing; nothing written")
        return parse_state(data, self.paths.label(path))

    def read_record(self, migration_id: str, *, pruned: bool = False) -> Record:
        """The checked record; `pruned`: its pack is gone on purpose (nothing to bound)."""
        path = self.paths.record(migration_id)
        data = read_journal_file(path, self.paths.label(path))
        if data is None:
            raise SafetyError(f"journal damaged: {self.paths.label(path)}: missing; nothing written")
        return parse_record(data, self.paths.label(path), migration_id,
                            None if pruned else journal_file_size(self.paths.pack(migration_id)))

    def load(self, migration_id: str, state: State | None = None) -> tuple[Migration, Record]:
        state = state or self.read_state(migration_id)
        record = self.read_record(migration_id, pruned=state.pruned)
        return record.migration(state), record

    def history(self) -> list[Migration]:
        """All migrations, oldest first."""
        return [self.load(i, s)[0] for i, s in self.ids_and_states()]

    def unfinished(self, history: Sequence[Migration] | None = None) -> Migration | None:
        """The migration an earlier, killed run left pending (or half reverted), if any.

        Not one another migrate is applying or reverting right now (it holds the lock).
        `history`: this journal's history() when the caller has it already (no second read).
        """
        if history is not None:
            found = next((m for m in history if m.unfinished), None)
            return None if found is None or self.held_elsewhere() else found
        for migration_id, state in self.ids_and_states():
            if state.state in UNFINISHED_STATES:
                return None if self.held_elsewhere() else self.load(migration_id, state)[0]
        return None

    def original(self, record: Record, index: int, stored: StoredFile) -> bytes:
        """The original bytes of a file, checked against their recorded sha256."""
        if record.format == 1:
            folder = self.paths.legacy_originals(record.id)
            path = folder / str(index)
            data = read_journal_file(path, self.paths.label(path)) if plain_folder(
                folder, self.paths.label(folder)) else None
        else:
            data = self._pack_slice(record.id, stored.offset, stored.length)
        if data is None or hashlib.sha256(data).hexdigest() != stored.record.sha256_before:
            raise SafetyError(f"journal damaged: the original bytes of {stored.record.path} "
                              f"(migration {record.id}) are missing or do not match their recorded "
                              "sha256; nothing written")
        return data

    def _pack_slice(self, migration_id: str, offset: int, length: int) -> bytes | None:
        if self._pack is None or self._pack[0] != migration_id:
            path = self.paths.pack(migration_id)
            self._pack = (migration_id, read_journal_file(path, self.paths.label(path)))
        data = self._pack[1]
        if data is None or offset + length > len(data):
            return None
        return data[offset:offset + length]

    # --- writing ----------------------------------------------------------

    def create_folders(self) -> None:
        """.migrate/ and migrations/, plain folders of the root (refused if symlinks)."""
        if not plain_folder(self.paths.folder, JOURNAL_FOLDER):
            _mkdir(self.paths.folder)
            plain_folder(self.paths.folder, JOURNAL_FOLDER)  # a link planted meanwhile: refused
            fsync_folder(self.root)
        if read_journal_file(self.paths.gitignore, f"{JOURNAL_FOLDER}/.gitignore") is None:
            write_atomic(self.paths.gitignore, b"*\n", tag=f"migrate-{os.getpid()}")
        if not check_journal_folders(self.paths):
            _mkdir(self.paths.migrations)
            check_journal_folders(self.paths)
            fsync_folder(self.paths.folder)

    def replaced_folder(self, migration_id: str, operation: str) -> str:
        """A plain folder for atomic.replace_many's keep_replaced (created if missing)."""
        folder = self.paths.replaced(migration_id, operation)
        check_journal_folders(self.paths)
        if not plain_folder(folder, self.paths.label(folder)):
            os.mkdir(folder, 0o700)
        return str(folder)

    def write_state(self, migration_id: str, state: State) -> None:
        check_journal_folders(self.paths)
        write_atomic(self.paths.state(migration_id), state.to_bytes())

    def write_record(self, record: Record) -> None:
        check_journal_folders(self.paths)
        write_atomic(self.paths.record(record.id), record.to_bytes())

    def next_id(self) -> str:
        """One more than the newest id; removes leftovers of runs killed before their state existed.

        Only names migrate itself writes are removed; anything else is left alone.
        """
        started = {i for i, _ in self.ids_and_states()}
        for name in self._names():
            match = _OWN_NAME.fullmatch(name)
            is_temp = match is not None and bool(match.group(3))
            if match is None or (match.group(1) in started and not is_temp):
                continue
            path = self.paths.migrations / name
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        return f"{max((int(i) for i in started), default=0) + 1:04d}"

    def _names(self) -> list[str]:
        try:
            return os.listdir(self.paths.migrations)
        except FileNotFoundError:
            return []


def _mkdir(path: Path) -> None:
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:  # another migrate made it first; the caller checks what it is
        pass


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
