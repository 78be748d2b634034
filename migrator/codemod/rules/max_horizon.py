"""max-horizon: function-local `max_horizon = <int>` becomes MARKETSIM_MAX_HORIZON-driven.

`max_horizon = 7` in `_compute_toto_forecast` walks 7 forecast origins per key
when only the 1-step forecast is used. The rewrite keeps the old value in a
`# PERF:` comment and reads the variable at call time through the
`_marketsim_env_int` helper: unset or not an integer -> the --max-horizon
default, below 1 -> 1, never an exception.
"""

from __future__ import annotations

import libcst as cst

from migrator.codemod.rule import (
    ModuleContext, Rule, StatementWalker, Status, assigned_name, comment_line,
    has_string_literal, outcome, parse_code,
)
from migrator.codemod.rules.env_helpers import ENV_INT

ENV_VAR = "MARKETSIM_MAX_HORIZON"
_TARGET = "max_horizon"


class _Rewriter(StatementWalker):
    def __init__(self, module: cst.Module, ctx: ModuleContext) -> None:
        super().__init__()
        self.module = module
        self.default = ctx.options.max_horizon
        self.env_in_source = ENV_VAR.encode() in ctx.source
        self.skip_function: list[bool] = []  # per enclosing function: already reads ENV_VAR
        self.changed = 0

    def enter_function(self, node: cst.FunctionDef) -> None:
        # Only worth the subtree scan when the variable name is in the file at all.
        self.skip_function.append(self.env_in_source and has_string_literal(node.body, ENV_VAR))

    def leave_function(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.skip_function.pop()
        return updated

    def leave_line(self, updated_node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not self.in_function or self.skip_function[-1]:
            return updated_node
        if any(isinstance(small, (cst.Global, cst.Nonlocal))
               and any(item.name.value == _TARGET for item in small.names)
               for small in updated_node.body):
            # `global max_horizon`: the assignments below are not function-local.
            self.skip_function[-1] = True
            return updated_node
        body = list(updated_node.body)
        was: list[str] = []
        for index, small in enumerate(body):
            if assigned_name(small) == _TARGET and isinstance(small.value, cst.Integer):  # type: ignore[union-attr]
                was.append(small.value.value)  # type: ignore[union-attr]
                body[index] = small.with_changes(value=self._env_read())  # type: ignore[union-attr]
        if not was:
            return updated_node
        self.changed += 1
        note = comment_line(f"PERF: was {', '.join(was)}; {ENV_VAR} sets it "
                            f"(default {self.default}, added by migrate apply)")
        return updated_node.with_changes(body=body,
                                         leading_lines=[*updated_node.leading_lines, note])

    def _env_read(self) -> cst.BaseExpression:
        statement = parse_code(f'{ENV_INT}("{ENV_VAR}", {self.default})', self.module)[0]
        return statement.body[0].value  # type: ignore[attr-defined]


class MaxHorizonRule(Rule):
    name = "max-horizon"
    summary = ("function-local `max_horizon = <int>` becomes env-driven "
               "(unset or not an integer: --max-horizon, default 1; below 1: 1)")
    env_var = ENV_VAR
    triggers = (_TARGET.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        rewriter = _Rewriter(module, ctx)
        result = rewriter.walk(module)
        if rewriter.changed:
            ctx.helpers_needed.add(ENV_INT)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.env_in_source)


RULE = MaxHorizonRule()
