"""`migrate apply`: find the targets (discovery.py), patch them, and write through the journal.

All or nothing: when any file cannot be patched (bad input, or a rule's output
that does not compile), no file is written and every error is reported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

from migrator.codemod.discovery import find_targets
from migrator.codemod.engine import FileResult, patch_files, still_as_read
from migrator.codemod.rule import RuleOptions
from migrator.codemod.rules import select
from migrator.errors import BadInputError
from migrator.names import printable


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    root: Path
    results: tuple[FileResult, ...]
    labels: tuple[str, ...]  # how each file is named in output, same order as results
    migration_id: str | None  # set when files were written

    @property
    def changed(self) -> list[tuple[str, FileResult]]:
        return [(label, r) for label, r in zip(self.labels, self.results) if r.changed]

    @property
    def notes(self) -> list[str]:
        """What the user must know about the patches (file:line: ...), in file order."""
        return [note for r in self.results for note in r.notes]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error is not None]


def label_for(root: Path, path: Path) -> str:
    """How `path` is named in output: relative to the root where it can be, control characters escaped."""
    try:
        return printable(path.relative_to(root).as_posix())
    except ValueError:
        return printable(str(path))


def _refuse_outside(planned: ApplyResult) -> None:
    outside = [label for label, r in planned.changed if not r.path.is_relative_to(planned.root)]
    if outside:
        raise BadInputError(f"{outside[0]}: outside the root {planned.root} (the journal keeps files "
                            f"under the root; pass --root)")


def run_apply(root: Path, arguments: Sequence[Path], rule_names: list[str] | None,
              options: RuleOptions, *, write: bool, argv: Sequence[str], jobs: int = 1,
              steps: bool = False, on_done: Callable[[FileResult], None] | None = None,
              on_count: Callable[[int], None] | None = None) -> ApplyResult:
    """Patch the targets; journal and write the changes when `write` and nothing failed."""
    try:
        rules = select(rule_names)
    except KeyError as exc:
        raise BadInputError(f"--rules: unknown rule {exc.args[0]} "
                            f"(known: {', '.join(rule.name for rule in select(None))})") from None
    paths = [path.resolve() for path in find_targets(root, arguments)]
    named = bool(arguments)
    if on_count is not None:
        on_count(len(paths))
    labels = [label_for(root, path) for path in paths]

    def patch_all() -> ApplyResult:
        results = patch_files(paths, labels, rules, options, jobs=jobs, steps=steps, named=named,
                              on_done=on_done)
        return ApplyResult(root, tuple(results), tuple(labels), None)

    # Planned first without the lock: a run that writes nothing (nothing to do, or refused
    # for an invalid module) creates nothing, not even .migrate/.
    planned = patch_all()
    if not write or planned.errors or not planned.changed:
        return planned
    _refuse_outside(planned)
    from migrator.journal import FileChange, write_migration

    def plan() -> list[FileChange]:  # runs under the root's lock: no other migrate writes meanwhile
        nonlocal planned
        # Kept only if every file read, changed or not, still holds the bytes patched.
        if not all(still_as_read(result) for result in planned.results):
            planned = patch_all()
            if planned.errors:
                return []
            _refuse_outside(planned)
        return [FileChange(r.path, r.before, r.after) for _, r in planned.changed]  # type: ignore[arg-type]

    migration = write_migration(root, "apply", argv, plan)
    return dataclasses.replace(planned, migration_id=migration.id if migration else None)
