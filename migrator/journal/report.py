"""Text and JSON for `migrate history` and `migrate revert`."""

from __future__ import annotations

import shlex
from typing import Any, Literal

from migrator.diffs import unified_diff
from migrator.journal.prune import PruneResult
from migrator.journal.records import Migration
from migrator.journal.revert import RevertResult
from migrator.names import printable

RevertMode = Literal["apply", "dry-run", "check"]


def migration_document(migration: Migration, unfinished_id: str | None = None) -> dict[str, Any]:
    """`unfinished_id`: Journal.unfinished()'s id (a killed run's migration), if any."""
    return {
        "id": migration.id,
        "kind": migration.kind,
        "created": migration.created,
        "argv": [printable(arg) for arg in migration.argv],
        "state": migration.state,
        "unfinished": migration.id == unfinished_id,
        "reverted": migration.reverted,
        "pruned": migration.pruned,
        "files": [{"path": printable(f.path), "sha256_before": f.sha256_before, "sha256_after": f.sha256_after}
                  for f in migration.files],
    }


def history_table(migrations: list[Migration], unfinished_id: str | None = None) -> str:
    """One row per migration, oldest first, columns aligned."""
    header = ("ID", "TIME (UTC)", "KIND", "FILES", "STATE", "COMMAND")
    rows = [header] + [(m.id, _time(m.created), m.kind, str(len(m.files)), _state(m, unfinished_id),
                        printable(shlex.join(m.argv))) for m in migrations]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
             for row in rows]
    return "\n".join(lines) + "\n"


def revert_document(result: RevertResult | None, mode: RevertMode,
                    message: str | None = None) -> dict[str, Any]:
    """`revert --json`; `result` None when there was nothing to revert (`message` says why)."""
    return {
        "mode": mode,
        "written": result is not None and not result.dry_run,
        "migration": None if result is None else migration_document(result.migration),
        "previous_state": None if result is None else result.previous_state,
        "restored": [] if result is None else _printable_all(result.restored),
        "unchanged": [] if result is None else _printable_all(result.unchanged),
        "forced": [] if result is None else _printable_all(result.forced),
        "saved_to": None if result is None else result.saved_to,
        "deleted": [] if result is None else _printable_all(result.deleted),
        "removed_folders": [] if result is None else _printable_all(result.removed_folders),
        "message": message if result is None else revert_summary(result).strip(),
    }


def revert_diffs(result: RevertResult, *, color: bool) -> str:
    """Unified diffs, current bytes -> original bytes, of every file a revert restores."""
    return "".join(unified_diff(printable(path), change.before or b"", change.after, color=color)
                   for path, change in zip(result.restored, result.changes))


def revert_summary(result: RevertResult) -> str:
    migration = result.migration
    what = f"migration {migration.id} ({migration.kind}, {_time(migration.created)})"
    if result.previous_state in ("pending", "reverting"):
        what = f"unfinished {what}"
    same = f"{_files(len(result.unchanged))} already held the original bytes"
    if result.dry_run:
        text = (f"would restore {_files(len(result.restored))} of {what}; {same}; "
                "nothing written.")
    else:
        text = f"reverted {what}: restored {_files(len(result.restored))}, {same}."
    if result.deleted:
        text += (f" {_files(len(result.deleted))} it had created {'would be' if result.dry_run else 'were'}"
                 " deleted.")
    if result.removed_folders:
        count = len(result.removed_folders)
        shown = [printable(folder) for folder in reversed(result.removed_folders)][:3]  # shallowest first
        more = f" and {count - 3} more" if count > 3 else ""
        text += f" Removed the {_plural(count, 'folder')} it had created, left empty: {', '.join(shown)}{more}."
    if result.forced:
        verb = "would be" if result.dry_run else "were"
        text += (f" {_files(len(result.forced))} changed since the migration {verb} restored "
                 f"by --force, their current bytes kept under {result.saved_to}/.")
    return text + "\n"


def _printable_all(paths: Any) -> list[str]:
    return [printable(path) for path in paths]


def prune_summary(result: PruneResult) -> str:
    if not result.pruned and not result.pruned_applied and not result.bytes_freed:
        keeps = "no reverted migration keeps original bytes"
        if result.kept is not None:
            keeps = f"no reverted migration, nor an applied one older than the {result.kept} newest, keeps original bytes"
        return f"nothing to prune: {keeps}\n"
    what = "".join(f"the originals of {_migrations(ids, label)} and " for ids, label in (
        (result.pruned, "reverted"), (result.pruned_applied, "applied")) if ids)
    text = f"pruned {what}the replaced inodes kept: {result.bytes_freed:,} bytes freed"
    if result.pruned_applied:
        text += (f"; {', '.join(result.pruned_applied)} can no longer be reverted "
                 f"(the {result.kept} newest applied still can)")
    return text + "\n"


def prune_document(result: PruneResult) -> dict[str, Any]:
    return {"pruned": list(result.pruned), "pruned_applied": list(result.pruned_applied),
            "keep": result.kept, "bytes_freed": result.bytes_freed}


def _migrations(ids: tuple[str, ...], label: str) -> str:
    return f"{len(ids)} {label} migration{'' if len(ids) == 1 else 's'} ({', '.join(ids)})"


def _files(count: int) -> str:
    return _plural(count, "file")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _time(iso: str) -> str:
    return iso.replace("T", " ").replace("+00:00", "Z")


def _state(migration: Migration, unfinished_id: str | None) -> str:
    if migration.id == unfinished_id:
        return f"{migration.state} (unfinished)"
    if migration.unfinished:
        return f"{migration.state} (in progress)"  # another migrate holds the lock
    return f"{migration.state} (pruned)" if migration.pruned else migration.state
