"""eod-comment: explain the doubled work of `close_at_eod_candidates`.

`close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]`
evaluates every strategy twice when the caller leaves close_at_eod unset. The
rule puts a one-line `# PERF:` comment directly above each such assignment, at
the assignment's own indentation (upstream has it at 8 and at 4 spaces), once.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from migrator.codemod.rule import (
    ModuleContext, Rule, StatementWalker, Status, assigned_name, comment_line, outcome,
)

_TARGET = "close_at_eod_candidates"
NOTE = "PERF: close_at_eod=None evaluates both [False, True], twice the work"


def _has_perf_note(lines: Sequence[cst.EmptyLine]) -> bool:
    return bool(lines) and lines[-1].comment is not None \
        and lines[-1].comment.value.lstrip("# ").startswith("PERF")


class _Rewriter(StatementWalker):
    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        self.changed = 0
        self.already = 0
        # libcst keeps the comments above a module's first statement in Module.header.
        self.first = module.body[0] if module.body else None
        self.header = module.header

    def leave_line(self, updated_node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not any(assigned_name(small) == _TARGET for small in updated_node.body):
            return updated_node
        above = self.header if updated_node is self.first and not updated_node.leading_lines \
            else updated_node.leading_lines
        if _has_perf_note(above):
            self.already += 1
            return updated_node
        self.changed += 1
        return updated_node.with_changes(
            leading_lines=[*updated_node.leading_lines, comment_line(NOTE)])


class EodCommentRule(Rule):
    name = "eod-comment"
    summary = "a one-line `# PERF:` comment above each `close_at_eod_candidates = ...`"
    env_var = None
    triggers = (_TARGET.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        rewriter = _Rewriter(module)
        result = rewriter.walk(module)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = EodCommentRule()
