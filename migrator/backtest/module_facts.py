"""Module-wide facts the rules need, read from Python's own `ast` (fast, in C).

The engine hands libcst only the top-level statements a rule can touch (see
engine.py), so whatever a rule must know about the whole module comes from here.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from functools import cached_property
from typing import Callable

# scipy.optimize functions whose budget fast-optimize reduces.
SCIPY_OPTIMIZERS = ("direct", "differential_evolution")


SIMULATIONS = "num_simulations"
HORIZON = "max_horizon"
HORIZON_ENV = "MARKETSIM_MAX_HORIZON"
WAS_COMMENT = re.compile(r"# PERF: was (\d+);")
TOTO_MODULES = ("toto.inference.forecaster", "toto.toto.inference.forecaster")
TOTO_CLASS = "TotoForecaster"


@dataclasses.dataclass(frozen=True)
class Window:
    """A fixed tail window (`validation = price[-7:]`) that code subtracts from or compares."""

    rows: int
    line: int
    function: str
    text: str  # the statement, as written


@dataclasses.dataclass(frozen=True)
class ClassImport:
    """A runtime `from M import Class` (see ModuleFacts.class_imports)."""

    line: int
    module_level: bool  # not inside a function or class body


@dataclasses.dataclass(frozen=True)
class HorizonAssignment:
    """A function-local `max_horizon = <int>`."""

    value: int
    line: int
    function: str


class ModuleFacts:
    """Facts about one module; each computed on first use from a single walk of its ast."""

    def __init__(self, tree: ast.Module, source: bytes = b"") -> None:
        self.tree = tree
        self.source = source

    @cached_property
    def _nodes(self) -> dict[type, list[ast.AST]]:
        """Every node of the module by type (one ast.walk serves every fact)."""
        index: dict[type, list[ast.AST]] = {}
        for node in ast.walk(self.tree):
            index.setdefault(type(node), []).append(node)
        return index

    def _of(self, *types: type) -> list[ast.AST]:
        return [node for kind in types for node in self._nodes.get(kind, ())]

    @cached_property
    def _functions(self) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return self._of(ast.FunctionDef, ast.AsyncFunctionDef)  # type: ignore[return-value]

    def _enclosing(self, node: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """The functions whose body holds `node` (by line span), innermost last."""
        line = getattr(node, "lineno", 0)
        found = [f for f in self._functions
                 if f.lineno < line <= (f.end_lineno or f.lineno)
                 or (f.lineno == line and node is not f and _in_body(f, node))]
        return sorted(found, key=lambda f: (f.lineno, f.col_offset))

    @cached_property
    def bound_names(self) -> frozenset[str]:
        """Names bound anywhere in the module (assigned, defined, imported, parameters)."""
        bound: set[str] = {node.id for node in self._of(ast.Name)  # type: ignore[attr-defined]
                           if not isinstance(node.ctx, ast.Load)}  # type: ignore[attr-defined]
        bound.update(node.name for node in self._of(  # type: ignore[attr-defined]
            ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        bound.update(node.arg for node in self._of(ast.arg))  # type: ignore[attr-defined]
        bound.update((node.asname or node.name).split(".")[0]  # type: ignore[attr-defined]
                     for node in self._of(ast.alias))
        for node in self._of(ast.Global, ast.Nonlocal):
            bound.update(node.names)  # type: ignore[attr-defined]
        for node in self._of(ast.ExceptHandler, ast.MatchAs, ast.MatchStar):
            if node.name:  # type: ignore[attr-defined]
                bound.add(node.name)  # type: ignore[attr-defined]
        bound.update(node.rest for node in self._of(ast.MatchMapping)  # type: ignore[attr-defined]
                     if node.rest)  # type: ignore[attr-defined]
        return frozenset(bound)

    @cached_property
    def identifiers(self) -> frozenset[str]:
        """Every name the module binds or reads, attributes included: a name outside this
        set can be bound anywhere in the module without changing what its code means."""
        return self.bound_names | {node.id for node in self._of(ast.Name)} | \
            {node.attr for node in self._of(ast.Attribute)}  # type: ignore[attr-defined]

    def fresh_name(self, base: str) -> str:
        """`base`, else `base_2`, `base_3`, ...: the first name the module does not use."""
        number = 1
        while (name := base if number == 1 else f"{base}_{number}") in self.identifiers:
            number += 1
        return name

    @cached_property
    def top_level_defs(self) -> dict[str, ast.stmt]:
        """Module-level function definitions by name (the last one wins, as at run time)."""
        return {node.name: node for node in self.tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}

    @cached_property
    def simulation_runners(self) -> frozenset[str]:
        """Names of the functions that run the simulations: they loop over
        `range(... num_simulations ...)` (anywhere in their body: loops, comprehensions,
        pool.map arguments, nested functions), or pass `num_simulations` on to a
        function of this module that does (resolved by name, to a fixed point)."""
        if SIMULATIONS.encode() not in self.source and self.source:
            return frozenset()
        runners: set[str] = set()
        passes: list[tuple[str, ast.AST]] = []  # (callee name, call)
        for call in self._of(ast.Call):
            func = call.func  # type: ignore[attr-defined]
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if name is None:
                continue
            if name == "range":
                if any(_mentions(arg, SIMULATIONS) for arg in call.args):  # type: ignore[attr-defined]
                    runners.update(f.name for f in self._enclosing(call))
            elif any(isinstance(value, ast.Name) and value.id == SIMULATIONS
                     for value in [*call.args, *(k.value for k in call.keywords)]):  # type: ignore[attr-defined]
                passes.append((name, call))
        callers = [(name, [f.name for f in self._enclosing(call)]) for name, call in passes]
        while True:
            more = {caller for name, enclosing in callers if name in runners
                    for caller in enclosing} - runners
            if not more:
                return frozenset(runners)
            runners |= more

    @cached_property
    def horizon_assignments(self) -> list[HorizonAssignment]:
        """Function-local `max_horizon = <int>` (plain or annotated)."""
        found = []
        for node in self._of(ast.Assign, ast.AnnAssign):
            value = node.value  # type: ignore[attr-defined]
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
            if any(isinstance(t, ast.Name) and t.id == HORIZON for t in targets) \
                    and isinstance(value, ast.Constant) and type(value.value) is int:
                enclosing = self._enclosing(node)
                if enclosing:
                    found.append(HorizonAssignment(value.value, node.lineno, enclosing[-1].name))
        return sorted(found, key=lambda a: a.line)

    @cached_property
    def earlier_horizon_reads(self) -> list[tuple[int, int, int]]:
        """(line, old literal, default) for `max_horizon = _marketsim_env_int*("MARKETSIM_MAX_HORIZON",
        D)` under a `# PERF: was N;` comment with D != N: what earlier versions of migrate wrote (default 1),
        which changes the results with the variable unset."""
        lines = self.source.decode("utf-8", "replace").splitlines()
        found = []
        for node in self._of(ast.Assign, ast.AnnAssign):
            call = node.value  # type: ignore[attr-defined]
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id.startswith("_marketsim_env_int") and len(call.args) >= 2
                    and isinstance(call.args[0], ast.Constant) and call.args[0].value == HORIZON_ENV
                    and isinstance(call.args[1], ast.Constant) and type(call.args[1].value) is int):
                continue
            above = lines[node.lineno - 2].strip() if 2 <= node.lineno <= len(lines) + 1 else ""
            match = WAS_COMMENT.match(above)
            if match and int(match.group(1)) != call.args[1].value:
                found.append((node.lineno, int(match.group(1)), call.args[1].value))
        return found

    @cached_property
    def forecast_windows(self) -> list[Window]:
        """Fixed tail windows `name = <expr>[-N:]` (N >= 2, a literal) whose name the same
        function then subtracts from or compares (`validation["y"][:-1] - prediction_np`):
        the shape of the real backtest's check of its walk-forward forecasts."""
        lines = self.source.decode("utf-8", "replace").splitlines()
        windows = []
        for node in self._of(ast.Assign):
            targets = node.targets  # type: ignore[attr-defined]
            rows = tail_rows(node.value)  # type: ignore[attr-defined]
            if rows is None or rows < 2 or len(targets) != 1 or not isinstance(targets[0], ast.Name):
                continue
            enclosing = self._enclosing(node)
            if not enclosing:
                continue
            function = enclosing[-1]
            name = targets[0].id
            compared = any(_mentions(operand, name)
                           for other in _own_nodes(function) if _is_comparison(other)
                           for operand in _operands(other))
            if compared:
                text = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
                windows.append(Window(rows, node.lineno, function.name, text))
        return sorted(windows, key=lambda w: w.line)

    def class_imports(self, name: str, accepts: Callable[[str], bool]) -> list[ClassImport]:
        """Absolute `from M import <name> [as X]` with accepts(M), anywhere the code runs:
        an `if TYPE_CHECKING:` body is typing only and skipped (its `else:` is not)."""
        found: list[ClassImport] = []

        def visit(statements: list[ast.stmt], nested: bool) -> None:
            for node in statements:
                if isinstance(node, ast.ImportFrom):
                    if node.level == 0 and node.module and accepts(node.module) \
                            and any(alias.name == name for alias in node.names):
                        found.append(ClassImport(node.lineno, not nested))
                    continue
                if isinstance(node, ast.If) and _is_type_checking(node.test):
                    visit(node.orelse, nested)
                    continue
                inner = nested or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.ClassDef))
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    for item in getattr(node, field, None) or ():
                        visit([item] if isinstance(item, ast.stmt) else item.body, inner)

        visit(self.tree.body, False)
        return found

    @cached_property
    def scipy_calls(self) -> dict[str, str]:
        """Dotted call names that reach the scipy optimizers -> the function's name."""
        calls: dict[str, str] = {}
        for node in self._of(ast.ImportFrom, ast.Import):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module == "scipy.optimize" and alias.name in SCIPY_OPTIMIZERS:
                        calls[local] = alias.name
                    elif node.module == "scipy" and alias.name == "optimize":
                        calls.update(_module_calls(local))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname is None:
                        # `import scipy` or `import scipy.<anything>` binds `scipy`.
                        if alias.name == "scipy" or alias.name.startswith("scipy."):
                            calls.update(_module_calls("scipy.optimize"))
                    elif alias.name == "scipy":
                        calls.update(_module_calls(f"{alias.asname}.optimize"))
                    elif alias.name == "scipy.optimize":
                        calls.update(_module_calls(alias.asname))
        return calls

    def has_string(self, text: str) -> bool:
        """Whether a string literal anywhere in the module (not a comment) contains `text`."""
        return any(isinstance(node.value, str) and text in node.value  # type: ignore[attr-defined]
                   for node in self._of(ast.Constant))


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` / `typing.TYPE_CHECKING`: an `if` whose body never runs."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") \
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not descending into nested functions or classes."""
    found: list[ast.AST] = []
    stack = list(reversed(getattr(function, "body", [])))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found


def _in_body(function: ast.AST, node: ast.AST) -> bool:
    """For a one-line `def f(): ...`: whether `node` sits in the body (not the signature)."""
    return any(node is inner for statement in getattr(function, "body", [])
               for inner in ast.walk(statement))


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(inner, ast.Name) and inner.id == name for inner in ast.walk(node))


def _is_comparison(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)) \
        or isinstance(node, ast.Compare)


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    assert isinstance(node, ast.Compare)
    return [node.left, *node.comparators]


def tail_rows(expr: ast.AST) -> int | None:
    """N for `<expr>[-N:]` with a literal N, else None."""
    if not isinstance(expr, ast.Subscript) or not isinstance(expr.slice, ast.Slice):
        return None
    piece = expr.slice
    if piece.upper is not None or piece.step is not None:
        return None
    lower = piece.lower
    if isinstance(lower, ast.UnaryOp) and isinstance(lower.op, ast.USub) \
            and isinstance(lower.operand, ast.Constant) and type(lower.operand.value) is int:
        return lower.operand.value
    return None


def _module_calls(prefix: str) -> dict[str, str]:
    return {f"{prefix}.{name}": name for name in SCIPY_OPTIMIZERS}
