"""exact-toto: MARKETSIM_EXACT_TOTO swaps toto-ts's TotoForecaster for migrate's exact one.

Where a module imports `TotoForecaster` from `toto.inference.forecaster` (or
`toto.toto.inference.forecaster`, upstream's fallback), the rule inserts, right
after the statement that binds it (the import itself, or the whole try/except
or if/else holding it), a block that, when the variable is 1/true/yes/on,
rebinds the name to `migrator.runtime.exact_toto.exact_forecaster_class(
TotoForecaster)`: a subclass with the same constructor and `forecast` signature.
Unset, the block does nothing. If migrate cannot be imported in the backtest's
environment (or the class is refused), the original stays and one warning is
logged. The block imports what it needs itself, under names the module does not
use, so it works wherever the import sits (module level, a function, before the
env helpers are defined). A statement already followed by the block is left as it is.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from migrator.codemod.facts import TOTO_CLASS, TOTO_MODULES
from migrator.codemod.rule import (
    ModuleContext, Rule, Status, comment_line, has_string_literal, outcome, parse_code,
)
from migrator.codemod.rules.env_helpers import TRUTHY, TRUTHY_SET

ENV_VAR = "MARKETSIM_EXACT_TOTO"
RUNTIME_MODULE = "migrator.runtime.exact_toto"
RUNTIME_FACTORY = "exact_forecaster_class"
_MODULES = frozenset(tuple(module.split(".")) for module in TOTO_MODULES)
_NESTED = (cst.Try, cst.TryStar, cst.If, cst.Else, cst.With, cst.ExceptHandler,
           cst.ExceptStarHandler, cst.Finally, cst.IndentedBlock, cst.SimpleStatementLine)


def _dotted(node: cst.BaseExpression | None) -> tuple[str, ...]:
    if isinstance(node, cst.Name):
        return (node.value,)
    if isinstance(node, cst.Attribute):
        return (*_dotted(node.value), node.attr.value)
    return ()


def _toto_binding(node: cst.CSTNode) -> str | None:
    """The local name a toto TotoForecaster import in `node` binds (searching nested
    try/if/with blocks, never functions or classes), else None."""
    if isinstance(node, cst.ImportFrom) and node.relative == () \
            and _dotted(node.module) in _MODULES and not isinstance(node.names, cst.ImportStar):
        for alias in node.names:
            if isinstance(alias.name, cst.Name) and alias.name.value == TOTO_CLASS:
                return alias.asname.name.value if alias.asname is not None else TOTO_CLASS  # type: ignore[union-attr]
        return None
    if isinstance(node, _NESTED):
        for child in node.children:
            found = _toto_binding(child)
            if found is not None:
                return found
    return None


class _Rewriter:
    def __init__(self, module: cst.Module, ctx: ModuleContext) -> None:
        self.module = module
        self.facts = ctx.facts
        self.changed = 0
        self.already = 0

    def block(self, statements: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        """The statements with the swap after each toto import; None when unchanged."""
        result: list[cst.BaseStatement] = []
        changed = False
        for index, statement in enumerate(statements):
            new = self.statement(statement)
            changed |= new is not statement
            result.append(new)
            name = _toto_binding(statement)
            if name is None:
                continue
            following = statements[index + 1] if index + 1 < len(statements) else None
            if following is not None and has_string_literal(following, ENV_VAR):
                self.already += 1
                continue
            result.extend(self._swap(name))
            self.changed += 1
            changed = True
        return result if changed else None

    def statement(self, node: cst.BaseStatement) -> cst.BaseStatement:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and isinstance(node.body, cst.IndentedBlock):
            body = self.block(node.body.body)
            if body is not None:
                return node.with_changes(body=node.body.with_changes(body=body))
        return node

    def _swap(self, name: str) -> list[cst.BaseStatement]:
        fresh = self.facts.fresh_name
        os_name, factory, error, logging = (fresh("_marketsim_os"), fresh("_marketsim_exact_class"),
                                            fresh("_marketsim_error"), fresh("_marketsim_logging"))
        # One statement, so the imports rule never puts its helpers inside the block and
        # the next run finds it right after the import.
        code = (
            f"try:\n"
            f"    import os as {os_name}\n"
            f'    if {os_name}.environ.get("{ENV_VAR}", "").strip().lower() in {TRUTHY_SET}:\n'
            f"        from {RUNTIME_MODULE} import {RUNTIME_FACTORY} as {factory}\n"
            f"        {name} = {factory}({name})\n"
            f"except Exception as {error}:  # migrate not installed here, or the class refused\n"
            f"    import logging as {logging}\n"
            f"    {logging}.getLogger(__name__).warning(\n"
            f'        "{ENV_VAR} is set but migrate\'s exact forecaster is unavailable (%s); "\n'
            f'        "using toto-ts\'s {TOTO_CLASS}", {error})\n'
        )
        statements = parse_code(code, self.module)
        note = comment_line(f"PERF: {ENV_VAR}={'/'.join(TRUTHY)} swaps in migrate's exact "
                            f"{TOTO_CLASS} (same forecast distribution; added by migrate apply)")
        return [statements[0].with_changes(leading_lines=[note])]


class ExactTotoRule(Rule):
    name = "exact-toto"
    summary = (f"after `from toto.inference.forecaster import {TOTO_CLASS}` (or "
               f"toto.toto...), the name becomes migrate's exact forecaster when the flag is "
               f"{'/'.join(TRUTHY)}; migrate not importable: the original stays, one warning")
    env_var = ENV_VAR
    triggers = (TOTO_CLASS.encode(),)

    def wants(self, ctx: ModuleContext) -> bool:
        return super().wants(ctx) and b"toto" in ctx.source

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        if not ctx.facts.toto_imports:
            return module, Status.NOT_APPLICABLE
        rewriter = _Rewriter(module, ctx)
        body = rewriter.block(module.body)
        result = module if body is None else module.with_changes(body=body)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = ExactTotoRule()
