"""Typed records and states, and their strict parsing: everything under .migrate/ is untrusted.

A repository can arrive with a `.migrate/` someone committed or crafted, so
nothing read from it is used before it is checked here: ids of exactly the
form the tool writes, root-relative normalised paths that stay inside the root
and out of the journal, sha256 digests, permission bits, pack offsets inside
the pack. Anything else is a SafetyError (exit 3) naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import re
import stat
from typing import Any, Literal, Sequence

from migrator.errors import SafetyError

MigrationState = Literal["pending", "applied", "reverting", "reverted"]
STATES: tuple[MigrationState, ...] = ("pending", "applied", "reverting", "reverted")
UNFINISHED_STATES: tuple[MigrationState, ...] = ("pending", "reverting")

JOURNAL_FOLDER = ".migrate"
RECORD_FORMAT = 2  # 1: originals/N hard links (still read); 2: one pack of copies per migration

ID_PATTERN = re.compile(r"[0-9]{4,9}")  # what the tool writes: 0001, 0002, ... (never 10 digits)
_KIND_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_TOKEN_PATTERN = re.compile(r"[0-9a-f]{16}")
_NAME_MAX = 255


@dataclasses.dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the root, POSIX separators, normalised
    sha256_before: str | None  # None: the migration created the file
    sha256_after: str


@dataclasses.dataclass(frozen=True)
class StoredFile:
    """A file of a migration as the record stores it: where its original bytes are kept."""

    record: FileRecord
    mode: int  # st_mode of the original (or of the created file), to recreate it
    offset: int  # of its original bytes in the migration's pack (format 2)
    length: int

    @property
    def created(self) -> bool:
        return self.record.sha256_before is None


@dataclasses.dataclass(frozen=True)
class State:
    state: MigrationState
    reverted: str | None = None  # ISO 8601 time of the revert
    pruned: bool = False  # its originals were dropped by `history --prune` (reverted, or --keep N)

    def to_bytes(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode() + b"\n"


@dataclasses.dataclass(frozen=True)
class Migration:
    id: str
    kind: str  # "toto", "kronos", "apply", ...
    created: str  # ISO 8601, UTC
    argv: tuple[str, ...]
    files: tuple[FileRecord, ...]
    state: MigrationState
    reverted: str | None = None
    pruned: bool = False

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED_STATES


@dataclasses.dataclass(frozen=True)
class Record:
    """ID.json: what a migration changed, written once before any file is touched."""

    format: int
    id: str
    kind: str
    created: str
    argv: tuple[str, ...]
    files: tuple[StoredFile, ...]
    # Folders the migration created for its new files, shallowest first: a revert removes
    # each one left empty. Optional in the file (absent before this field existed).
    folders: tuple[str, ...] = ()
    # Random, drawn when the migration is recorded; in the names of its temp files beside the
    # user's, so no file a user had before the journal existed can bear one (and be removed as a
    # leftover). Absent in older records: their temp names were migrate-ID(-revert).
    temp_token: str = ""

    def temp_tag(self, operation: str) -> str:
        """The tag (atomic.temp_path) of the temp files of this migration's apply or revert."""
        token = f"-{self.temp_token}" if self.temp_token else ""
        return f"migrate-{self.id}{token}{'-revert' if operation == 'revert' else ''}"

    def migration(self, state: State) -> Migration:
        return Migration(self.id, self.kind, self.created, self.argv,
                         tuple(f.record for f in self.files), state.state, state.reverted, state.pruned)

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "format": self.format, "id": self.id, "kind": self.kind, "created": self.created,
            "argv": list(self.argv),
            "files": [{"path": f.record.path, "sha256_before": f.record.sha256_before,
                       "sha256_after": f.record.sha256_after, "mode": f.mode,
                       "offset": f.offset, "length": f.length} for f in self.files],
        }
        if self.folders:
            document["folders"] = list(self.folders)
        if self.temp_token:
            document["temp_token"] = self.temp_token
        return json.dumps(document).encode() + b"\n"  # no indent: keeps json's C encoder


def is_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"not a migration kind: {kind!r}")
    return kind


