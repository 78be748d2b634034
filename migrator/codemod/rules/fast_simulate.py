"""fast-simulate: the functions that run the simulations honour MARKETSIM_FAST_SIMULATE.

Newer upstream versions of `backtest_forecasts(symbol, num_simulations=50)` start
with this check; older ones lack it. The rule adds it at the top of the body
(after the docstring) of a function with a `num_simulations` parameter that runs
the simulations: it loops over `range(num_simulations)` (any `range(...)` whose
arguments use the name), or passes `num_simulations` on to a function of the
module that does (module facts: `simulation_runners`). A function that merely
takes the parameter, such as `_log_strategy_summary(results_df, symbol,
num_simulations)`, is left alone, and so is one that already mentions the
variable in a string literal.
"""

from __future__ import annotations

import libcst as cst

from migrator.codemod.rule import (
    ModuleContext, Rule, StatementWalker, Status, after_docstring, comment_line,
    has_string_literal, outcome, parse_code,
)
from migrator.backtest import SIMULATIONS
from migrator.codemod.env_helpers import ENV_FLAG, TRUTHY

ENV_VAR = "MARKETSIM_FAST_SIMULATE"
DEFAULT_CAP = 35  # the guide's reduced simulation count (50 -> 35)
_PARAM = SIMULATIONS


def _has_param(params: cst.Parameters, name: str) -> bool:
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return any(param.name.value == name for param in every)


class _RunsSimulations(cst.CSTVisitor):
    """Whether a function's code does what makes facts.simulation_runners list a
    function: `range(... num_simulations ...)`, or a call of a runner with the name."""

    def __init__(self, runners: frozenset[str]) -> None:
        super().__init__()
        self.runners = runners
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        name = func.value if isinstance(func, cst.Name) else \
            func.attr.value if isinstance(func, cst.Attribute) else None
        if name == "range":
            self.found |= any(_mentions(arg.value) for arg in node.args if arg.keyword is None)
        elif name in self.runners:
            self.found |= any(isinstance(arg.value, cst.Name) and arg.value.value == _PARAM
                              for arg in node.args)
        return not self.found


def _mentions(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Name):
        return node.value == _PARAM
    return any(_mentions(child) for child in node.children)


def _runs_simulations(function: cst.FunctionDef, runners: frozenset[str]) -> bool:
    if function.name.value not in runners:
        return False
    visitor = _RunsSimulations(runners)
    function.body.visit(visitor)
    return visitor.found


_CAPS = "caps the simulations at"
_OURS = "(added by migrate apply)"


def _ours(line: cst.EmptyLine) -> bool:
    """The comment this rule writes above the check it inserts."""
    return line.comment is not None and _CAPS in line.comment.value and _OURS in line.comment.value


def _inserted_cap(statement: cst.BaseStatement) -> int | None:
    """The cap of a check this rule inserted (its `# PERF: ... caps the simulations at N
    (added by migrate apply)` comment above), else None (upstream's own check, or another)."""
    if not isinstance(statement, cst.If) or not any(_ours(line) for line in statement.leading_lines):
        return None
    inner = statement.body.body[0] if isinstance(statement.body, cst.IndentedBlock) else None
    value = inner.body[0].value if isinstance(inner, cst.SimpleStatementLine) \
        and isinstance(inner.body[0], cst.Assign) else None
    if isinstance(value, cst.Call) and len(value.args) == 2 and isinstance(value.args[1].value, cst.Integer):
        return int(value.args[1].value.value)
    return None




class _Rewriter(StatementWalker):
    def __init__(self, module: cst.Module, ctx: ModuleContext) -> None:
        super().__init__()
        self.module = module
        self.ctx = ctx
        self.requested = ctx.options.fast_simulations  # None: not given on the command line
        self.cap = DEFAULT_CAP if self.requested is None else self.requested
        self.flag = ctx.helper(ENV_FLAG)
        self.runners = ctx.facts.simulation_runners
        self.env_in_source = ENV_VAR.encode() in ctx.source
        self.changed = 0
        self.already = 0

    def _check(self) -> cst.BaseStatement:
        return parse_code(
            f'if {self.flag}("{ENV_VAR}") and isinstance({_PARAM}, int):\n'
            f"    {_PARAM} = min({_PARAM}, {self.cap})\n",
            self.module,
        )[0].with_changes(leading_lines=[comment_line(
            f"PERF: {ENV_VAR}={'/'.join(TRUTHY)} {_CAPS} {self.cap} {_OURS}")])

    def _update(self, function: cst.FunctionDef) -> cst.FunctionDef:
        """A given --fast-simulations replaces the cap of the check this rule inserted
        before (journaled like any change); a check of the module's own is left alone,
        and the report says the value does not apply there."""
        body = function.body
        statements = list(body.body) if isinstance(body, cst.IndentedBlock) else []
        for index, statement in enumerate(statements):
            cap = _inserted_cap(statement)
            if cap is None:
                continue
            if cap == self.cap:
                return function
            self.ctx.note(f"{self.ctx.label}: {function.name.value}: the {ENV_VAR} cap {cap} "
                          f"becomes {self.cap} (--fast-simulations)")
            fresh = self._check()
            replaced = fresh.with_changes(leading_lines=[
                fresh.leading_lines[0] if _ours(line) else line for line in statement.leading_lines])
            statements[index] = replaced
            self.changed += 1
            return function.with_changes(body=body.with_changes(body=statements))
        self.ctx.note(f"{self.ctx.label}: {function.name.value} reads {ENV_VAR} in its own code "
                      f"(not added by migrate): --fast-simulations {self.cap} does not change it")
        return function

    def leave_function(self, original: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if not _has_param(updated_node.params, _PARAM):
            return updated_node
        if self.env_in_source and has_string_literal(updated_node.body, ENV_VAR):
            if self.requested is not None:
                updated = self._update(updated_node)
                if updated is not updated_node:
                    return updated
            self.already += 1
            return updated_node
        if not _runs_simulations(updated_node, self.runners):
            return updated_node
        self.changed += 1
        check = self._check()
        body = updated_node.body
        if isinstance(body, cst.SimpleStatementSuite):
            # `def f(num_simulations): return g()` -> an indented block.
            block = cst.IndentedBlock(
                body=[check, cst.SimpleStatementLine(body=body.body)],
                header=body.trailing_whitespace,
            )
            return updated_node.with_changes(body=block)
        statements, at = after_docstring(body.body)
        statements.insert(at, check)
        return updated_node.with_changes(body=body.with_changes(body=statements))


class FastSimulateRule(Rule):
    name = "fast-simulate"
    summary = ("functions that run the simulations (a `num_simulations` parameter they loop "
               "over with range(), or pass on to one that does) cap it at --fast-simulations "
               f"(default 35) when the flag is {'/'.join(TRUTHY)}")
    env_var = ENV_VAR
    triggers = (_PARAM.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        rewriter = _Rewriter(module, ctx)
        result = rewriter.walk(module)
        if rewriter.changed:
            ctx.helpers_needed.add(ENV_FLAG)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = FastSimulateRule()
