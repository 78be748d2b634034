"""Where the backtest reads MARKETSIM_* variables, who put each read there, and what
the current environment makes it do.

A read is a string literal `MARKETSIM_...` passed to os.getenv / os.environ.get /
os.environ[...] / `in os.environ`, or as the first argument of a module function
that reads the environment (upstream's `_read_int_env`, migrate's `_marketsim_*`
helpers). It is migrate's hook when it goes through or sits in a `_marketsim_*`
helper, or a `# PERF:` / `# migrate:` comment (what `migrate apply` writes) sits
just above its statement; otherwise it is upstream's own code.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any, Mapping

from migrator.backtest.evaluate import (
    source_text,
    ENV_GETTERS, Evaluator, Unknown, dotted, env_reading_functions, evaluate, to_json,
)

PREFIX = "MARKETSIM_"
HELPER_PREFIX = "_marketsim_"
_MARKER = re.compile(r"#\s*(PERF:|migrate:)|added by migrate", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class EnvRead:
    var: str
    location: str  # file:line
    function: str | None  # the enclosing top-level or nested def, None at module level
    via: str  # os.getenv, os.environ[...], _marketsim_env_int, _read_int_env, ...
    origin: str  # "migrate" or "upstream"
    marker: str | None  # the migrate comment above the statement, if any
    statement_text: str  # the statement's first line, as written
    called_from: tuple[str, ...]  # for a read inside a `_marketsim_*` helper: where the helper is called
    node: ast.expr = dataclasses.field(compare=False, repr=False)
    statement: ast.stmt = dataclasses.field(compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"var": self.var, "location": self.location, "function": self.function, "via": self.via,
                "origin": self.origin, "marker": self.marker, "statement": self.statement_text,
                "called_from": list(self.called_from)}


def find_env_reads(tree: ast.Module, lines: list[str], path: Path) -> list[EnvRead]:
    env_functions = env_reading_functions(tree)
    calls: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith(HELPER_PREFIX):
            calls.setdefault(node.func.id, []).append(f"{path}:{node.lineno}")
    reads: list[EnvRead] = []

    def record(var: Any, node: ast.expr, via: str, function: str | None, statement: ast.stmt | None) -> None:
        if not (isinstance(var, str) and var.startswith(PREFIX)) or statement is None:
            return
        marker = _marker_above(lines, statement)
        migrate = via.startswith(HELPER_PREFIX) or (function or "").startswith(HELPER_PREFIX) or marker is not None
        reads.append(EnvRead(
            var=var, location=f"{path}:{node.lineno}", function=function, via=via,
            origin="migrate" if migrate else "upstream", marker=marker,
            statement_text=lines[statement.lineno - 1].strip() if statement.lineno <= len(lines) else "",
            called_from=tuple(calls.get(function or "", ())) if (function or "").startswith(HELPER_PREFIX) else (),
            node=node, statement=statement))

    def visit(node: ast.AST, function: str | None, statement: ast.stmt | None) -> None:
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = dotted(node.func) or ""
            short = name.rsplit(".", 1)[-1]
            if name in ENV_GETTERS or short.startswith(HELPER_PREFIX) or name in env_functions:
                record(node.args[0].value, node, name, function, statement)
        elif isinstance(node, ast.Subscript) and dotted(node.value) in ("os.environ", "environ") \
                and isinstance(node.slice, ast.Constant):
            record(node.slice.value, node, "os.environ[...]", function, statement)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and len(node.ops) == 1 \
                and isinstance(node.ops[0], (ast.In, ast.NotIn)) \
                and dotted(node.comparators[0]) in ("os.environ", "environ"):
            record(node.left.value, node, "in os.environ", function, statement)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name, child)
            elif isinstance(child, ast.stmt):
                visit(child, function, child)
            else:
                visit(child, function, statement)

    visit(tree, None, None)
    return reads


def _marker_above(lines: list[str], statement: ast.stmt) -> str | None:
    """The migrate comment among the comment lines just above the statement, or on its line."""
    first = statement.lineno - 1
    index = first
    candidates = [lines[first]] if first < len(lines) else []
    while index > 0 and lines[index - 1].strip().startswith("#"):
        index -= 1
        candidates.append(lines[index])
    for line in candidates:
        comment = line[line.find("#"):] if "#" in line else ""
        if comment and _MARKER.search(comment):
            return comment.strip()
    return None


@dataclasses.dataclass(frozen=True)
class HookEffect:
    read: EnvRead
    env_value: str | None  # the variable's current value, None when unset
    value: Any  # what the read expression yields (the helper's result), or Unknown
    effect: str  # what that makes the statement do

    def as_json(self) -> dict[str, Any]:
        document = self.read.as_json()
        document.update({"env_value": self.env_value,
                         "value": to_json(self.value),
                         "effect": self.effect})
        return document


def hook_effects(tree: ast.Module, reads: tuple[EnvRead, ...], env: Mapping[str, str],
                 evaluator: Evaluator | None = None) -> list[HookEffect]:
    """`evaluator`: the module's bounded evaluation under `env` (BacktestFacts.evaluator)."""
    evaluator = evaluator or Evaluator(tree, env)
    return [_effect(tree, read, env, evaluator) for read in reads]