def relative_path(path: object) -> str:
    """`path` if it is a normalised root-relative POSIX path outside the journal; else ValueError."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise ValueError(f"not a relative path: {path!r}")
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a normalised relative path: {path!r}")
    if parts[0] == JOURNAL_FOLDER:
        raise ValueError(f"inside the journal folder: {path!r}")
    if any(len(p.encode("utf-8", "surrogateescape")) > _NAME_MAX for p in parts):
        raise ValueError(f"a name longer than {_NAME_MAX} bytes: {path!r}")
    return path


def parse_state(data: bytes, where: str) -> State:
    document = _object(data, where)
    try:
        state = document["state"]
        reverted = document.get("reverted")
        pruned = document.get("pruned", False)
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if reverted is not None and not isinstance(reverted, str):
            raise ValueError("reverted is not a time")
        if not isinstance(pruned, bool) or (pruned and state not in ("applied", "reverted")):
            raise ValueError("pruned is wrong")
    except (KeyError, ValueError) as exc:
        raise SafetyError(f"journal damaged: {where}: {exc}; nothing written") from None
    return State(state, reverted, pruned)


def parse_record(data: bytes, where: str, migration_id: str, pack_size: int | None) -> Record:
    """A checked record; `pack_size` (format 2) bounds every original's offset and length.

    None (a pruned migration, or a missing pack): not bounded here; reading an
    original checks its sha256 anyway.
    """
    document = _object(data, where)
    try:
        fmt = document["format"]
        if fmt not in (1, RECORD_FORMAT) or type(fmt) is not int:
            raise ValueError(f"unknown format {fmt!r}")
        if document["id"] != migration_id:
            raise ValueError(f"id {document['id']!r} is not its file name's")
        kind = check_kind(document["kind"])
        created = document["created"]
        argv = document["argv"]
        if not isinstance(created, str) or not isinstance(argv, list) or not all(
                isinstance(a, str) for a in argv):
            raise ValueError("created/argv malformed")
        files = document["files"]
        if not isinstance(files, list):
            raise ValueError("files is not a list")
        stored = []
        seen: set[str] = set()
        for index, entry in enumerate(files):
            stored.append(_stored_file(entry, index, fmt, pack_size))
            if stored[-1].record.path in seen:
                raise ValueError(f"{stored[-1].record.path} listed twice")
            seen.add(stored[-1].record.path)
        folders = _created_folders(document.get("folders", []), stored)
        temp_token = document.get("temp_token", "")
        if temp_token != "" and not (isinstance(temp_token, str) and _TOKEN_PATTERN.fullmatch(temp_token)):
            raise ValueError("temp_token malformed")
    except (KeyError, TypeError, ValueError) as exc:
        raise SafetyError(f"journal damaged: {where}: {exc}; nothing written") from None
    return Record(fmt, migration_id, kind, created, tuple(argv), tuple(stored), folders, temp_token)


def _created_folders(folders: Any, stored: list[StoredFile]) -> tuple[str, ...]:
    """Checked like paths, and each one a folder of a file the migration created.

    A revert may remove them (when empty): a crafted entry must not name any
    other folder of the user's.
    """
    if not isinstance(folders, list):
        raise ValueError("folders is not a list")
    allowed = {folder for f in stored if f.created for folder in folders_of(f.record.path)}
    checked: list[str] = []
    for index, folder in enumerate(folders):
        try:
            relative_path(folder)
        except ValueError as exc:
            raise ValueError(f"folders[{index}]: {exc}") from None
        if folder not in allowed:
            raise ValueError(f"folders[{index}]: {folder!r} holds no file the migration created")
        if folder in checked:
            raise ValueError(f"folders[{index}]: {folder!r} listed twice")
        checked.append(folder)
    return tuple(checked)


def folders_of(path: str) -> list[str]:
    """The folders of a relative path, shallowest first: 'a/b/c.json' -> ['a', 'a/b']."""
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _stored_file(entry: Any, index: int, fmt: int, pack_size: int | None) -> StoredFile:
    if not isinstance(entry, dict):
        raise ValueError(f"files[{index}] is not an object")
    path = relative_path(entry["path"])
    before, after = entry["sha256_before"], entry["sha256_after"]
    if not (before is None or _is_sha(before)) or not _is_sha(after) or (fmt == 1 and before is None):
        raise ValueError(f"files[{index}]: malformed sha256")
    mode = entry["mode"]
    if type(mode) is not int or not 0 <= mode < 1 << 32 or not stat.S_ISREG(mode):
        raise ValueError(f"files[{index}]: mode is not a regular file's")
    offset, length = entry.get("offset", 0), entry.get("length", 0)
    if type(offset) is not int or type(length) is not int or offset < 0 or length < 0:
        raise ValueError(f"files[{index}]: bad offset/length")
    if fmt == RECORD_FORMAT and pack_size is not None and offset + length > pack_size:
        raise ValueError(f"files[{index}]: its original lies outside the pack")
    return StoredFile(FileRecord(path, before, after), mode, offset, length)


def _is_sha(value: object) -> bool:
    return isinstance(value, str) and _SHA256_PATTERN.fullmatch(value) is not None


def _object(data: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # incl. the int-digits limit, absurd nesting
        raise SafetyError(f"journal damaged: {where}: not valid JSON ({str(exc)[:80]}); "
                          "nothing written") from None
    if not isinstance(document, dict):
        raise SafetyError(f"journal damaged: {where}: not a JSON object; nothing written")
    return document


def match_id(wanted: str, ids: Sequence[str]) -> str | None:
    """The id the user typed, with or without its leading zeros."""
    if wanted in ids:
        return wanted
    if wanted.isascii() and wanted.isdigit() and len(wanted) <= 9:
        return next((i for i in ids if int(i) == int(wanted)), None)
    return None
