"""fast-optimize: scipy optimizer budgets shrink when MARKETSIM_FAST_OPTIMIZE is on.

`direct(objective, bounds=bounds, maxfun=maxfun)` (500 and 240 evaluations in
upstream src/optimization_utils.py) gets at most 100 evaluations, as the guide
documents. `differential_evolution(..., maxiter=maxiter, popsize=popsize)` keeps
its popsize and gets maxiter // 5 iterations (at least 1): its
(maxiter + 1) * popsize * len(bounds) evaluations shrink about 5x, the same
proportion as 500 -> 100. Both go through the `_marketsim_fast_budget` helper,
which leaves the budget alone when the flag is off. Only calls that resolve to
scipy.optimize (by the module's imports) are touched, and only their keyword
argument; a module that already reads the variable is left as it is.
"""

from __future__ import annotations

import libcst as cst

from migrator.codemod.rule import ModuleContext, Rule, Status, comment_line, outcome
from migrator.codemod.env_helpers import FAST_BUDGET, TRUTHY

ENV_VAR = "MARKETSIM_FAST_OPTIMIZE"
FAST_MAXFUN = 100
DE_DIVISOR = 5

# scipy.optimize function -> (budget keyword, keyword argument of the helper)
_BUDGETS: dict[str, tuple[str, tuple[str, int]]] = {
    "direct": ("maxfun", ("cap", FAST_MAXFUN)),
    "differential_evolution": ("maxiter", ("divisor", DE_DIVISOR)),
}


def _dotted(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        base = _dotted(expr.value)
        return None if base is None else f"{base}.{expr.attr.value}"
    return None


class _Rewriter(cst.CSTTransformer):
    def __init__(self, calls: dict[str, str]) -> None:
        super().__init__()
        self.calls = calls
        self.changed = 0
        self.already = 0
        self._changed_before_line: list[int] = []

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._changed_before_line.append(self.changed)

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if self.changed == self._changed_before_line.pop():
            return updated_node
        note = comment_line(f"PERF: {ENV_VAR}=1 shrinks the optimizer budget "
                            f"(added by migrate apply)")
        return updated_node.with_changes(leading_lines=[*updated_node.leading_lines, note])

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        function = self.calls.get(_dotted(updated_node.func) or "")
        if function is None:
            return updated_node
        keyword, (option, value) = _BUDGETS[function]
        args = list(updated_node.args)
        for index, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == keyword:
                if isinstance(arg.value, cst.Call) and _dotted(arg.value.func) == FAST_BUDGET:
                    self.already += 1
                    return updated_node
                no_space = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                           whitespace_after=cst.SimpleWhitespace(""))
                reduced = cst.Call(func=cst.Name(FAST_BUDGET), args=[
                    cst.Arg(value=arg.value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    cst.Arg(keyword=cst.Name(option), value=cst.Integer(str(value)), equal=no_space),
                ])
                args[index] = arg.with_changes(value=reduced)
                self.changed += 1
                return updated_node.with_changes(args=args)
        return updated_node


class FastOptimizeRule(Rule):
    name = "fast-optimize"
    summary = (f"scipy direct(maxfun=...) capped at {FAST_MAXFUN}, differential_evolution "
               f"maxiter divided by {DE_DIVISOR}, when the flag is {'/'.join(TRUTHY)}")
    env_var = ENV_VAR
    triggers = (b"maxfun", b"maxiter")

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        calls = ctx.facts.scipy_calls  # module-wide: `module` may be a part of the file
        if not calls:
            return module, Status.NOT_APPLICABLE
        if ENV_VAR.encode() in ctx.source and ctx.facts.has_string(ENV_VAR):
            return module, Status.ALREADY_APPLIED
        rewriter = _Rewriter(calls)
        result = module.visit(rewriter)
        if rewriter.changed:
            ctx.helpers_needed.add(FAST_BUDGET)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = FastOptimizeRule()
