"""imports: `import os` and the env helpers, once per module, where the patch needs them.

Runs after the other rules (and whenever one of them inserted code). It adds
`import os` after the module docstring and any `from __future__` imports unless
`os` is already bound at module level (also inside try/except or if/else;
`from os import getenv` does not bind `os`, and an `if TYPE_CHECKING:` import
does not count). The helper functions go after the leading block of imports;
they are recognised by name, so a second run inserts nothing.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from migrator.codemod.rule import ModuleContext, Rule, Status, is_docstring, parse_code
from migrator.codemod.rules import env_helpers


def _blocks(node: cst.CSTNode) -> list[cst.BaseSuite]:
    """The bodies of a compound statement: if/elif/else, try/except/else/finally, loops, with, match."""
    found: list[cst.BaseSuite] = []
    for child in node.children:
        if isinstance(child, cst.BaseSuite):
            found.append(child)
        elif isinstance(child, (cst.If, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler,
                                cst.Finally, cst.MatchCase)):
            found.extend(_blocks(child))
    return found


def _is_import_line(statement: cst.BaseStatement, future_only: bool = False) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.ImportFrom):
            if future_only and not (isinstance(small.module, cst.Name)
                                    and small.module.value == "__future__"):
                return False
        elif future_only or not isinstance(small, cst.Import):
            return False
    return True


def _is_import_block(statement: cst.BaseStatement) -> bool:
    """An import line, or a try/if whose blocks import something (`try: import x ...`)."""
    if _is_import_line(statement):
        return True
    if isinstance(statement, (cst.Try, cst.If)):
        return any(isinstance(block, cst.IndentedBlock)
                   and any(_is_import_line(inner) for inner in block.body)
                   for block in _blocks(statement))
    return False


def _split_blank(lines: Sequence[cst.EmptyLine]) -> tuple[list[cst.EmptyLine], list[cst.EmptyLine]]:
    """Leading blank lines (before any comment), and the rest."""
    count = 0
    while count < len(lines) and lines[count].comment is None:
        count += 1
    return list(lines[:count]), list(lines[count:])


class ImportsRule(Rule):
    name = "imports"
    summary = ("`import os` and the shared env helpers, inserted once per module where the "
               "other rules' code needs them (always runs after them)")
    env_var = None
    triggers = tuple(name.encode() for name in env_helpers.ORDER)
    head_only = True

    def wants(self, ctx: ModuleContext) -> bool:
        return bool(ctx.helpers_needed) or super().wants(ctx)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        needed = set(ctx.helpers_needed)
        needed.update(name for name in env_helpers.ORDER if name.encode() in ctx.source)
        if not needed:
            return module, Status.NOT_APPLICABLE
        # Module-wide facts come from ast: `module` may hold only the file's first statements.
        defined = ctx.facts.top_level_functions
        missing = [name for name in env_helpers.with_dependencies(needed) if name not in defined]
        add_os = not ctx.facts.os_bound
        if not missing and not add_os:
            return module, Status.ALREADY_APPLIED

        body = list(module.body)
        at = 1 if body and is_docstring(body[0]) else 0
        while at < len(body) and _is_import_line(body[at], future_only=True):
            at += 1
        if add_os:
            import_os = parse_code("import os", module)[0]
            if at < len(body):
                blank, rest = _split_blank(body[at].leading_lines)
                import_os = import_os.with_changes(leading_lines=blank)
                body[at] = body[at].with_changes(leading_lines=rest)
            body.insert(at, import_os)
        while at < len(body) and _is_import_block(body[at]):
            at += 1
        if missing:
            two_blank = [cst.EmptyLine(), cst.EmptyLine()]
            helpers = [statement.with_changes(leading_lines=two_blank)
                       for name in missing
                       for statement in parse_code(env_helpers.source(name), module)]
            if at == 0:  # nothing above: no blank lines at the top of the file
                helpers[0] = helpers[0].with_changes(leading_lines=[])
            if at < len(body):
                blank, rest = _split_blank(body[at].leading_lines)
                body[at] = body[at].with_changes(
                    leading_lines=[*two_blank[len(blank):], *blank, *rest])
            body[at:at] = helpers
        return module.with_changes(body=body), Status.APPLIED


RULE = ImportsRule()
