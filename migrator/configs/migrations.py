"""Planning Toto/Kronos config migrations: new bytes for each file, validated, nothing written.

Each file is read, decoded (UTF-8), parsed and validated against its model's
schema; the target values (and the numbers `config.name` spells, see
_rename_toto/_rename_kronos) are replaced in place in the text, so every other
byte stays; the result is parsed back, checked to hold the targets, and
validated again. Only then may the plan be applied (through the journal).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from migrator.configs.discovery import Candidate, discover
from migrator.configs.jsonspans import splice, value_spans
from migrator.configs.parallel import fork_map
from migrator.configs.schemas import edited_values_error, schema_error
from migrator.errors import BadInputError

NAME_PATH = ("config", "name")  # every edit, the name included, lies inside $.config
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Target:
    path: tuple[str, ...]  # keys from the top, e.g. ("config", "num_samples")
    value: int


@dataclasses.dataclass(frozen=True)
class MigrationSpec:
    """What a migration sets: the model whose files it edits, and the new values."""

    model: str  # "toto" or "kronos": the folder, the schema, and the `model` of selections
    targets: tuple[Target, ...]
    # (config.name, old config, new config) -> the new name, or None to leave it alone
    rename: Callable[[str, dict[str, Any], dict[str, Any]], str | None]


@dataclasses.dataclass(frozen=True)
class Edit:
    json_path: str
    before: Any
    after: Any


@dataclasses.dataclass(frozen=True)
class FilePlan:
    label: str  # relative to the root
    path: str  # the real file
    before: bytes
    after: bytes
    edits: tuple[Edit, ...]


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


class _Invalid(Exception):
    pass


def toto_spec(samples: int, batch: int) -> MigrationSpec:
    """Set config.num_samples / config.samples_per_batch. BadInputError on bad arguments."""
    for option, value in (("--samples", samples), ("--batch", batch)):
        if value < 1:
            raise BadInputError(f"{option} must be a positive integer, got {value}")
    if batch > samples:
        raise BadInputError(f"--batch ({batch}) must not exceed --samples ({samples})")
    if samples % batch:
        raise BadInputError(
            f"--samples ({samples}) must be a multiple of --batch ({batch}): "
            "Toto requires num_samples % samples_per_batch == 0")
    return MigrationSpec("toto", (Target(("config", "num_samples"), samples),
                                  Target(("config", "samples_per_batch"), batch)), _rename_toto)


def kronos_spec(samples: int) -> MigrationSpec:
    """Set config.sample_count. BadInputError on a bad argument."""
    if samples < 1:
        raise BadInputError(f"--samples must be a positive integer, got {samples}")
    return MigrationSpec("kronos", (Target(("config", "sample_count"), samples),), _rename_kronos)


def _rename_toto(name: str, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """toto_<anything>_<num_samples>_spb<samples_per_batch>, when it spells the old values exactly."""
    parts = name.split("_")
    if (len(parts) >= 4 and parts[0] == "toto"
            and parts[-2] == _spell(old["num_samples"])
            and parts[-1] == "spb" + _spell(old["samples_per_batch"])):
        parts[-2:] = [str(new["num_samples"]), f"spb{new['samples_per_batch']}"]
        return "_".join(parts)
    return None


def _rename_kronos(name: str, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """kronos_..._s<sample_count>_..., when exactly one segment is s<number> and it spells the old value."""
    parts = name.split("_")
    counts = [i for i, part in enumerate(parts) if re.fullmatch(r"s[0-9]+", part)]
    if parts[0] == "kronos" and len(counts) == 1 and parts[counts[0]] == "s" + _spell(old["sample_count"]):
        parts[counts[0]] = f"s{new['sample_count']}"
        return "_".join(parts)
    return None


def _spell(value: Any) -> str | None:
    return str(value) if type(value) is int else None


def plan_migration(root: Path, hyperparams: Path, spec: MigrationSpec,
                   symbols: Sequence[str] = ()) -> Plan:
    """Find the files, and plan and validate each one's change. Writes nothing."""
    discovery = discover(root, hyperparams, spec.model, symbols)
    plan = Plan(spec, warnings=list(discovery.warnings))
    outcomes = fork_map(functools.partial(_outcome, spec=spec), discovery.candidates)
    for candidate, outcome in zip(discovery.candidates, outcomes):
        if isinstance(outcome, FilePlan):
            plan.changes.append(outcome)
        elif isinstance(outcome, Skipped):
            plan.skipped.append(outcome)
        elif isinstance(outcome, str):
            plan.invalid.append(outcome)
        else:
            plan.at_target.append(candidate.label)
    return plan


def _outcome(candidate: Candidate, spec: MigrationSpec) -> FilePlan | Skipped | str | None:
    """_plan_file's result, or the error line (str) of an invalid file."""
    try:
        return _plan_file(candidate, spec)
    except _Invalid as exc:
        return str(exc)


def _plan_file(candidate: Candidate, spec: MigrationSpec) -> FilePlan | Skipped | None:
    """The file's plan, Skipped (a selection of another model), or None (already at target)."""
    label = candidate.label
    try:
        with open(candidate.path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise _Invalid(f"{label}: cannot read: {exc.strerror or exc}") from None
    document, text = _parse(label, raw)
    if candidate.is_selection and document.get("model") != spec.model:
        model = document.get("model")
        return Skipped(label, f"model is {model!r}" if "model" in document else "no \"model\" key")
    error = schema_error(spec.model, document)
    if error:
        raise _Invalid(f"{label}: {error}")

    config = document["config"]
    old_config = dict(config)
    edits: dict[tuple[str, ...], tuple[Any, Any]] = {}
    for target in spec.targets:
        old = _get(document, target.path)
        if not (type(old) is int and old == target.value):
            edits[target.path] = (old, target.value)
    if not edits:
        return None
    for path, (_, new) in edits.items():
        _get(document, path[:-1])[path[-1]] = new
    name = config.get("name")
    new_name = spec.rename(name, old_config, config) if isinstance(name, str) else None
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
    error = edited_values_error(spec.model, after_document, edits)
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
    if not isinstance(document, dict):
        raise _Invalid(f"{label}: $: not a JSON object (found {_JSON_TYPES[type(document)]})")
    return document, text


def _get(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        value = value[key]
    return value


def apply_plan(root: Path, argv: Sequence[str], plan: Plan) -> str | None:
    """Journal and write the plan's valid changes under the root's lock; the migration id, if any.

    The journal re-checks under the lock that each file still holds the bytes
    planned from (SafetyError otherwise), so a file edited meanwhile is never
    overwritten.
    """
    if not plan.changes:
        return None
    from migrator.journal import FileChange, write_migration

    migration = write_migration(root, plan.spec.model, argv, lambda: [
        FileChange(Path(c.path), c.before, c.after) for c in plan.changes])
    return migration.id if migration else None
