"""imports: the env helpers, once per module, where the patch needs them.

Runs after the other rules (and whenever one of them inserted code). The helper
functions go after the module's leading block of imports (docstring, `from
__future__`, imports, try/if blocks that import). They import `os` themselves,
so the module's own `os` binding (or the lack of one) does not matter, and they
never take a name the module uses for something else (see env_helpers.resolve);
a second run finds them and inserts nothing.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from migrator.codemod.rule import ModuleContext, Rule, Status, is_docstring, parse_code
from migrator.codemod import env_helpers


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
    summary = ("the shared env helpers, inserted once per module where the other rules' "
               "code needs them, under names the module does not use (always runs after them)")
    env_var = None
    triggers = tuple(name.encode() for name in env_helpers.ORDER)  # a call left by an earlier run
    head_only = True

    def wants(self, ctx: ModuleContext) -> bool:
        return bool(ctx.helpers_needed) or super().wants(ctx)

    @staticmethod
    def _called(ctx: ModuleContext) -> set[str]:
        """Helpers the module's code calls under their resolved names (a call left by an
        earlier run whose definition is missing is ours to insert)."""
        names = ctx.helper_names
        loaded = ctx.facts.identifiers - ctx.facts.bound_names
        return {base for base in env_helpers.ORDER
                if names[base] in loaded or names[base] in ctx.facts.top_level_defs}

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        needed = set(ctx.helpers_needed) | self._called(ctx)
        if not needed:
            return module, Status.NOT_APPLICABLE
        # Module-wide facts come from ast: `module` may hold only the file's first statements.
        names = ctx.helper_names
        missing = [base for base in env_helpers.with_dependencies(needed)
                   if not env_helpers.is_ours(ctx.facts, base, names[base], names)]
        if not missing:
            return module, Status.ALREADY_APPLIED

        body = list(module.body)
        at = 1 if body and is_docstring(body[0]) else 0
        while at < len(body) and (_is_import_line(body[at], future_only=True)
                                  or _is_import_block(body[at])):
            at += 1
        two_blank = [cst.EmptyLine(), cst.EmptyLine()]
        helpers = [statement.with_changes(leading_lines=two_blank)
                   for base in missing
                   for statement in parse_code(env_helpers.source(base, names), module)]
        if at == 0:  # nothing above: no blank lines at the top of the file
            helpers[0] = helpers[0].with_changes(leading_lines=[])
        if at < len(body):
            blank, rest = _split_blank(body[at].leading_lines)
            body[at] = body[at].with_changes(
                leading_lines=[*two_blank[len(blank):], *blank, *rest])
        body[at:at] = helpers
        return module.with_changes(body=body), Status.APPLIED


RULE = ImportsRule()
