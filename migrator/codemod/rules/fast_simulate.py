"""fast-simulate: functions taking `num_simulations` honour MARKETSIM_FAST_SIMULATE.

Newer upstream versions of `backtest_forecasts(symbol, num_simulations=50)` start
with this check; older ones lack it. The rule adds it at the top of the body
(after the docstring) of every function with a `num_simulations` parameter
that does not already mention the variable in a string literal.
"""

from __future__ import annotations

import libcst as cst

from migrator.codemod.rule import (
    ModuleContext, Rule, StatementWalker, Status, comment_line, has_string_literal,
    is_docstring, outcome, parse_code,
)
from migrator.codemod.rules.env_helpers import ENV_FLAG, TRUTHY

ENV_VAR = "MARKETSIM_FAST_SIMULATE"
_PARAM = "num_simulations"


def _has_param(params: cst.Parameters, name: str) -> bool:
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return any(param.name.value == name for param in every)


class _Rewriter(StatementWalker):
    def __init__(self, module: cst.Module, ctx: ModuleContext) -> None:
        super().__init__()
        self.module = module
        self.cap = ctx.options.fast_simulations
        self.env_in_source = ENV_VAR.encode() in ctx.source
        self.changed = 0
        self.already = 0

    def leave_function(self, original: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if not _has_param(updated_node.params, _PARAM):
            return updated_node
        if self.env_in_source and has_string_literal(updated_node.body, ENV_VAR):
            self.already += 1
            return updated_node
        self.changed += 1
        check = parse_code(
            f'if {ENV_FLAG}("{ENV_VAR}") and isinstance({_PARAM}, int):\n'
            f"    {_PARAM} = min({_PARAM}, {self.cap})\n",
            self.module,
        )[0].with_changes(leading_lines=[comment_line(
            f"PERF: {ENV_VAR}={'/'.join(TRUTHY)} caps the simulations at {self.cap} "
            f"(added by migrate apply)")])
        body = updated_node.body
        if isinstance(body, cst.SimpleStatementSuite):
            # `def f(num_simulations): return g()` -> an indented block.
            block = cst.IndentedBlock(
                body=[check, cst.SimpleStatementLine(body=body.body)],
                header=body.trailing_whitespace,
            )
            return updated_node.with_changes(body=block)
        statements = list(body.body)
        at = 1 if statements and is_docstring(statements[0]) else 0
        statements.insert(at, check)
        return updated_node.with_changes(body=body.with_changes(body=statements))


class FastSimulateRule(Rule):
    name = "fast-simulate"
    summary = ("functions with a `num_simulations` parameter cap it at --fast-simulations "
               "(default 35) when the flag is 1/true/yes/on")
    env_var = ENV_VAR
    triggers = (_PARAM.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        rewriter = _Rewriter(module, ctx)
        result = rewriter.walk(module)
        if rewriter.changed:
            ctx.helpers_needed.add(ENV_FLAG)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = FastSimulateRule()
