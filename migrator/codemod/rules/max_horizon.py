"""max-horizon: function-local `max_horizon = <int>` becomes MARKETSIM_MAX_HORIZON-driven.

`max_horizon = 7` in `_compute_toto_forecast` sets how many walk-forward origins
(model calls) each key gets. The rewrite keeps the old value in a `# PERF:`
comment and reads the variable at call time through the `_marketsim_env_int`
helper. Unset or not an integer: the literal it replaces (or --max-horizon when
given), so the patched code computes what the original did until the user sets
the variable. It never raises.

What consumes the forecasts decides which values are safe. The real backtest
compares its walk-forward forecasts with a fixed window (`validation =
price[-7:]`, then `validation["y"][:-1] - prediction_np`): any horizon other
than 7 breaks it (a broadcast error, or silently different numbers). When the
module holds such a window of exactly the literal's size (module facts:
`forecast_windows`), the inserted read is pinned to it (`low=high=7`: another
value runs with 7 and logs one warning), the report names the window's line,
and a --max-horizon other than 7 is refused unless --allow-unsafe-horizon.
"""

from __future__ import annotations

import libcst as cst

from migrator.backtest import WAS_COMMENT, HORIZON, HORIZON_ENV, Window
from migrator.codemod.rule import (
    ModuleContext, PatchError, Rule, StatementWalker, Status, assigned_name, comment_line,
    has_string_literal, outcome, parse_code,
)
from migrator.codemod.env_helpers import ENV_INT

ENV_VAR = HORIZON_ENV
UNSAFE_FLAG = "--allow-unsafe-horizon"


def window_for(ctx: ModuleContext, literal: int) -> Window | None:
    """The module's fixed forecast window of exactly `literal` rows, if it has one."""
    return next((w for w in ctx.facts.forecast_windows if w.rows == literal), None)


class _Rewriter(StatementWalker):
    def __init__(self, module: cst.Module, ctx: ModuleContext) -> None:
        super().__init__()
        self.module = module
        self.ctx = ctx
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
        if self.in_function and self.skip_function[-1] and self.ctx.options.max_horizon is not None:
            return self._update(updated_node)
        if not self.in_function or self.skip_function[-1]:
            return updated_node
        if any(isinstance(small, (cst.Global, cst.Nonlocal))
               and any(item.name.value == HORIZON for item in small.names)
               for small in updated_node.body):
            # `global max_horizon`: the assignments below are not function-local.
            self.skip_function[-1] = True
            return updated_node
        body = list(updated_node.body)
        notes: list[str] = []
        for index, small in enumerate(body):
            if assigned_name(small) == HORIZON and isinstance(small.value, cst.Integer):  # type: ignore[union-attr]
                literal = small.value.evaluated_value  # type: ignore[union-attr]
                read, note = self._env_read(literal)
                body[index] = small.with_changes(value=read)  # type: ignore[union-attr]
                notes.append(note)
        if not notes:
            return updated_node
        self.changed += 1
        return updated_node.with_changes(
            body=body, leading_lines=[*updated_node.leading_lines, *map(comment_line, notes)])

    def _update(self, line: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        """A given --max-horizon replaces the default of a read an earlier apply inserted
        (`# PERF: was N; ...` above `max_horizon = _marketsim_env_int("MARKETSIM_MAX_HORIZON", D...)`),
        with the same checks as a first apply; journaled like any change."""
        was = next((int(m.group(1)) for m in (WAS_COMMENT.match(l.comment.value) for l in line.leading_lines
                                               if l.comment is not None) if m), None)
        if was is None or len(line.body) != 1 or assigned_name(line.body[0]) != HORIZON:
            return line
        call = line.body[0].value  # type: ignore[attr-defined]
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name)
                and call.func.value.startswith(ENV_INT) and len(call.args) >= 2
                and isinstance(call.args[1].value, cst.Integer)
                and has_string_literal(call.args[0], ENV_VAR)):
            return line
        default = int(call.args[1].value.value)
        if default == self.ctx.options.max_horizon:
            return line
        read, note = self._env_read(was)
        self.changed += 1
        self.ctx.note(f"{self.ctx.label}: max_horizon's default {default} becomes "
                      f"{self.ctx.options.max_horizon} (--max-horizon)")
        leading = [comment_line(note) if l.comment is not None and WAS_COMMENT.match(l.comment.value) else l
                   for l in line.leading_lines]
        return line.with_changes(body=[line.body[0].with_changes(value=read)], leading_lines=leading)

    def _env_read(self, literal: int) -> tuple[cst.BaseExpression, str]:
        """The call replacing `literal`, and the `# PERF:` note above it."""
        options, ctx = self.ctx.options, self.ctx
        default = literal if options.max_horizon is None else options.max_horizon
        window = window_for(ctx, literal)
        bounds = ""
        if window is not None and not (options.allow_unsafe_horizon and default != window.rows):
            if default != window.rows:
                raise PatchError(
                    f"{ctx.label}:{window.line}: --max-horizon {default} would break this "
                    f"backtest: `{window.text}` compares the walk-forward forecasts with a fixed "
                    f"{window.rows}-row window, which needs max_horizon {window.rows} "
                    f"(pass {UNSAFE_FLAG} to patch anyway)")
            bounds = f", low={window.rows}, high={window.rows}"
            ctx.note(f"{ctx.label}:{window.line}: `{window.text}` compares the forecasts with a "
                     f"fixed {window.rows}-row window: {ENV_VAR} other than {window.rows} would "
                     f"break the backtest, so the patched code runs with {window.rows} and logs "
                     f"one warning")
        elif window is not None:
            ctx.note(f"{ctx.label}:{window.line}: --max-horizon {default} with "
                     f"{UNSAFE_FLAG}: `{window.text}` compares the forecasts with a fixed "
                     f"{window.rows}-row window; expect a crash or different numbers")
        if default != literal:
            for assignment in ctx.facts.horizon_assignments:
                if assignment.value == literal:
                    ctx.note(f"{ctx.label}:{assignment.line}: --max-horizon {default}: with "
                             f"{ENV_VAR} unset, {assignment.function} walks {default} forecast "
                             f"origins instead of {literal} (the results change)")
        helper = ctx.helper(ENV_INT)
        statement = parse_code(f'{helper}("{ENV_VAR}", {default}{bounds})', self.module)[0]
        pinned = f"; other values run with {window.rows}" if bounds and window else ""
        note = (f"PERF: was {literal}; {ENV_VAR} sets it (default {default}{pinned}, "
                f"added by migrate apply)")
        return statement.body[0].value, note  # type: ignore[attr-defined]


class MaxHorizonRule(Rule):
    name = "max-horizon"
    summary = ("function-local `max_horizon = <int>` becomes env-driven (unset or not an "
               "integer: the original value, or --max-horizon; pinned to a fixed forecast "
               "window of that size when the module compares the forecasts with one)")
    env_var = ENV_VAR
    triggers = (HORIZON.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        for line, literal, default in ctx.facts.earlier_horizon_reads:
            ctx.note(f"{ctx.label}:{line}: an earlier `migrate apply` made the default {default} "
                     f"(was {literal}): with {ENV_VAR} unset this walks {default} forecast origins "
                     f"and the results differ from the original's; "
                     f"`migrate apply --max-horizon {literal}{ctx.options.root_option}` restores "
                     f"the original default")
        rewriter = _Rewriter(module, ctx)
        result = rewriter.walk(module)
        if rewriter.changed:
            ctx.helpers_needed.add(ENV_INT)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.env_in_source)


RULE = MaxHorizonRule()
