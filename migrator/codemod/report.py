"""How `migrate apply` and `migrate rules` results read: text and JSON."""

from __future__ import annotations

from typing import Any

from migrator.codemod.apply import ApplyResult
from migrator.codemod.engine import FileResult
from migrator.codemod.rule import Rule, Status
from migrator.diffs import unified_diff
from migrator.names import printable


def _applied(result_steps: Any) -> list[str]:
    return [step.rule for step in result_steps if step.status is Status.APPLIED]


def diffs(result: ApplyResult, *, color: bool) -> str:
    """Per changed file: the rules applied, then each rule's own diff, in run order."""
    parts = []
    for label, file_result in result.changed:
        parts.append(f"{label}: {', '.join(_applied(file_result.steps))}\n")
        for step in file_result.steps:
            if step.before is not None and step.after is not None:
                parts.append(f"# rule {step.rule}\n")
                parts.append(unified_diff(label, step.before, step.after, color=color))
    return "".join(parts)


def reason(file_result: FileResult, mode: str) -> str:
    """Why a file changed or did not, in a few words."""
    if file_result.error is not None:
        return "cannot be patched"
    if file_result.untriggered:
        return "no rule's trigger text (not parsed)"
    found = [f"{step.rule} {step.status.value}" for step in file_result.steps
             if step.status is not Status.NOT_APPLICABLE]
    if not found:
        return "no rule applies"
    verb = ("patched" if mode == "apply" else "would patch") if file_result.changed else "ok"
    return f"{verb}: {', '.join(found)}"


def summary(result: ApplyResult, mode: str, *, verbose: bool = False, root_hint: str = "") -> str:
    """One line per file a rule touched or found done (with `verbose`, per file looked at),
    then a closing line. `root_hint` follows every command it names (see migrator.hints)."""
    lines = []
    untouched = 0
    for label, file_result in zip(result.labels, result.results):
        if file_result.error is not None:
            continue
        why = reason(file_result, mode)
        if file_result.untriggered or why == "no rule applies":
            untouched += 1
            if verbose:
                lines.append(f"skipped {label}: {why}")
            continue
        verb, _, found = why.partition(": ")
        lines.append(f"{verb} {label}: {found}")
    lines.extend(f"note: {note}" for note in result.notes)
    if untouched and not verbose:
        lines.append(f"{untouched} other file{'s' if untouched != 1 else ''} looked at: "
                     f"no rule applies (-v lists them)")
    count = len(result.changed)
    if result.errors:
        lines.append(f"nothing written: {len(result.errors)} file"
                     f"{'s' if len(result.errors) != 1 else ''} could not be patched")
    elif mode == "apply" and result.migration_id:
        lines.append(f"patched {count} file{'s' if count != 1 else ''} "
                     f"(migration {result.migration_id}); undo: migrate revert{root_hint}")
    elif count:
        lines.append(f"{count} file{'s' if count != 1 else ''} would change")
    else:
        lines.append("nothing to do: every rule is applied or not applicable")
    return "\n".join(lines) + "\n"


def document(result: ApplyResult, mode: str, *, with_diffs: bool, root_hint: str = "") -> dict[str, Any]:
    files = []
    for label, file_result in zip(result.labels, result.results):
        entry: dict[str, Any] = {
            "path": label,
            "changed": file_result.changed,
            "rules": {step.rule: step.status.value for step in file_result.steps},
            "error": file_result.error,
            "reason": reason(file_result, mode),
            "notes": list(file_result.notes),
        }
        if with_diffs and file_result.changed:
            entry["diffs"] = {step.rule: unified_diff(label, step.before, step.after)
                              for step in file_result.steps
                              if step.before is not None and step.after is not None}
        files.append(entry)
    return {
        "command": "apply",
        "mode": mode,
        "root": printable(str(result.root)),
        "written": result.migration_id is not None,
        "migration": result.migration_id,
        "revert": f"migrate revert {result.migration_id}{root_hint}" if result.migration_id else None,
        "changed": len(result.changed),
        "errors": result.errors,
        "files": files,
    }


def rules_text(rules: tuple[Rule, ...]) -> str:
    width = max(len(rule.name) for rule in rules)
    lines = []
    for rule in rules:
        env = f" [reads {rule.env_var}]" if rule.env_var else ""
        lines.append(f"{rule.name:<{width}}  {rule.summary}{env}")
    return "\n".join(lines) + "\n"


def rules_document(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [{"name": rule.name, "summary": rule.summary, "env_var": rule.env_var}
            for rule in rules]
