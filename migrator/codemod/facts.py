"""Module-wide facts the rules need, read from Python's own `ast` (fast, in C).

The engine hands libcst only the top-level statements a rule can touch (see
engine.py), so whatever a rule must know about the whole module comes from here.
"""

from __future__ import annotations

import ast
import dataclasses
from functools import cached_property

# scipy.optimize functions whose budget fast-optimize reduces.
SCIPY_OPTIMIZERS = ("direct", "differential_evolution")


SIMULATIONS = "num_simulations"
HORIZON = "max_horizon"
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
class HorizonAssignment:
    """A function-local `max_horizon = <int>`."""

    value: int
    line: int
    function: str


class ModuleFacts:
    def __init__(self, tree: ast.Module, source: bytes = b"") -> None:
        self.tree = tree
        self.source = source

    @cached_property
    def bound_names(self) -> frozenset[str]:
        """Names bound anywhere in the module (assigned, defined, imported, parameters)."""
        bound: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound.update(node.names)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                bound.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                bound.add(node.rest)
        return frozenset(bound)

    @cached_property
    def identifiers(self) -> frozenset[str]:
        """Every name the module binds or reads, attributes included: a name outside this
        set can be bound anywhere in the module without changing what its code means."""
        return self.bound_names | {
            node.id if isinstance(node, ast.Name) else node.attr
            for node in ast.walk(self.tree) if isinstance(node, (ast.Name, ast.Attribute))}

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
        `range(... num_simulations ...)`, or pass `num_simulations` on to a function of
        this module that does (resolved by name, to a fixed point)."""
        functions = [node for node in ast.walk(self.tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        callees = {id(node): _simulation_callees(node) for node in functions}
        runners = {node.name for node in functions if _loops_over_simulations(node)}
        while True:
            more = {node.name for node in functions
                    if node.name not in runners and callees[id(node)] & runners}
            if not more:
                return frozenset(runners)
            runners |= more

    @cached_property
    def horizon_assignments(self) -> list[HorizonAssignment]:
        found = []
        for function in ast.walk(self.tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in _own_nodes(function):
                    value = getattr(node, "value", None)
                    targets = node.targets if isinstance(node, ast.Assign) else \
                        [node.target] if isinstance(node, ast.AnnAssign) else []
                    if any(isinstance(t, ast.Name) and t.id == HORIZON for t in targets) \
                            and isinstance(value, ast.Constant) and type(value.value) is int:
                        found.append(HorizonAssignment(value.value, node.lineno, function.name))
        return found

    @cached_property
    def forecast_windows(self) -> list[Window]:
        """Fixed tail windows `name = <expr>[-N:]` (N >= 2, a literal) whose name the same
        function then subtracts from or compares (`validation["y"][:-1] - prediction_np`):
        the shape of the real backtest's check of its walk-forward forecasts."""
        lines = self.source.decode("utf-8", "replace").splitlines()
        windows = []
        for function in ast.walk(self.tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            own = list(_own_nodes(function))
            compared = {name.id for node in own if _is_comparison(node)
                        for operand in _operands(node) for name in ast.walk(operand)
                        if isinstance(name, ast.Name)}
            for node in own:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name) \
                        and node.targets[0].id in compared:
                    rows = _tail_rows(node.value)
                    if rows is not None and rows >= 2:
                        text = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
                        windows.append(Window(rows, node.lineno, function.name, text))
        return windows

    @cached_property
    def toto_imports(self) -> list[ast.ImportFrom]:
        """`from toto[.toto].inference.forecaster import TotoForecaster [as X]`, anywhere."""
        return [node for node in ast.walk(self.tree)
                if isinstance(node, ast.ImportFrom) and node.level == 0
                and node.module in TOTO_MODULES
                and any(alias.name == TOTO_CLASS for alias in node.names)]

    @cached_property
    def scipy_calls(self) -> dict[str, str]:
        """Dotted call names that reach the scipy optimizers -> the function's name."""
        calls: dict[str, str] = {}
        for node in ast.walk(self.tree):
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
        return any(isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and text in node.value for node in ast.walk(self.tree))


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


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(inner, ast.Name) and inner.id == name for inner in ast.walk(node))


def _loops_over_simulations(function: ast.AST) -> bool:
    """`range(... num_simulations ...)` anywhere in the function (loops, comprehensions,
    pool.map arguments, nested functions: the simulations run from this call)."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "range"
               and any(_mentions(arg, SIMULATIONS) for arg in node.args)
               for node in ast.walk(function))


def _simulation_callees(function: ast.AST) -> set[str]:
    """Names of the functions this one calls with `num_simulations` as an argument."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and any(
                isinstance(value, ast.Name) and value.id == SIMULATIONS
                for value in [*node.args, *(k.value for k in node.keywords)]):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def _is_comparison(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)) \
        or isinstance(node, ast.Compare)


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    assert isinstance(node, ast.Compare)
    return [node.left, *node.comparators]


def _tail_rows(expr: ast.AST) -> int | None:
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
