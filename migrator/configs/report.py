"""How a config migration's plan and result read: text for people, one JSON document for tools."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from migrator.configs.migrations import FilePlan, Plan
from migrator.configs.models.base import RuntimeNote
from migrator.configs.parallel import fork_map
from migrator.diffs import unified_diff
from migrator.names import printable
from migrator.hints import command


def diffs(plan: Plan, *, color: bool) -> list[str]:
    """One unified diff per file that would change."""
    return fork_map(functools.partial(_diff, color=color), plan.changes)


def _diff(change: FilePlan, color: bool) -> str:
    return unified_diff(change.label, change.before or b"", change.after, color=color)


def unread_warning(plan: Plan, *, created: bool, root: Path | None = None) -> str | None:
    """Says when best/ selections are all the backtest has for a symbol: it reads
    <model folder>/SYMBOL.json, so without that file the module's defaults run."""
    if not plan.unread:
        return None
    folder = plan.spec.model.folder
    names = [printable(s.symbol) for s in plan.unread]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if created:
        return (f"{_files(len(names))} created in {folder}/ from the best/ selections ({shown}): "
                f"the backtest reads {folder}/SYMBOL.json, and these had none; "
                f"`{command('migrate explain', root)}` shows what it runs now")
    return (f"the backtest reads {folder}/SYMBOL.json, not best/ selections: {shown} "
            f"{'has' if len(names) == 1 else 'have'} no {folder}/SYMBOL.json, so the backtest runs the "
            f"module's defaults for {'it' if len(names) == 1 else 'them'} whatever best/ says "
            f"(`{command('migrate explain', root)}` shows them); --create-missing writes the file "
            f"from each selection (journaled: `{command('migrate revert', root)}` deletes it)")


def summary(plan: Plan, mode: str, migration_id: str | None = None, *, refused: bool = False,
            root: Path | None = None) -> str:
    """The closing summary. `mode`: "dry-run", "check" or "apply"; `refused`: invalid files stopped it."""
    targets = " ".join(f"{t.path[-1]}={t.value}" for t in plan.spec.targets)
    head = f"migrate {plan.spec.model.name}: {targets}"
    if refused:
        head += f" ({mode}: refused, invalid files; nothing written)"
    elif mode == "apply":
        if migration_id is None:
            head += ": nothing to change"
        else:
            head += (f": changed {_files(len(plan.changes))} (migration {migration_id}); "
                     f"undo with: {command(f'migrate revert {migration_id}', root)}")
    else:
        head += f" ({mode}: nothing written)"
    created = sum(change.created for change in plan.changes)
    lines = [
        head,
        f"  {'changed' if migration_id else 'to change'}: {len(plan.changes) - created}",
        *([f"  {'created' if migration_id else 'to create'}: {created}"] if created else []),
        f"  already at target: {len(plan.at_target)}",
        f"  skipped (other models): {len(plan.skipped)}",
        *(f"    {s.label}: {s.reason}" for s in plan.skipped),
        f"  invalid: {len(plan.invalid)}",
    ]
    return "\n".join(lines) + "\n"


def document(plan: Plan, mode: str, *, runtime: RuntimeNote | None, written: bool,
             migration_id: str | None, diff_texts: list[str] | None,
             warnings: list[str], root: Path | None = None) -> dict[str, Any]:
    """The same facts as the text output, as one JSON-ready document (diffs if given)."""
    return {
        "command": plan.spec.model.name,
        "mode": mode,
        "targets": {t.path[-1]: t.value for t in plan.spec.targets},
        "changed": [
            {"path": change.label, "created": change.created,
             "edits": [{"path": e.json_path, "before": e.before, "after": e.after} for e in change.edits],
             **({"diff": diff_texts[i]} if diff_texts is not None else {})}
            for i, change in enumerate(plan.changes)],
        "already_at_target": plan.at_target,
        "skipped": [{"path": s.label, "reason": s.reason} for s in plan.skipped],
        "invalid": plan.invalid,
        # selections whose <model folder>/SYMBOL.json is missing (the backtest never reads them)
        "unread_selections": [s.label for s in plan.unread],
        "warnings": warnings,
        "clamp": runtime.as_dict() if runtime else None,  # the model's run-time facts (Toto: its clamp)
        "written": written,
        "migration": migration_id,
        "revert": command(f"migrate revert {migration_id}", root) if migration_id else None,
    }


def _files(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"
