"""Planning config migrations: new bytes for each file, validated, nothing written.

Each file is read, decoded (UTF-8), parsed and validated against its model's
schema; the target values (and `config.name`, through the model's rename) are
replaced in place in the text, so every other byte stays; the result is parsed
back, checked to hold the targets, and validated again. Only then may the plan
be applied (through the journal). What is model-specific lives in configs/models/.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from migrator.configs.discovery import Candidate, discover, label_of
from migrator.configs.jsonspans import splice, value_spans
from migrator.configs.models.base import MigrationSpec
from migrator.configs.parallel import fork_map
from migrator.configs.schemas import edited_values_error, schema_error
from migrator.errors import BadInputError
from migrator.files import CONFIG, UnreadableFile, read_user_file
from migrator.names import printable

NAME_PATH = ("config", "name")  # every edit, the name included, lies inside $.config
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Edit:
    json_path: str
    before: Any
    after: Any


@dataclasses.dataclass(frozen=True)
class FilePlan:
    label: str  # relative to the root
    path: str  # the real file
    before: bytes | None  # None: the file does not exist; the migration creates it
    after: bytes
    edits: tuple[Edit, ...]

    @property
    def created(self) -> bool:
        return self.before is None


@dataclasses.dataclass(frozen=True)
class Selection:
    """A best/ selection of the migrated model, as it reads after the migration."""

    label: str
    symbol: str
    after: bytes


@dataclasses.dataclass(frozen=True)
class Skipped:
    label: str
    reason: str


@dataclasses.dataclass
class Plan:
    spec: MigrationSpec
    changes: list[FilePlan] = dataclasses.field(default_factory=list)
    at_target: list[str] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    invalid: list[str] = dataclasses.field(default_factory=list)  # "<file>[:line:col]: <error>"
    warnings: list[str] = dataclasses.field(default_factory=list)
    selections: list[Selection] = dataclasses.field(default_factory=list)  # best/ files of this model
    # selections whose HYPERPARAMS/<model folder>/SYMBOL.json is missing: the backtest never reads them
    unread: list[Selection] = dataclasses.field(default_factory=list)
    # every file read, changed or not: its real path -> the sha256 of the bytes planned from
    # (None: it could not be read); a plan is only as good as all of these still hold
    read: dict[str, bytes | None] = dataclasses.field(default_factory=dict)


class _Invalid(Exception):
    pass


def plan_migration(root: Path, hyperparams: Path, spec: MigrationSpec,
                   symbols: Sequence[str] = (), *, create_missing: bool = False) -> Plan:
    """Find the files, and plan and validate each one's change. Writes nothing.

    A best/ selection is not what the backtest reads: it loads HYPERPARAMS/<model
    folder>/SYMBOL.json (upstream git-ignores hyperparams/toto/, so a fresh checkout
    has none and runs the module's defaults). Such selections are listed in
    `plan.unread`; with `create_missing` the plan also creates each missing file,
    in the shape upstream's store writes it (json.dump(record, indent=2)).
    """
    discovery = discover(root, hyperparams, spec.model.folder, symbols)
    plan = Plan(spec, warnings=list(discovery.warnings))
    outcomes = fork_map(functools.partial(_outcome, spec=spec), discovery.candidates)
    for candidate, (digest, outcome) in zip(discovery.candidates, outcomes):
        plan.read[candidate.path] = digest
        if isinstance(outcome, tuple):  # (the plan or None when at target, the selection or None)
            change, selection = outcome
            if change is None:
                plan.at_target.append(candidate.label)
            else:
                plan.changes.append(change)
            if selection is not None:
                plan.selections.append(selection)
        elif isinstance(outcome, Skipped):
            plan.skipped.append(outcome)
        else:
            plan.invalid.append(outcome)
    folder = os.path.join(hyperparams, spec.model.folder)
    plan.unread = [s for s in plan.selections
                   if not os.path.lexists(os.path.join(folder, f"{s.symbol}.json"))]
    if create_missing:
        folder_label = label_of(root, hyperparams, spec.model.folder)
        plan.changes += [_creation(selection, spec, folder, folder_label)
                         for selection in plan.unread]
    return plan


def _creation(selection: Selection, spec: MigrationSpec, folder: str, folder_label: str) -> FilePlan:
    """The model's config file for a selection that lacks one, as upstream's store writes it."""
    document = json.loads(selection.after)
    after = json.dumps(document, indent=2).encode("utf-8")
    edits = tuple(Edit("$." + ".".join(t.path), None, _get(document, t.path)) for t in spec.targets)
    return FilePlan(printable(f"{folder_label}/{selection.symbol}.json"),
                    os.path.join(folder, f"{selection.symbol}.json"),
                    None, after, edits)


_Outcome = tuple[FilePlan | None, Selection | None] | Skipped | str


def _outcome(candidate: Candidate, spec: MigrationSpec) -> tuple[bytes | None, _Outcome]:
    """The sha256 of the bytes read (None if unreadable), and _plan_file's result or the
    error line (str) of an invalid file."""
    try:
        raw = _read(candidate.label, candidate.path)
    except _Invalid as exc:
        return None, str(exc)
    digest = _sha256(raw)
    try:
        return digest, _plan_file(candidate, spec, raw)
    except _Invalid as exc:
        return digest, str(exc)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _plan_file(candidate: Candidate, spec: MigrationSpec, raw: bytes) -> _Outcome:
    """(the file's plan or None when already at target, the selection it is if one), or
    Skipped (a selection of another model)."""
    label = candidate.label
    document, text = _parse(label, raw)
    try:
        change = _plan_document(candidate, spec, raw, text, document)
    except RecursionError:  # parsed, yet too deep for a later step (validation, serialising)
        raise _Invalid(_too_deep(label, text)) from None
    if isinstance(change, Skipped):
        return change
    selection = None
    if candidate.is_selection:
        selection = Selection(label, candidate.symbol, raw if change is None else change.after)
    return change, selection


def _plan_document(candidate: Candidate, spec: MigrationSpec, raw: bytes, text: str,
                   document: dict[str, Any]) -> FilePlan | Skipped | None:
    label = candidate.label
    model = spec.model
    if "model" not in document and (candidate.is_selection or model.skip_without_model):
        return Skipped(label, 'no "model" key')
    if candidate.is_selection and document["model"] != model.name:
        return Skipped(label, f"model is {_shortened(repr(document['model']))}")
    error = schema_error(model.schema, document)
    if error:
        raise _Invalid(f"{label}: {error}")

    config = document["config"]
    old_config = dict(config)
    edits: dict[tuple[str, ...], tuple[Any, Any]] = {}
    for target in spec.targets:
        old = _get(document, target.path)
        if not (type(old) is type(target.value) and old == target.value):
            edits[target.path] = (old, target.value)
    if not edits:
        return None
    for path, (_, new) in edits.items():
        _get(document, path[:-1])[path[-1]] = new
    name = config.get("name")
    new_name = model.rename(name, old_config, config) if isinstance(name, str) else None
    spans = value_spans(text, [*edits, NAME_PATH])
    replacements = {spans[path]: json.dumps(new) for path, (_, new) in edits.items()}
    # Rename only a name spelled plainly (no escapes), so no other byte of it changes.
    if new_name is not None and text[slice(*spans[NAME_PATH])] == f'"{name}"':
        replacements[spans[NAME_PATH]] = f'"{new_name}"'
        edits[NAME_PATH] = (name, new_name)
        config["name"] = new_name
    after_text = splice(text, replacements)

    # The new text must hold exactly the intended document, and that document must be valid.
    after_document = json.loads(after_text)
    # NaN != NaN, so compare the serialisations when the plain comparison fails.
    if after_document != document and json.dumps(after_document) != json.dumps(document):
        raise AssertionError(f"{label}: the edited text does not parse to the intended values")
    # Proven equal above to the validated document but for the edited values.
    error = edited_values_error(model.schema, after_document, edits)
    if error:
        raise _Invalid(f"{label}: after the change: {error}")
    return FilePlan(label, candidate.path, raw, after_text.encode("utf-8"),
                    tuple(Edit("$." + ".".join(path), old, new) for path, (old, new) in edits.items()))


def _parse(label: str, raw: bytes) -> tuple[dict[str, Any], str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"{label}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    except ValueError:  # only an integer past Python's int-digits limit raises a bare ValueError
        raise _Invalid(_too_long_integer(label, text)) from None
    except RecursionError:
        raise _Invalid(_too_deep(label, text)) from None
    if not isinstance(document, dict):
        raise _Invalid(f"{label}: $: not a JSON object (found {_JSON_TYPES[type(document)]})")
    return document, text


def _read(label: str, path: str) -> bytes:
    """The file's bytes; _Invalid, naming the file, if it is not a readable regular file within the cap."""
    try:
        # `path` is already resolved (discovery): a symlink put there since is refused.
        return read_user_file(path, CONFIG, follow_symlinks=False)
    except UnreadableFile as exc:
        raise _Invalid(f"{label}: cannot read: {exc.reason}") from None


_NUMBER_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?')
_BRACKET_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_long_integer(label: str, text: str) -> str:
    """The error line for a file json.loads refuses for an integer past sys.get_int_max_str_digits()."""
    limit = sys.get_int_max_str_digits()
    for match in _NUMBER_OR_STRING.finditer(text):
        token = match.group()
        if token[0] != '"' and match.group(1) is None and match.group(2) is None:
            digits = len(token.lstrip("-"))
            if digits > limit:
                return (f"{label}:{_line_col(text, match.start())}: an integer of {digits} digits, over "
                        f"Python's limit of {limit} (json.load fails on it, in the backtest too)")
    return f"{label}: an integer with more digits than Python's limit of {limit}"


def _too_deep(label: str, text: str) -> str:
    """The error line for a file nested too deeply to read (a RecursionError)."""
    depth = deepest = deepest_at = 0
    for match in _BRACKET_OR_STRING.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > deepest:
                deepest, deepest_at = depth, match.start()
        elif token == "]" or token == "}":
            depth -= 1
    return f"{label}:{_line_col(text, deepest_at)}: arrays/objects nested {deepest} deep: too deep to read"


def _line_col(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - text.rfind(chr(10), 0, index)}"


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _get(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        value = value[key]
    return value


def plan_and_apply(root: Path, hyperparams: Path, spec: MigrationSpec, symbols: Sequence[str],
                   argv: Sequence[str], *, write: bool, skip_invalid: bool,
                   create_missing: bool = False) -> tuple[Plan, str | None]:
    """The plan, and when `write` the id of the migration that journaled and wrote it (None: nothing to do).

    Planned first without the lock, so a run with nothing to write (or refused for an
    invalid file) writes nothing at all, not even .migrate/. Then, under the root's lock
    (the journal's write_migration: a second `migrate` is refused at once), the plan is
    kept only if the same files are found and EVERY file it read, changed or not, still
    holds the bytes it planned from; else it is planned again there. (Checking only the
    files it changes is not enough: another migrate may have replaced, after this one read
    it, a file this plan leaves alone.) The journal re-checks each changed file just before
    replacing it too.
    """
    def make_plan() -> Plan:
        return plan_migration(root, hyperparams, spec, symbols, create_missing=create_missing)

    plan = make_plan()
    refused = bool(plan.invalid) and not skip_invalid
    if not write or refused or not plan.changes:
        return plan, None
    from migrator.journal import FileChange, write_migration

    def changes() -> list[FileChange]:
        nonlocal plan
        if not _still_as_read(root, hyperparams, spec, symbols, plan):
            plan = make_plan()  # changed meanwhile
        if plan.invalid and not skip_invalid:
            return []
        return [FileChange(Path(c.path), c.before, c.after) for c in plan.changes]

    migration = write_migration(root, spec.model.name, argv, changes)
    return plan, migration.id if migration else None


def _still_as_read(root: Path, hyperparams: Path, spec: MigrationSpec, symbols: Sequence[str],
                   plan: Plan) -> bool:
    """Whether discovery finds the same files and each holds the bytes `plan` read."""
    try:
        found = [c.path for c in discover(root, hyperparams, spec.model.folder, symbols).candidates]
    except BadInputError:
        return False  # planning again reports it
    return sorted(found) == sorted(plan.read) and all(
        _current_digest(path) == digest for path, digest in plan.read.items())


def _current_digest(path: str) -> bytes | None:
    """What _outcome would record for `path` now."""
    try:
        return _sha256(_read(path, path))
    except _Invalid:
        return None