def _effect(tree: ast.Module, read: EnvRead, env: Mapping[str, str], evaluator: Evaluator) -> HookEffect:
    # Module-level code sees the constants assigned above it; functions run after import.
    line = read.statement.lineno if read.function is None else None
    value = evaluate(tree, read.node, env, evaluator, line)
    statement = read.statement
    shown = _show(value)
    read_text = source_text(read.node)
    if isinstance(statement, (ast.If, ast.While)) and _contains(statement.test, read.node):
        test = evaluate(tree, statement.test, env, evaluator, line)
        body = source_text(statement.body[0]).splitlines()[0] if statement.body else "pass"
        if isinstance(test, Unknown):
            effect = (f"`{read_text}` is {shown}; the condition `{source_text(statement.test)}` also "
                      f"depends on run-time values; when it holds: `{body}`")
        elif test:
            effect = f"`{source_text(statement.test)}` is true: runs `{body}`"
        else:
            effect = f"`{source_text(statement.test)}` is false: skipped" + (
                f", runs the else branch `{source_text(statement.orelse[0]).splitlines()[0]}`"
                if statement.orelse else "")
    elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None \
            and _contains(statement.value, read.node):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        whole = evaluate(tree, statement.value, env, evaluator, line)
        target_text = " = ".join(source_text(t) for t in targets)
        if isinstance(whole, Unknown):
            effect = f"`{read_text}` is {shown}; {target_text} also depends on run-time values"
        else:
            effect = f"{target_text} = {whole!r}"
            if read.function is not None and len(targets) == 1 and isinstance(targets[0], ast.Name):
                effect = _then(tree, evaluator, statement, targets[0].id, whole, effect)
    else:
        effect = f"`{read_text}` is {shown}"
    if read.called_from:
        effect += f" (in {read.function}, called at {', '.join(read.called_from)})"
    return HookEffect(read, env.get(read.var), value, effect)


def _then(tree: ast.Module, evaluator: Evaluator, statement: ast.stmt, name: str, value: Any,
          effect: str) -> str:
    """Follow the statements after the hook in its block that reassign `name` (a floor the
    hook applies, a guard): the value the function goes on with, or why it is not known."""
    block = _block_of(tree, statement)
    local = {name: value}
    for later in block[block.index(statement) + 1:]:
        if not any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                   for n in ast.walk(later)):
            continue
        try:
            evaluator.execute(later, local)
        except Exception as exc:  # Unresolvable, ModuleRaises, a return: not followed further
            return f"{effect}, then line {later.lineno} may change it ({str(exc) or 'not followed'})"
    if local.get(name) != value:
        return f"{name} = {local.get(name)!r} (the read gives {value!r}; the lines after it change it)"
    return effect


def _block_of(tree: ast.Module, statement: ast.stmt) -> list[ast.stmt]:
    return _blocks(tree).get(id(statement), [statement])


@functools.lru_cache(maxsize=16)  # keyed by the tree object: indexed once per module
def _blocks(tree: ast.Module) -> dict[int, list[ast.stmt]]:
    """Each statement's enclosing statement list."""
    found: dict[int, list[ast.stmt]] = {}
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                for item in block:
                    found[id(item)] = block
    return found


def _show(value: Any) -> str:
    return f"unknown ({value.reason})" if isinstance(value, Unknown) else repr(value)


def _contains(tree: ast.AST, node: ast.AST) -> bool:
    return any(child is node for child in ast.walk(tree))
