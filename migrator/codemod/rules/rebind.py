"""The runtime rebinding shared by exact-toto and exact-kronos.

Where a module imports a model class it really calls (`from M import Class`, at
module level, in a function or method, in a try/except fallback, in the `else:`
of an `if TYPE_CHECKING:`), the rule inserts, right after the statement that
binds the name (the import itself, or the whole try/except or if/else holding
it), one `try:` block that reads an environment variable at run time and, when
it says so, rebinds the name to migrate's drop-in subclass of that very class.

- Unset (or 0/false/no/off, empty): the block does nothing.
- On: the name becomes `factory(Class)`. Any other value: one warning, the class stays.
- The name is not a class at that point (a failed import's `None`, an alias):
  silent, nothing changes. Imports under `if TYPE_CHECKING:` are typing only
  and are never followed by a block.
- migrate not importable in the backtest's environment, or the class refused:
  the original stays and one warning is logged.

The block imports what it needs itself, under names the module does not use,
so it works wherever the import sits. It is one statement, right after the
binding statement: a binding already followed by a block mentioning the
variable is left as it is (idempotent). Because a module-level binding and its
block are two top-level statements, which the engine would otherwise parse as
separate pieces, a module with such a binding is parsed whole (see
`Rule.whole_module`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import libcst as cst

from migrator.backtest import ClassImport
from migrator.codemod.rule import ModuleContext, Rule, Status, comment_line, has_string_literal, \
    outcome, parse_code
from migrator.codemod.env_helpers import FALSY, TRUTHY

_NESTED = (cst.Try, cst.TryStar, cst.If, cst.Else, cst.With, cst.ExceptHandler,
           cst.ExceptStarHandler, cst.Finally, cst.IndentedBlock, cst.SimpleStatementLine)


def _as_set(values: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{value}"' for value in values) + "}"


@dataclasses.dataclass(frozen=True)
class Rebinding:
    """What one rule rebinds, and to what."""

    env_var: str
    class_name: str  # the class as the module imports it (`from M import <class_name>`)
    accepts: Callable[[str], bool]  # whether `M` (dotted, absolute) provides the real class
    runtime_module: str
    factory: str  # runtime_module's function: factory(Class[, shared=...]) -> subclass
    replacement: str  # for the note: "migrate's exact TotoForecaster"
    original: str  # for warnings: "toto-ts's TotoForecaster"
    unavailable: str  # for the warning: "migrate's exact forecaster"
    effect: str  # for the note: "same forecast distribution"
    # A value that turns it on with factory(..., shared=True) (documented opt-in), if any.
    shared_value: str | None = None

    @property
    def on_values(self) -> tuple[str, ...]:
        return TRUTHY + ((self.shared_value,) if self.shared_value else ())

    def imports(self, ctx: ModuleContext) -> list[ClassImport]:
        return ctx.facts.class_imports(self.class_name, self.accepts)


def dotted(node: cst.BaseExpression | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


def is_typing_only(test: cst.BaseExpression) -> bool:
    """`if TYPE_CHECKING:` / `if typing.TYPE_CHECKING:`: its body never runs."""
    return dotted(test).split(".")[-1] == "TYPE_CHECKING"


def _binding(node: cst.CSTNode, spec: Rebinding) -> str | None:
    """The local name a runtime import of the class in `node` binds (searching nested
    try/if/with blocks, never functions, classes or `if TYPE_CHECKING:` bodies), else None."""
    if isinstance(node, cst.ImportFrom):
        if node.relative or isinstance(node.names, cst.ImportStar) \
                or not spec.accepts(dotted(node.module)):
            return None
        for alias in node.names:
            if isinstance(alias.name, cst.Name) and alias.name.value == spec.class_name:
                return alias.asname.name.value if alias.asname is not None else spec.class_name  # type: ignore[union-attr]
        return None
    if isinstance(node, cst.If) and is_typing_only(node.test):
        return _binding(node.orelse, spec) if node.orelse is not None else None
    if isinstance(node, _NESTED):
        for child in node.children:
            found = _binding(child, spec)
            if found is not None:
                return found
    return None


class _Rewriter:
    def __init__(self, module: cst.Module, ctx: ModuleContext, spec: Rebinding) -> None:
        self.module = module
        self.facts = ctx.facts
        self.spec = spec
        self.changed = 0
        self.already = 0

    def block(self, statements: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        """The statements with the block after each binding; None when unchanged."""
        result: list[cst.BaseStatement] = []
        changed = False
        for index, statement in enumerate(statements):
            new = self.statement(statement)
            changed |= new is not statement
            result.append(new)
            name = _binding(statement, self.spec)
            if name is None:
                continue
            following = statements[index + 1] if index + 1 < len(statements) else None
            if following is not None and has_string_literal(following, self.spec.env_var):
                self.already += 1
                continue
            result.append(self._block(name))
            self.changed += 1
            changed = True
        return result if changed else None

    def statement(self, node: cst.BaseStatement) -> cst.BaseStatement:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and isinstance(node.body, cst.IndentedBlock):
            body = self.block(node.body.body)
            if body is not None:
                return node.with_changes(body=node.body.with_changes(body=body))
        return node

    def _block(self, name: str) -> cst.BaseStatement:
        spec, fresh = self.spec, self.facts.fresh_name
        os_name, mode, factory, error, logging = (
            fresh("_marketsim_os"), fresh("_marketsim_mode"), fresh("_marketsim_exact_class"),
            fresh("_marketsim_error"), fresh("_marketsim_logging"))
        shared = f", shared={mode} == \"{spec.shared_value}\"" if spec.shared_value else ""
        accepted = "/".join(spec.on_values)
        code = (
            f"try:\n"
            f"    import os as {os_name}\n"
            f'    {mode} = {os_name}.environ.get("{spec.env_var}", "").strip().lower()\n'
            f"    if {mode} in {_as_set(spec.on_values)}:\n"
            f"        if isinstance({name}, type):  # not a failed import's None\n"
            f"            from {spec.runtime_module} import {spec.factory} as {factory}\n"
            f"            {name} = {factory}({name}{shared})\n"
            f"    elif {mode} not in {_as_set(FALSY)}:\n"
            f"        import logging as {logging}\n"
            f"        {logging}.getLogger(__name__).warning(\n"
            f'            "{spec.env_var}=%r is not one of {accepted}; using {spec.original}", {mode})\n'
            f"except Exception as {error}:  # migrate not installed here, or the class refused\n"
            f"    import logging as {logging}\n"
            f"    {logging}.getLogger(__name__).warning(\n"
            f'        "{spec.env_var} is set but {spec.unavailable} is unavailable (%s); "\n'
            f'        "using {spec.original}", {error})\n'
        )
        statement = parse_code(code, self.module)[0]
        shared_note = (f"; {spec.shared_value}: one call's paths reused by the other calls on "
                       f"the same input, opt-in" if spec.shared_value else "")
        note = comment_line(f"PERF: {spec.env_var}={'/'.join(TRUTHY)} swaps in {spec.replacement} "
                            f"({spec.effect}{shared_note}; added by migrate apply)")
        return statement.with_changes(leading_lines=[note])


class RebindRule(Rule):
    """A rule that rebinds one imported class (exact-toto, exact-kronos)."""

    spec: Rebinding

    def __init_subclass__(cls, **kwargs: object) -> None:
        # What every rule declares, derived from its Rebinding: the variable its block reads, and
        # the class name that makes a module a candidate.
        super().__init_subclass__(**kwargs)
        cls.env_var = cls.spec.env_var
        cls.triggers = (cls.spec.class_name.encode(),)

    def wants(self, ctx: ModuleContext) -> bool:
        return super().wants(ctx) and b"import" in ctx.source

    def whole_module(self, ctx: ModuleContext) -> bool:
        # A module-level binding and its block are consecutive top-level statements.
        return any(found.module_level for found in self.spec.imports(ctx))

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        if not self.spec.imports(ctx):
            return module, Status.NOT_APPLICABLE
        rewriter = _Rewriter(module, ctx, self.spec)
        body = rewriter.block(module.body)
        result = module if body is None else module.with_changes(body=body)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)
