"""A small, bounded evaluator for the settings a backtest module computes from its environment.

The backtest decides its values with module constants such as
`int(os.getenv("TOTO_NUM_SAMPLES", "3072"))` or `_read_int_env(NAME, 128)`, some
reassigned under a module-level `if`. Rather than recognising a few spellings, this
runs the module's top-level statements once, in order, over a given environment
mapping: literals, os.getenv / os.environ, int/float/str/bool/min/max, str and dict
methods, comparisons, module constants, the module's helper functions (assignments,
if, try/except, return) and the functions of modules it imports from its own folder.
Nothing of the user's code is imported or executed.

Never a guess: a statement it does not follow makes the names it binds "unknown" with
the reason, and so does every form that can rebind a name behind the evaluator's back
(see `rebinding_effects`). Everything is bounded by a `Budget` (integer bits, sizes
checked before a value is built, steps, wall-clock time for the whole module): past a
budget a value is unknown with the reason, and evaluation never fails.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import dataclasses
import functools
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from migrator.files import MODULE, UnreadableFile, read_user_file


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A value explain cannot determine from the user's code and files, and why."""

    reason: str

    def as_json(self) -> dict[str, str]:
        return {"unknown": self.reason}


def to_json(value: Any) -> Any:
    """JSON for values, Settings, Sites and Unknowns (an Unknown is {"unknown": reason});
    strict JSON: a non-finite float is written as its repr, anything else unknown as repr."""
    if hasattr(value, "as_json"):
        return value.as_json()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_json(v) for v in value), key=repr)
    return repr(value)


class Unresolvable(Exception):
    """The expression uses something the evaluator does not model (message: why)."""


class OverBudget(Unresolvable):
    """A budget is spent (message: which)."""


class ModuleRaises(Exception):
    """Evaluating the module's own code raises (as the backtest would at run time)."""


# --- budgets ----------------------------------------------------------------------
DEFAULT_SECONDS = 2.0
SECONDS_ENV = "MIGRATE_EVAL_SECONDS"  # the wall-clock budget, for explain and the config commands


@dataclasses.dataclass
class Budget:
    """What one module's evaluation may spend, in all (every environment it is evaluated in)."""

    seconds: float = DEFAULT_SECONDS
    max_steps: int = 400_000
    max_bits: int = 4096  # integers: a few thousand bits
    max_length: int = 1_000_000  # strings and sequences: about 1 MB, checked before they are built
    max_built: int = 32_000_000  # everything built, in all
    max_weight: int = 4_000_000  # one value, deeply (nested containers, string lengths)
    steps: int = 0
    built: int = 0
    spent: str | None = None
    started: float = dataclasses.field(default_factory=time.monotonic)
    _weights: dict[int, tuple[Any, int]] = dataclasses.field(default_factory=dict, repr=False)

    def step(self) -> None:
        self.steps += 1
        if self.spent is not None:
            raise OverBudget(self.spent)
        if self.steps > self.max_steps:
            self.spend(f"the evaluation budget ({self.max_steps} steps for the whole module) is spent")
        if not self.steps & 63 and time.monotonic() - self.started > self.seconds:
            self.spend(f"the time budget ({self.seconds:g} s for the whole module) is spent")

    def spend(self, reason: str) -> None:
        self.spent = reason
        raise OverBudget(reason)

    def length(self, size: int, what: str) -> None:
        """Before building a string or sequence of `size` items."""
        if size > self.max_length:
            raise OverBudget(f"{what} would hold {size} items, over the {self.max_length} limit")
        self.built += size
        if self.built > self.max_built:
            self.spend(f"more than {self.max_built} items built in all")

    def bits(self, bits: int, what: str) -> None:
        if bits > self.max_bits:
            raise OverBudget(f"{what} would be an integer of about {bits} bits, over the {self.max_bits}-bit limit")

    def check(self, value: Any, what: str) -> Any:
        """A value just made: an integer within the bit limit, a sequence within the length limit."""
        if type(value) is int:
            self.bits(value.bit_length(), what)
        elif isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
            if len(value) > self.max_length:
                raise OverBudget(f"{what} holds {len(value)} items, over the {self.max_length} limit")
            if not isinstance(value, (str, bytes)):
                self.weight(value, what)
        return value

    def weight(self, value: Any, what: str) -> int:
        """A value's deep size (containers shared many times count each time): what printing,
        comparing or hashing it walks. Cached per container until it is changed."""
        if isinstance(value, (str, bytes)):
            return 1 + len(value)
        if type(value) is int:
            return 1 + value.bit_length() // 8
        if not isinstance(value, (list, tuple, dict, set, frozenset)):
            return 1
        cached = self._weights.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        total = 1
        for child in ([*value.keys(), *value.values()] if isinstance(value, dict) else value):
            total += self.weight(child, what)
            if total > self.max_weight:
                raise OverBudget(f"{what} is over {self.max_weight} items deep")
        self._weights[id(value)] = (value, total)
        return total

    def changed(self, container: Any) -> None:
        """A container was changed in place: its deep size is measured again when next needed."""
        self._weights.pop(id(container), None)


def budget_seconds(env: Mapping[str, str]) -> float:
    """The wall-clock budget MIGRATE_EVAL_SECONDS sets (default 2). Raises BadInputError naming it."""
    from migrator.errors import BadInputError

    raw = env.get(SECONDS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= 3600):
        raise BadInputError(f"{SECONDS_ENV}={raw!r}: not a number of seconds in (0, 3600]")
    return seconds


# --- what the evaluator models -------------------------------------------------------
ENV_GETTERS = frozenset({"os.getenv", "getenv", "os.environ.get", "environ.get"})
_LOG_OBJECTS = frozenset({"logger", "LOGGER", "log", "logging", "warnings", "_logger", "LOG"})
_EXCEPTIONS: dict[str, tuple[type[BaseException], ...]] = {
    "ValueError": (ValueError,), "TypeError": (TypeError,), "KeyError": (KeyError,),
    "Exception": (Exception,), "ArithmeticError": (ArithmeticError,), "OverflowError": (OverflowError,),
    "ZeroDivisionError": (ZeroDivisionError,), "LookupError": (LookupError,), "IndexError": (IndexError,),
    "AttributeError": (AttributeError,), "NameError": (NameError,), "BaseException": (BaseException,),
}
_RAISED = (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, AttributeError, OverflowError)
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold", "isdigit",
                          "startswith", "endswith", "replace", "join", "split"})
_DICT_METHODS = frozenset({"get", "copy", "update", "keys", "values", "items", "setdefault", "pop"})
_MUTATING_METHODS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "append", "extend", "insert",
                               "remove", "add", "discard", "sort", "reverse", "__setitem__", "__delitem__",
                               "difference_update", "intersection_update", "symmetric_difference_update"})


class _Marker:
    """A stand-in for a module object or function the evaluator models (os, os.getenv...)."""

    def __init__(self, name: str, attrs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.attrs = attrs or {}

    def __repr__(self) -> str:
        return f"<{self.name}>"


_GETENV = _Marker("os.getenv")
_ENVIRON = _Marker("os.environ")
_PATH: Callable[..., str] = lambda *parts: str(Path(*parts))  # noqa: E731 (a path value is its text)
_OS = _Marker("module os", {"getenv": _GETENV, "environ": _ENVIRON})
_STDLIB: dict[str, dict[str, Any]] = {"os": _OS.attrs, "pathlib": {"Path": _PATH}}
_STDLIB_MODULES = {"os": _OS, "pathlib": _Marker("module pathlib", _STDLIB["pathlib"])}
_BUILTINS: dict[str, Callable[..., Any]] = {
    "int": int, "float": float, "str": str, "bool": bool, "max": max, "min": min, "abs": abs,
    "len": len, "round": round, "dict": dict, "object": object,
}


def dotted(node: ast.AST) -> str | None:
    """`os.environ.get` for that attribute chain, None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def is_env_read(node: ast.AST) -> bool:
    """os.getenv(...) / os.environ.get(...) calls and the os.environ mapping itself."""
    return (isinstance(node, ast.Call) and (dotted(node.func) or "") in ENV_GETTERS) or (
        isinstance(node, ast.Attribute) and dotted(node) == "os.environ")


def env_reading_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The module's top-level functions that read the environment (e.g. `_read_int_env`)."""
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
            and any(is_env_read(n) for n in ast.walk(node))}


@functools.lru_cache(maxsize=64)  # keyed by the tree object: read once per module
def env_writes(tree: ast.Module) -> dict[str, int]:
    """Variables the module sets in its own environment, anywhere (name -> line; "*": unknown names):
    os.environ[NAME] = ..., os.environ.setdefault / pop / update, os.putenv / unsetenv, del os.environ[NAME].
    A key that is a local constant (`key = "X"`) or the target of a `for` over literal strings
    (or over a module constant holding them) is followed."""
    written: dict[str, int] = {}
    assigned = bindings(tree).assignments
    module_literals = {name: nodes[0].value for name, nodes in assigned.items()  # type: ignore[attr-defined]
                       if len(nodes) == 1 and isinstance(nodes[0], (ast.Assign, ast.AnnAssign))}

    def strings(node: ast.AST | None) -> list[str] | None:
        if isinstance(node, ast.Name) and node.id in module_literals:
            node = module_literals[node.id]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            return [e.value for e in node.elts]  # type: ignore[attr-defined]
        return None

    def note(name: ast.expr | None, line: int, scope: dict[str, list[str] | None]) -> None:
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            written.setdefault(name.value, line)
            return
        values = scope.get(name.id) if isinstance(name, ast.Name) else None
        for value in values or ["*"]:
            written.setdefault(value, line)

    def visit(node: ast.AST, scope: dict[str, list[str] | None]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = _key_scope(node, strings)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and dotted(target.value) in ("os.environ", "environ"):
                    note(target.slice, node.lineno, scope)
        elif isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            if name in ("os.environ.setdefault", "environ.setdefault", "os.environ.pop", "environ.pop",
                        "os.putenv", "putenv", "os.unsetenv", "unsetenv", "os.environ.__setitem__"):
                note(node.args[0] if node.args else None, node.lineno, scope)
            elif name in ("os.environ.update", "environ.update", "os.environ.clear", "environ.clear"):
                if node.args and isinstance(node.args[0], ast.Dict) and all(k is not None for k in node.args[0].keys):
                    for key in node.args[0].keys:
                        note(key, node.lineno, scope)
                elif node.args or name.endswith("clear"):
                    note(None, node.lineno, scope)
                for keyword in node.keywords:
                    note(ast.Constant(keyword.arg) if keyword.arg else None, node.lineno, scope)
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    try:
        visit(tree, _key_scope(tree, strings))
    except RecursionError:
        written.setdefault("*", 0)
    return written


def _key_scope(scope: ast.AST, strings: Callable[[ast.AST | None], list[str] | None]
               ) -> dict[str, list[str] | None]:
    """Names in one function (or the module) that hold known strings: assigned once a
    string constant, or a `for` target over literal strings. Others: None (any value)."""
    found: dict[str, list[str] | None] = {}
    for node in _own_nodes(scope):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            found[node.target.id] = strings(node.iter) if node.target.id not in found else None
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            value = node.value
            found[name] = [value.value] if name not in found and isinstance(value, ast.Constant) \
                and isinstance(value.value, str) else None
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.setdefault(node.id, None)
    return found


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of one scope, not those of functions, lambdas or classes inside it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def module_assignments(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Module-level assignments per name (also those inside top-level if/try/with/for/while)."""
    found: dict[str, list[ast.stmt]] = {}

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, []).append(node)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
                found.setdefault(node.target.id, []).append(node)
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body)

    visit(tree.body)
    return found


@functools.lru_cache(maxsize=64)  # keyed by the tree object: indexed once per module
def bindings(tree: ast.Module) -> Bindings:
    return Bindings(tree)


class Bindings:
    """Module-level assignments per name, and which one to show for a name."""

    def __init__(self, tree: ast.Module) -> None:
        self.assignments = module_assignments(tree)
        self._top = {id(node) for node in tree.body}

    def shown(self, name: str) -> ast.Assign | ast.AnnAssign | ast.AugAssign | None:
        """The assignment to name a setting by: the last unconditional one, else the first."""
        nodes = self.assignments.get(name) or []
        top = [node for node in nodes if id(node) in self._top and not isinstance(node, ast.AugAssign)]
        return (top or nodes or [None])[-1 if top else 0]

    def lines(self, name: str) -> list[int]:
        return [node.lineno for node in self.assignments.get(name, [])]


# --- forms that rebind names behind the evaluator's back -------------------------------
EVERY_NAME = None  # in an effect: every name


@dataclasses.dataclass(frozen=True)
class Effect:
    names: frozenset[str] | None  # None: every name
    reason: str
    sticky: bool  # from a function: also later bindings, and after import


@functools.lru_cache(maxsize=64)  # keyed by the tree object: one walk per module
def rebinding_effects(tree: ast.Module) -> dict[int, list[Effect]]:
    """Per top-level statement (its index), the names it may rebind in a form the
    evaluator does not follow: globals()/locals()/vars() writes, exec/eval, setattr on
    the module, star imports, `global` in a function (called at import or not), and a
    function changing a module-level container. Effects found inside a function are
    sticky: the function may run at any time after its definition."""
    effects: dict[int, list[Effect]] = {}
    for index, statement in enumerate(tree.body):
        found = _Rebinds(statement).effects
        if found:
            effects[index] = found
    return effects


class _Rebinds:
    def __init__(self, statement: ast.stmt) -> None:
        self.effects: list[Effect] = []
        self.benign: set[int] = set()  # globals() calls only read from, or handled
        self.aliases: dict[int, dict[str, str]] = {}  # per function: local name -> the module name it holds
        try:
            self.scope(statement, None, set())
        except RecursionError:
            self.add(EVERY_NAME, f"line {statement.lineno}: nested too deeply to check", True)

    def add(self, names: frozenset[str] | None, reason: str, sticky: bool) -> None:
        self.effects.append(Effect(names, reason, sticky))

    def scope(self, root: ast.AST, function: ast.AST | None, local: set[str]) -> None:
        """Check one scope's own nodes (class bodies included); each nested function is its own scope."""
        where = f"in {getattr(function, 'name', 'a lambda')} (line {function.lineno}) " if function else ""
        if function is not None:  # `params = DEFAULTS`: a change of `params` is a change of DEFAULTS
            self.aliases[id(function)] = {
                target.id: node.value.id for node in _own_nodes(function)
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id not in local
                for target in node.targets if isinstance(target, ast.Name)}
        stack = [root] if function is None else list(ast.iter_child_nodes(root))
        while stack:
            node = stack.pop()
            if node is not function and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                self.scope(node, node, _local_names(node))
                continue
            self.check(node, function, local, where, function is not None)
            stack.extend(ast.iter_child_nodes(node))

    def check(self, node: ast.AST, function: ast.AST | None, local: set[str], where: str, sticky: bool) -> None:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Global):
            self.add(frozenset(node.names), f"`global {', '.join(node.names)}` (line {line}) {where}rebinds it "
                     "(whether and when that function runs is not followed)", True)
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            self.add(EVERY_NAME, f"`from {'.' * node.level}{node.module or ''} import *` (line {line}) "
                     "may rebind any name", sticky)
        elif isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            if name in ("exec", "eval", "builtins.exec", "builtins.eval"):
                self.add(EVERY_NAME, f"`{name}(...)` {where or ''}(line {line}) may bind any name", sticky)
            elif name in ("setattr", "delattr") and node.args and not (
                    isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls")):
                target = node.args[1] if len(node.args) > 1 else None
                names = frozenset({target.value}) if isinstance(target, ast.Constant) \
                    and isinstance(target.value, str) else EVERY_NAME
                self.add(names, f"`{name}(...)` {where}(line {line}) may rebind it on the module", sticky)
            elif _namespace_call(node, function):
                if id(node) not in self.benign:
                    self.add(EVERY_NAME, f"`{name}()` {where}(line {line}) is used in a way that may "
                             "rebind any name", sticky)
            elif isinstance(node.func, ast.Attribute) and _namespace_call(node.func.value, function):
                method = node.func.attr
                self.benign.add(id(node.func.value))
                if method in _MUTATING_METHODS or method.startswith("__"):
                    key = node.args[0] if node.args else None
                    names = frozenset({key.value}) if isinstance(key, ast.Constant) and isinstance(key.value, str) \
                        and method in ("setdefault", "pop", "__setitem__", "__delitem__") else EVERY_NAME
                    self.add(names, f"`{source_text(node.func)}(...)` {where}(line {line}) rebinds it", sticky)
            elif isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATING_METHODS \
                    and isinstance(node.func.value, ast.Name) and function is not None \
                    and self.changed(node.func.value.id, function, local):
                self.add(frozenset({self.changed(node.func.value.id, function, local)}),  # type: ignore[arg-type]
                         f"{where.strip()} changes it: `{source_text(node.func)}(...)` "
                         f"(line {line}); whether and when that runs is not followed", True)
        elif isinstance(node, ast.Subscript) and _namespace_call(node.value, function):
            self.benign.add(id(node.value))
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                key = node.slice
                names = frozenset({key.value}) if isinstance(key, ast.Constant) and isinstance(key.value, str) \
                    else EVERY_NAME
                self.add(names, f"`{source_text(node)} = ...` {where}(line {line}) rebinds it", sticky)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and "sys.modules" in source_text(node.value):
            self.add(frozenset({node.attr}), f"`{source_text(node)} = ...` {where}(line {line}) "
                     "rebinds it on the module", sticky)
        elif function is not None and isinstance(node, (ast.Subscript, ast.Attribute)) \
                and isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Name) \
                and self.changed(node.value.id, function, local):
            self.add(frozenset({self.changed(node.value.id, function, local)}),  # type: ignore[arg-type]
                     f"{where.strip()} changes it: `{source_text(node)} = ...` "
                     f"(line {line}); whether and when that runs is not followed", True)

    def changed(self, name: str, function: ast.AST, local: set[str]) -> str | None:
        """The module-level name a change of `name` in this function changes (None: a local's)."""
        if name not in local:
            return name
        return self.aliases.get(id(function), {}).get(name)


def _namespace_call(node: ast.AST, function: ast.AST | None) -> bool:
    """globals(), vars() with no argument or of a module (`vars(sys.modules[__name__])`), locals()
    at module level: a module's namespace. (`vars(args)` of another object is not.)"""
    if not isinstance(node, ast.Call):
        return False
    name = dotted(node.func)
    if name == "vars" and node.args:
        return any(part in source_text(node.args[0]) for part in ("sys.modules", "__import__", "import_module"))
    return name in ("globals", "vars") or (name == "locals" and function is None)


def _local_names(function: ast.AST) -> set[str]:
    """Names local to a function: its parameters and what it binds (unless declared global)."""
    args = function.args  # type: ignore[attr-defined]
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared |= set(node.names)
    return names - declared


def bound_names(statement: ast.AST) -> list[str]:
    """Every module-level name a statement binds (also walrus targets, imports, defs, except ... as)."""
    names: list[str] = []
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.append(node.rest)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            stack += node.decorator_list
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.comprehension):
            stack += [node.iter, *node.ifs]  # its target is the comprehension's own
            continue
        stack.extend(ast.iter_child_nodes(node))
    return list(dict.fromkeys(names))


# --- values the evaluator passes around ---------------------------------------------
@dataclasses.dataclass(frozen=True)
class Function:
    """A function of the module (or of a module it imports), run in its own module's evaluator."""

    node: ast.FunctionDef
    owner: Evaluator = dataclasses.field(repr=False)

    def __repr__(self) -> str:
        return f"<function {self.node.name}>"


class _EnvView:
    """os.environ as the evaluated code sees it: a read of a variable the module sets is unknown."""

    def __init__(self, evaluator: Evaluator, node: ast.AST) -> None:
        self.evaluator = evaluator
        self.node = node

    def __contains__(self, key: Any) -> bool:
        return key in self.evaluator.env_for(key, self.node)

    def __getitem__(self, key: Any) -> str:
        env = self.evaluator.env_for(key, self.node)
        if key not in env:
            raise ModuleRaises(f"line {self.node.lineno}: os.environ[{key!r}] raises KeyError ({key} is unset)")  # type: ignore[attr-defined]
        return env[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self.evaluator.env_for(key, self.node).get(key, default)


class _Namespace(dict):  # type: ignore[type-arg]
    """A module's names. A form that may rebind every name (exec, import *...) poisons the names
    bound so far in O(1): a read of a name bound at or before a poison's line gives the poison."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}
        self.poisons: list[tuple[int, Unknown]] = []  # lines in order

    def set(self, name: str, value: Any, line: int) -> None:
        self[name] = value
        self.lines[name] = line

    def poison(self, bound_line: int, before: int | None = None) -> Unknown | None:
        """The poison a binding made at `bound_line` meets before line `before` (None: ever)."""
        index = len(self.poisons) if before is None else bisect.bisect_left(
            [line for line, _ in self.poisons], before)
        if index and self.poisons[index - 1][0] >= bound_line:
            return self.poisons[index - 1][1]
        return None

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        value = dict.get(self, name, _UNBOUND)
        if value is _UNBOUND:
            return default
        return self.poison(self.lines[name]) or value


class _HistoryView:
    """The module's names as module-level code at `line` sees them."""

    def __init__(self, evaluator: Evaluator, line: int) -> None:
        self.evaluator = evaluator
        self.line = line

    def get(self, name: str, default: Any = None) -> Any:
        lines, values = self.evaluator.history.get(name, ((), ()))
        index = bisect.bisect_left(lines, self.line)
        if not index:
            return default
        return self.evaluator.globals.poison(lines[index - 1], self.line) or values[index - 1]

    def __contains__(self, name: str) -> bool:
        return self.get(name, _UNBOUND) is not _UNBOUND


_UNBOUND = object()


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


# --- the evaluator ------------------------------------------------------------------
class Evaluator:
    """Runs one module's top-level code (once, lazily) under one environment mapping, then
    evaluates expressions and calls its functions against the names that run bound."""

    def __init__(self, tree: ast.Module, env: Mapping[str, str], budget: Budget | None = None,
                 project: Project | None = None, path: Path | None = None,
                 modules: dict[Path, Evaluator] | None = None) -> None:
        self.tree = tree
        self.env = env
        self.budget = budget or Budget()
        self.project = project
        self.path = path
        # Variables set in the environment by this module or one of its folder: name -> where.
        self.written = {name: f"line {line}" for name, line in env_writes(tree).items()}
        if project is not None:
            for other, where in project.env_writes().items():
                self.written.setdefault(other, where)
        self.assignments = bindings(tree).assignments
        self.globals = _Namespace()
        self.history: dict[str, tuple[list[int], list[Any]]] = {}
        self.sticky: dict[str, Unknown] = {}
        self.sticky_all: Unknown | None = None
        self.fallback: Unknown | None = None  # every name not bound since a star import, exec...
        self.failed: Unknown | None = None  # the module raises at import
        self._scope: list[Any] = []
        self._state = "new"
        self._line = 0
        self._outside_import = False  # an import not followed ran (it may raise ImportError)
        self._functions: list[ast.FunctionDef] = []  # being run, innermost last
        # The modules this environment has run (shared with them), by path.
        self.modules: dict[Path, Evaluator] = {} if modules is None else modules
        if path is not None:
            self.modules.setdefault(path, self)

    # --- the module run ---------------------------------------------------------
    def run(self) -> None:
        if self._state != "new":
            return
        self._state = "running"
        effects = rebinding_effects(self.tree)
        self._scope.append(self.globals)
        try:
            for index, statement in enumerate(self.tree.body):
                self._line = statement.lineno
                try:
                    followed = self._module_statement(statement)
                except _Raised as raised:
                    self.failed = Unknown(f"the backtest fails at import: {raised}")
                    break
                except ModuleRaises as exc:
                    self.failed = Unknown(f"the backtest fails at import: {exc}")
                    break
                except (Unresolvable, RecursionError) as exc:
                    followed = str(exc) if isinstance(exc, Unresolvable) else "nested too deeply to follow"
                except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, OSError) as exc:
                    # Not the module's own exception (those are ModuleRaises): a case the evaluator
                    # does not model. Unknown, never a traceback.
                    followed = f"not modelled ({type(exc).__name__})"
                if followed is not True:
                    self._unfollowed(statement, followed)
                for effect in effects.get(index, ()):
                    self._apply(effect)
        finally:
            self._scope.pop()
            self._state = "done"

    def bind(self, name: str, value: Any, line: int) -> None:
        if self.sticky_all is not None:
            value = self.sticky_all
        elif name in self.sticky:
            value = self.sticky[name]
        self.globals.set(name, value, line)
        lines, values = self.history.setdefault(name, ([], []))
        lines.append(line)
        values.append(value)

    def _apply(self, effect: Effect) -> None:
        unknown = Unknown(effect.reason)
        if effect.names is None:
            self.globals.poisons.append((self._line, unknown))
            self.fallback = self.fallback or unknown
            if effect.sticky:
                self.sticky_all = self.sticky_all or unknown
            return
        for name in effect.names:
            if effect.sticky:
                self.sticky.setdefault(name, unknown)
            self.bind(name, unknown, self._line)

    def _unfollowed(self, statement: ast.stmt, reason: str) -> None:
        """A statement not followed: what it binds is unknown, and so is every container it
        passes to a call (which may change it)."""
        text = _header(statement)
        # The cause, not the chain of statements it went through (a chain of 2,000 would be quadratic).
        while reason.startswith(_UNFOLLOWED) and _NOT_FOLLOWED in reason:
            reason = reason.split(_NOT_FOLLOWED, 1)[1]
        for name in bound_names(statement):
            self.bind(name, Unknown(f"{_UNFOLLOWED}`{text}` (line {statement.lineno}){_NOT_FOLLOWED}{reason}"),
                      statement.lineno)
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                passed = [*node.args, *(k.value for k in node.keywords)]
                if isinstance(node.func, ast.Attribute):
                    passed.append(node.func.value)
                for arg in passed:
                    if isinstance(arg, ast.Starred):
                        arg = arg.value
                    if isinstance(arg, ast.Name) and isinstance(self.globals.get(arg.id), (dict, list, set)):
                        self.bind(arg.id, Unknown(f"passed to `{source_text(node.func)}(...)` (line {node.lineno}), "
                                                  "which may change it"), node.lineno)

    def _module_statement(self, node: ast.stmt) -> bool | str:
        """Run one module-level statement: True when followed, else why not."""
        self.budget.step()
        line = node.lineno
        if isinstance(node, ast.Assign):
            if not all(isinstance(t, (ast.Name, ast.Subscript)) for t in node.targets):
                forms = ", ".join(sorted({_form(t) for t in node.targets if not isinstance(t, (ast.Name, ast.Subscript))}))
                return f"{forms} is not followed"
            value = self.expr(node.value, {})
            for target in node.targets:
                self._store(target, value, line)
            return True
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return True
            if not isinstance(node.target, (ast.Name, ast.Subscript)):
                return f"{_form(node.target)} is not followed"
            self._store(node.target, self.expr(node.value, {}), line)
            return True
        if isinstance(node, ast.AugAssign):
            op = _BINOPS.get(type(node.op))
            if op is None or not isinstance(node.target, (ast.Name, ast.Subscript)):
                return f"`{source_text(node.op)}=` is not modelled"
            load = ast.Name(node.target.id, ast.Load(), lineno=line) if isinstance(node.target, ast.Name) \
                else ast.Subscript(node.target.value, node.target.slice, ast.Load(), lineno=line)
            self._store(node.target, self._binop(op, self.expr(load, {}), self.expr(node.value, {}), node),
                        line)
            return True
        if isinstance(node, ast.If):
            try:
                test = self.expr(node.test, {})
            except (Unresolvable, RecursionError) as exc:
                reason = str(exc) if isinstance(exc, Unresolvable) else "nested too deeply"
                lines = sorted({n.lineno for n in ast.walk(node) if isinstance(n, ast.stmt) and n is not node})
                several = "at several lines " if len(lines) > 1 else ""
                return (f"assigned {several}under `if {source_text(node.test)[:80]}` (line {line}), "
                        f"whose test is unknown ({reason})")
            for statement in node.body if test else node.orelse:
                followed = self._module_statement(statement)
                if followed is not True:
                    self._unfollowed(statement, followed)
            return True
        if isinstance(node, ast.Try):
            return self._module_try(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Name) and decorator.id in ("staticmethod",)):
                    return f"the decorator `@{source_text(decorator)}` is not followed"
            self.bind(node.name, Function(node, self) if isinstance(node, ast.FunctionDef)
                      else Unknown(f"{node.name} is an async function (line {line})"), line)
            return True
        if isinstance(node, ast.ClassDef):
            self.bind(node.name, Unknown(f"{node.name} is a class (line {line})"), line)
            return "a class body is not followed" if any(
                not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.AnnAssign, ast.Pass, ast.Expr))
                for s in node.body) else True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return self._import(node)
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.bind(target.id, Unknown(f"deleted by `del {target.id}` (line {line})"), line)
                elif isinstance(target, ast.Subscript):
                    container = self.expr(target.value, {})
                    key = self.expr(target.slice, {})
                    if not isinstance(container, (dict, list)):
                        return "`del` of this target is not followed"
                    try:
                        del container[key]
                        self.budget.changed(container)
                    except (KeyError, IndexError, TypeError) as exc:
                        raise ModuleRaises(f"line {line}: `{source_text(node)}` raises {type(exc).__name__}") from None
                else:
                    return "`del` of this target is not followed"
            return True
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) or self._only_logs(node):
                return True
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) \
                    and node.value.func.attr in _DICT_METHODS and isinstance(node.value.func.value, ast.Name) \
                    and isinstance(self.globals.get(node.value.func.value.id), dict):
                self.expr(node.value, {})  # DEFAULTS.update(...) at module level
                return True
            return f"`{source_text(node)[:80]}` is not followed"
        if isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal)):
            return True
        if isinstance(node, ast.Raise):
            raise ModuleRaises(f"line {line}: the module raises (`{source_text(node)[:80]}`)")
        if isinstance(node, ast.Assert):
            return "an `assert` is not followed"
        return f"{_form(node)} is not followed"

    def _module_try(self, node: ast.Try) -> bool | str:
        unfollowed: list[str] = []
        self._outside_import = False

        def block(statements: list[ast.stmt]) -> None:
            for statement in statements:
                followed = self._module_statement(statement)
                if followed is not True:
                    self._unfollowed(statement, followed)
                    unfollowed.append(followed)

        try:
            block(node.body)
        except _Raised as raised:
            for handler in node.handlers:
                if _catches(handler, raised.exc):
                    if handler.name:
                        self.bind(handler.name, raised.exc, handler.lineno)
                    block(handler.body)
                    break
            else:
                raise
        else:
            block(node.orelse)
        finally:
            block(node.finalbody)
        if self._outside_import:
            unfollowed.append("an import from outside the project may raise")
        if unfollowed:
            # A statement not followed may have raised: which handler ran, and what the rest bound, is not known.
            return f"a statement in this `try` is not followed ({unfollowed[0]})"
        return True

    def _store(self, target: ast.expr, value: Any, line: int) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value, line)
            return
        assert isinstance(target, ast.Subscript)
        container = self.expr(target.value, {})
        if not isinstance(container, (dict, list)):
            raise Unresolvable(f"line {line}: `{source_text(target)} = ...` is not modelled")
        try:
            container[self.expr(target.slice, {})] = value
            self.budget.changed(container)
        except (IndexError, TypeError) as exc:
            raise ModuleRaises(f"line {line}: `{source_text(target)} = ...` raises {type(exc).__name__}") from None

    def _import(self, node: ast.Import | ast.ImportFrom) -> bool | str:
        line = node.lineno
        outside = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if alias.asname is not None:
                    value: Any = Unknown(f"`import {alias.name} as {alias.asname}` (line {line}) is not followed")
                    self.bind(alias.asname, value, line)
                    continue
                module = self.project.module(top, self) if self.project is not None else None
                if top in _STDLIB_MODULES:
                    value = _STDLIB_MODULES[top]
                elif isinstance(module, Evaluator):
                    value = _Marker(f"module {top}", {"__evaluator__": module})
                else:
                    value = Unknown(f"{top} is imported from outside the project (line {line})")
                    outside.append(top)
                self.bind(top, value, line)
            self._outside_import = self._outside_import or bool(outside)
            return True
        if any(alias.name == "*" for alias in node.names):
            return True  # what it binds is a rebinding effect (every name)
        source = (node.module or "")
        stdlib = _STDLIB.get(source) if node.level == 0 else None
        module = None
        if stdlib is None and self.project is not None:
            module = self.project.module(source, self, level=node.level)
        for alias in node.names:
            name = alias.asname or alias.name
            if alias.asname is not None and alias.asname != alias.name:
                self.bind(name, Unknown(f"`from {source} import {alias.name} as {alias.asname}` (line {line}) "
                                        "is not followed"), line)
                continue
            if stdlib is not None and alias.name in stdlib:
                self.bind(name, stdlib[alias.name], line)
            elif isinstance(module, Evaluator):
                self.bind(name, module.exported(alias.name, line), line)
            else:
                where = f"{'.' * node.level}{source}"
                self.bind(name, Unknown(f"{name} is imported from {where}, "
                                        f"{module.reason if isinstance(module, Unknown) else 'outside the project'} "
                                        f"(line {line})"), line)
                outside.append(where)
        self._outside_import = self._outside_import or bool(outside)
        return True

    def exported(self, name: str, line: int) -> Any:
        """`name` as `from this_module import name` sees it."""
        self.run()
        if self.failed is not None:
            return self.failed
        value = self.globals.get(name, _UNBOUND)
        if value is not _UNBOUND:
            return value
        if self.fallback is not None:
            return self.fallback
        if self.project is not None and self.path is not None and self.path.name == "__init__.py":
            sub = self.project.module(name, self, level=1)
            if isinstance(sub, Evaluator):
                return _Marker(f"module {name}", {"__evaluator__": sub})
        return Unknown(f"{name} is not defined by {self.path.name if self.path else 'the module'} "
                       f"(imported at line {line})")

    # --- public -----------------------------------------------------------------
    def final(self, name: str) -> Any:
        """The value module-level `name` holds after import (an Unknown when not determined)."""
        self.run()
        if self.failed is not None:
            bound = self.globals.get(name)
            return Unknown(f"{bound.reason}; and {self.failed.reason}") if isinstance(bound, Unknown) else self.failed
        value = self.globals.get(name, _UNBOUND)
        if value is not _UNBOUND:
            return value
        if self.sticky_all is not None or self.fallback is not None:
            return self.sticky_all or self.fallback
        return Unknown(f"{name} is not assigned at module level")

    def at_line(self, node: ast.expr, line: int | None) -> Any:
        """`node`'s value as module-level code at `line` sees it (None: after import)."""
        self.run()
        if line is None and self.failed is not None:
            raise Unresolvable(self.failed.reason)
        self._scope.append(self.globals if line is None else _HistoryView(self, line))
        try:
            return self.expr(node, {})
        finally:
            self._scope.pop()

    def expr(self, node: ast.expr, local: dict[str, Any]) -> Any:
        self.budget.step()
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
        try:
            value = method(node, local)
        except _RAISED as exc:
            # Raised by the module's own code (int("abc")): a try/except around it may catch it.
            raise _Raised(exc, f"line {node.lineno}: `{_short(node)}` raises {type(exc).__name__}: "
                               f"{_short_text(str(exc))}") from None
        return self.budget.check(value, f"line {node.lineno}: `{_short(node)}`")

    def env_for(self, name: Any, node: ast.AST) -> Mapping[str, str]:
        """The environment a read of `name` sees; unknown when the module itself sets it."""
        where = self.written.get(name, self.written.get("*"))
        if where is not None:
            who = "the module itself" if where.startswith("line") else "a module it imports"
            raise Unresolvable(f"line {getattr(node, 'lineno', 0)}: {who} sets {name} ({where}); "
                               "when, relative to this read, is not followed")
        return self.env

    # --- names ------------------------------------------------------------------
    def _lookup(self, name: str, node: ast.AST | None) -> Any:
        scope = self._scope[-1] if self._scope else self.globals
        if self._state == "done" and scope is self.globals and self.failed is not None:
            return self.failed
        value = scope.get(name, _UNBOUND)
        if value is not _UNBOUND:
            return value
        if self.sticky_all is not None or self.fallback is not None:
            return self.sticky_all or self.fallback
        if name in _BUILTINS:
            return _BUILTINS[name]
        line = getattr(node, "lineno", self._line)
        if name in ("__name__", "__file__", "__spec__", "__package__", "__loader__"):
            return Unknown(f"line {line}: `{name}` depends on how the module is run")
        if hasattr(builtins, name):
            return Unknown(f"line {line}: the builtin `{name}` is not modelled")
        # Python raises NameError here, unless something not followed defines it: not a guess either way.
        raise Unresolvable(f"line {line}: `{name}` is not defined here")

    def _Name(self, node: ast.Name, local: dict[str, Any]) -> Any:
        if node.id in local:
            return local[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        value = self._lookup(node.id, node)
        if isinstance(value, Unknown):
            raise Unresolvable(value.reason if value.reason.startswith("line") or node.id in value.reason
                               else f"{node.id}: {value.reason}")
        return value

    # --- expressions ------------------------------------------------------------
    def _Constant(self, node: ast.Constant, local: dict[str, Any]) -> Any:
        return node.value

    def _Attribute(self, node: ast.Attribute, local: dict[str, Any]) -> Any:
        try:
            owner = self.expr(node.value, local)
        except Unresolvable as exc:
            raise type(exc)(f"line {node.lineno}: `{_short(node)}`: {exc}") from None
        if isinstance(owner, _Marker):
            if owner is _ENVIRON:
                raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
            if "__evaluator__" in owner.attrs:
                return owner.attrs["__evaluator__"].exported(node.attr, node.lineno)
            if node.attr in owner.attrs:
                value = owner.attrs[node.attr]
                return _EnvView(self, node) if value is _ENVIRON else value
        raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")

    def _Dict(self, node: ast.Dict, local: dict[str, Any]) -> Any:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**other, ...}
                other = self.expr(value, local)
                self.budget.length(len(result) + len(other), f"line {node.lineno}: the dict")
                result.update(other)
            else:
                result[self.expr(key, local)] = self.expr(value, local)
        return result

    def _List(self, node: ast.List, local: dict[str, Any]) -> Any:
        return [self.expr(item, local) for item in node.elts]

    def _Tuple(self, node: ast.Tuple, local: dict[str, Any]) -> Any:
        return tuple(self.expr(item, local) for item in node.elts)

    def _Set(self, node: ast.Set, local: dict[str, Any]) -> Any:
        return {self.expr(item, local) for item in node.elts}

    def _JoinedStr(self, node: ast.JoinedStr, local: dict[str, Any]) -> Any:
        parts = []
        for value in node.values:
            parts.append(self.expr(value, local))
            self.budget.length(sum(map(len, parts)), f"line {node.lineno}: the f-string")
        return "".join(parts)

    def _FormattedValue(self, node: ast.FormattedValue, local: dict[str, Any]) -> Any:
        value = self.expr(node.value, local)
        _scalar(value, f"line {node.lineno}: `{_short(node)}`")
        spec = self.expr(node.format_spec, local) if node.format_spec is not None else ""
        self._widths(spec, node)
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("s"):
            value = str(value)
        elif node.conversion == ord("a"):
            value = ascii(value)
        return format(value, spec)

    def _widths(self, spec: str, node: ast.AST) -> None:
        """Before formatting: every width or precision in a format spec within the length limit."""
        for digits in re.findall(r"\d+", spec):
            if len(digits) > 7 or int(digits) > self.budget.max_length:
                raise OverBudget(f"line {getattr(node, 'lineno', 0)}: a format width of {digits[:20]} "
                                 f"is over the {self.budget.max_length} limit")

    def _UnaryOp(self, node: ast.UnaryOp, local: dict[str, Any]) -> Any:
        value = self.expr(node.operand, local)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")

    def _BinOp(self, node: ast.BinOp, local: dict[str, Any]) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
        return self._binop(op, self.expr(node.left, local), self.expr(node.right, local), node)

    def _binop(self, op: Callable[[Any, Any], Any], left: Any, right: Any, node: ast.AST) -> Any:
        """`op` on these operands, its result's size checked before it is built."""
        what = f"line {getattr(node, 'lineno', 0)}: `{_short(node)}`"
        if op is _mul:
            if isinstance(left, int) and isinstance(right, int):
                self.budget.bits(left.bit_length() + right.bit_length(), what)
            elif isinstance(left, (str, bytes, list, tuple)) and isinstance(right, int):
                self.budget.length(len(left) * max(right, 0), what)
            elif isinstance(right, (str, bytes, list, tuple)) and isinstance(left, int):
                self.budget.length(len(right) * max(left, 0), what)
        elif op is _pow and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            self.budget.bits(left.bit_length() * right, what)
        elif op is _add and isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
            self.budget.length(len(left) + len(right), what)
        elif op is _mod and isinstance(left, str):
            for width, precision in _PERCENT.findall(left):
                if "*" in (width, precision):
                    raise Unresolvable(f"{what}: a `*` width is not modelled")
                self._widths(f"{width} {precision}", node)
            for arg in right if isinstance(right, tuple) else (right,):
                _scalar(arg, what)
        return op(left, right)

    def _BoolOp(self, node: ast.BoolOp, local: dict[str, Any]) -> Any:
        value: Any = None
        for operand in node.values:  # short-circuits like Python
            value = self.expr(operand, local)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _Compare(self, node: ast.Compare, local: dict[str, Any]) -> Any:
        left = self.expr(node.left, local)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.expr(right_node, local)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, local: dict[str, Any]) -> Any:
        return self.expr(node.body if self.expr(node.test, local) else node.orelse, local)

    def _Subscript(self, node: ast.Subscript, local: dict[str, Any]) -> Any:
        container = self.expr(node.value, local)
        if isinstance(node.slice, ast.Slice):
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` (a slice) is not modelled")
        key = self.expr(node.slice, local)
        if isinstance(container, _EnvView):
            return container[key]
        if not isinstance(container, (dict, list, tuple, str)):
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
        try:
            return container[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise _Raised(exc, f"line {node.lineno}: `{_short(node)}` raises {type(exc).__name__}") from None

    def _Call(self, node: ast.Call, local: dict[str, Any]) -> Any:
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
            raise Unresolvable(f"line {node.lineno}: `*args`/`**kwargs` calls are not modelled")
        if isinstance(node.func, ast.Attribute):
            owner = self.expr(node.func.value, local)
            method = node.func.attr
            args = [self.expr(arg, local) for arg in node.args]
            kwargs = {k.arg: self.expr(k.value, local) for k in node.keywords}
            if isinstance(owner, _EnvView) and method == "get" and args:
                return owner.get(*args, **kwargs)
            if isinstance(owner, _Marker):
                func = self._Attribute(node.func, local)
                return self._call_value(func, args, kwargs, node)
            if isinstance(owner, str) and method in _STR_METHODS:
                return self._str_method(owner, method, args, kwargs, node)
            if isinstance(owner, dict) and method in _DICT_METHODS:
                if method == "update":
                    self.budget.length(len(owner) + sum(len(a) for a in args if hasattr(a, "__len__")) + len(kwargs),
                                       f"line {node.lineno}: the dict")
                if method in _MUTATING_METHODS:
                    self.budget.changed(owner)
                return getattr(owner, method)(*args, **kwargs)
            raise Unresolvable(f"line {node.lineno}: the call `{_short(node.func)}(...)` is not modelled")
        func = self.expr(node.func, local)
        if isinstance(func, Function):
            return func.owner.call_function(func.node, node, local, self)
        args = [self.expr(arg, local) for arg in node.args]
        kwargs = {k.arg: self.expr(k.value, local) for k in node.keywords}
        return self._call_value(func, args, kwargs, node)

    def _call_value(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        if func is _GETENV:
            if not args:
                raise Unresolvable(f"line {node.lineno}: os.getenv() without a name")
            default = args[1] if len(args) > 1 else kwargs.get("default")
            return self.env_for(args[0], node).get(args[0], default)
        if isinstance(func, Function):
            return func.owner.call_with_values(func.node, args, kwargs)  # type: ignore[arg-type]
        if func in _BUILTINS.values() or func is _PATH:
            if func is str and args:
                _scalar(args[0], f"line {node.lineno}: `{_short(node)}`")
            return func(*args, **kwargs)
        raise Unresolvable(f"line {node.lineno}: the call `{_short(node.func)}(...)` is not modelled")

    def _str_method(self, owner: str, method: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        what = f"line {node.lineno}: `{_short(node)}`"
        if method == "join":
            items = args[0] if args else ()
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
                raise Unresolvable(f"{what}: join over this is not modelled")
            self.budget.length(sum(map(len, items)) + len(owner) * max(len(items) - 1, 0), what)
        elif method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            count = owner.count(args[0]) if args[0] else len(owner) + 1
            self.budget.length(len(owner) + count * max(len(args[1]) - len(args[0]), 0), what)
        return getattr(owner, method)(*args, **kwargs)

    # --- the module's helper functions ---------------------------------------
    def call_function(self, function: ast.FunctionDef, call: ast.Call, caller: dict[str, Any],
                      caller_evaluator: Evaluator | None = None) -> Any:
        evaluator = caller_evaluator or self
        if len(call.args) > len(function.args.posonlyargs) + len(function.args.args):
            raise Unresolvable(f"line {call.lineno}: too many arguments for {function.name}")
        return self.call_with_values(function, [evaluator.expr(arg, caller) for arg in call.args],
                                     {k.arg: evaluator.expr(k.value, caller) for k in call.keywords})  # type: ignore[misc]

    def call_with_values(self, function: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run one of the module's functions on these argument values (its return value)."""
        self.run()
        spec = function.args
        if spec.vararg or spec.kwarg:
            raise Unresolvable(f"line {function.lineno}: {function.name}'s `*args`/`**kwargs` are not modelled")
        if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in _own_nodes(function)):
            raise Unresolvable(f"line {function.lineno}: {function.name} declares `global`: not followed")
        positional = [arg.arg for arg in (*spec.posonlyargs, *spec.args)]
        if len(args) > len(positional):
            raise Unresolvable(f"line {function.lineno}: too many arguments for {function.name}")
        local: dict[str, Any] = dict(zip(positional, args))
        keyword_names = {arg.arg for arg in (*spec.args, *spec.kwonlyargs)}
        for name, value in kwargs.items():
            if name not in keyword_names or name in local:
                raise Unresolvable(f"line {function.lineno}: {function.name} does not take {name}= here")
            local[name] = value
        defaults = dict(zip(positional[len(positional) - len(spec.defaults):], spec.defaults))
        defaults.update({arg.arg: d for arg, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is not None})
        # Called from module-level code at a line: its globals as at that line.
        self._scope.append(self._scope[-1] if self._scope and isinstance(self._scope[-1], _HistoryView)
                           else self.globals)
        try:
            for name in (*positional, *(arg.arg for arg in spec.kwonlyargs)):
                if name not in local:
                    if name not in defaults:
                        raise Unresolvable(f"line {function.lineno}: {function.name} misses argument {name}")
                    local[name] = self.expr(defaults[name], {})
            self._functions.append(function)
            try:
                self._block(function.body, local)
            except _Return as result:
                return result.value
            finally:
                self._functions.pop()
            return None
        finally:
            self._scope.pop()

    def function_expr(self, node: ast.expr, local: dict[str, Any]) -> Any:
        """`node`'s value inside a function of the module, after import, with these locals."""
        self.run()
        if self.failed is not None:
            raise Unresolvable(self.failed.reason)
        self._scope.append(self.globals)
        try:
            return self.expr(node, local)
        finally:
            self._scope.pop()

    def execute(self, statement: ast.stmt, local: dict[str, Any]) -> None:
        """Run one statement of a function body on `local` (raises like the rest)."""
        self.run()
        self._scope.append(self.globals)
        try:
            self._statement(statement, local)
        finally:
            self._scope.pop()

    def _block(self, statements: list[ast.stmt], local: dict[str, Any]) -> None:
        for statement in statements:
            try:
                self._statement(statement, local)
            except Unresolvable as exc:
                if isinstance(exc, OverBudget) or not self._functions or not _skippable(statement, self._functions[-1]):
                    raise

    def _statement(self, node: ast.stmt, local: dict[str, Any]) -> None:
        self.budget.step()
        if isinstance(node, ast.Return):
            raise _Return(None if node.value is None else self.expr(node.value, local))
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            value = self.expr(node.value, local)
            for target in node.targets:
                local[target.id] = value  # type: ignore[attr-defined]
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript) \
                and isinstance(node.targets[0].value, ast.Name) and isinstance(local.get(node.targets[0].value.id), dict):
            target = node.targets[0]
            local[target.value.id][self.expr(target.slice, local)] = self.expr(node.value, local)  # type: ignore[attr-defined]
            self.budget.changed(local[target.value.id])  # type: ignore[attr-defined]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None:
                local[node.target.id] = self.expr(node.value, local)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
            load = ast.Name(node.target.id, ast.Load(), lineno=node.lineno)
            local[node.target.id] = self._binop(op, self.expr(load, local), self.expr(node.value, local), node)
        elif isinstance(node, ast.If) and all(map(self._only_logs, (*node.body, *node.orelse))):
            pass  # a branch that only logs changes no value, whatever its test (which may touch state)
        elif isinstance(node, ast.If):
            self._block(node.body if self.expr(node.test, local) else node.orelse, local)
        elif isinstance(node, ast.Import) and all(a.name in _STDLIB_MODULES and a.asname is None for a in node.names):
            for alias in node.names:
                local[alias.name] = _STDLIB_MODULES[alias.name]
        elif isinstance(node, ast.Import) and all(a.name in ("logging", "warnings") and a.asname is None
                                                  for a in node.names):
            pass  # only used to log
        elif isinstance(node, ast.Try):
            self._try(node, local)
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) or self._only_logs(node):
                return  # a docstring, or logging only: changes no value
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) \
                    and node.value.func.attr == "update" and isinstance(node.value.func.value, ast.Name) \
                    and isinstance(local.get(node.value.func.value.id), dict):
                self.expr(node.value, local)  # params.update(...) on a local dict
                return
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")
        elif isinstance(node, ast.Raise):
            raise ModuleRaises(f"line {node.lineno}: the module raises (`{_short(node)}`)")
        else:
            raise Unresolvable(f"line {node.lineno}: `{_short(node)}` is not modelled")

    @staticmethod
    def _only_logs(node: ast.stmt) -> bool:
        if isinstance(node, ast.Pass) or (isinstance(node, ast.Import) and all(
                a.name in ("logging", "warnings") and a.asname is None for a in node.names)):
            return True
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            root: ast.AST = node.value.func  # logging.getLogger(__name__).warning: down to `logging`
            while isinstance(root, (ast.Attribute, ast.Call)):
                root = root.value if isinstance(root, ast.Attribute) else root.func
            return isinstance(root, ast.Name) and root.id in (*_LOG_OBJECTS, "print")
        return False

    def _try(self, node: ast.Try, local: dict[str, Any]) -> None:
        try:
            self._block(node.body, local)
        except _Raised as raised:
            for handler in node.handlers:
                if _catches(handler, raised.exc):
                    if handler.name:
                        local[handler.name] = raised.exc
                    self._block(handler.body, local)
                    break
            else:
                raise
        else:
            self._block(node.orelse, local)
        finally:
            if node.finalbody:
                self._block(node.finalbody, local)


_UNFOLLOWED = "bound by "
_NOT_FOLLOWED = ", which is not followed: "
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?")


def _scalar(value: Any, what: str) -> None:
    """Formatting walks a container deeply: only scalars are formatted."""
    if not isinstance(value, (str, int, float, bool, type(None))):
        raise Unresolvable(f"{what}: formatting a {type(value).__name__} is not modelled")


_READING_METHODS = frozenset({"get", "copy", "keys", "values", "items"})
# What a skippable statement may hold: nothing that jumps, loops, or raises but a call checked below.
_SKIPPABLE_NODES = (ast.If, ast.Assign, ast.AnnAssign, ast.Expr, ast.Name, ast.Constant, ast.Compare, ast.BoolOp,
                    ast.Attribute, ast.Call, ast.keyword, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.JoinedStr,
                    ast.FormattedValue, ast.Subscript, ast.Not, ast.UnaryOp, ast.expr_context, ast.boolop,
                    ast.cmpop, ast.Pass)


def _skippable(statement: ast.stmt, function: ast.FunctionDef) -> bool:
    """Whether skipping this statement cannot change what the function returns: it does not
    return, raise or jump; the names it binds and the module containers it changes are not
    read anywhere else in the function; it calls nothing but logging and reading dict methods,
    and holds nothing else that may raise (no subscript read, no arithmetic). (A log-state cache
    updated in the clamp, e.g.)"""
    if not isinstance(statement, (ast.If, ast.Assign, ast.AnnAssign, ast.Expr)):
        return False  # a loop may not end; a try or with may do anything
    inside = {id(node) for node in ast.walk(statement)}
    loads = _loads(function)
    for node in ast.walk(statement):
        if not isinstance(node, _SKIPPABLE_NODES):
            return False
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            return False
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if any(id(load) not in inside for load in loads.get(node.id, ())):
                return False
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            if not isinstance(base, ast.Name) or base.id in _local_names(function) \
                    or any(id(load) not in inside for load in loads.get(base.id, ())):
                return False
        elif isinstance(node, ast.Call):
            root: ast.AST = node.func
            while isinstance(root, (ast.Attribute, ast.Call)):
                root = root.value if isinstance(root, ast.Attribute) else root.func
            logs = isinstance(root, ast.Name) and root.id in (*_LOG_OBJECTS, "print")
            reads = isinstance(node.func, ast.Attribute) and node.func.attr in _READING_METHODS
            if not (logs or reads):
                return False
    return True


@functools.lru_cache(maxsize=256)  # keyed by the function node: indexed once
def _loads(function: ast.FunctionDef) -> dict[str, list[ast.Name]]:
    found: dict[str, list[ast.Name]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.setdefault(node.id, []).append(node)
    return found


def _mul(a: Any, b: Any) -> Any:
    return a * b


def _add(a: Any, b: Any) -> Any:
    return a + b


def _mod(a: Any, b: Any) -> Any:
    return a % b


def _pow(a: Any, b: Any) -> Any:
    return a ** b


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _add, ast.Sub: lambda a, b: a - b, ast.Mult: _mul, ast.Pow: _pow,
    ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b, ast.Mod: _mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
}
_FORMS = {ast.Tuple: "tuple unpacking", ast.List: "list unpacking", ast.Starred: "star unpacking",
          ast.Attribute: "an attribute target", ast.For: "a `for` loop (its target and body)",
          ast.AsyncFor: "a `for` loop", ast.While: "a `while` loop", ast.With: "a `with` block (`as` and body)",
          ast.AsyncWith: "a `with` block", ast.Match: "a `match` statement"}


def _form(node: ast.AST) -> str:
    if isinstance(node, (ast.Tuple, ast.List)) and any(isinstance(e, ast.Starred) for e in node.elts):
        return "star unpacking"
    return _FORMS.get(type(node), f"`{type(node).__name__}`")


def source_text(node: ast.AST) -> str:
    """ast.unparse, or a placeholder when the code cannot be shown (an integer over Python's
    4,300-digit str limit, nesting too deep)."""
    try:
        return ast.unparse(node)
    except (RecursionError, ValueError, MemoryError):
        return f"<{type(node).__name__} too large to show>"


def _header(statement: ast.stmt) -> str:
    """A statement's first line, without unparsing a compound statement's whole body."""
    if isinstance(statement, ast.If):
        return f"if {_short(statement.test)}:"
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return f"for {_short(statement.target)} in {_short(statement.iter)}:"
    if isinstance(statement, ast.While):
        return f"while {_short(statement.test)}:"
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return f"with {', '.join(_short(item) for item in statement.items)}:"
    if isinstance(statement, (ast.Try, ast.Match, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {ast.Try: "try:", ast.Match: "match ...:"}.get(type(statement)) or \
            f"{'class' if isinstance(statement, ast.ClassDef) else 'def'} {statement.name}...:"  # type: ignore[union-attr]
    return _short(statement)


def _short(node: ast.AST) -> str:
    text = source_text(node).splitlines() if node is not None else []
    return _short_text(text[0] if text else "")


def _short_text(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


class _Raised(ModuleRaises):
    """An exception the module's own code raises (int("abc")); a handler may catch it."""

    def __init__(self, exc: BaseException, message: str) -> None:
        super().__init__(message)
        self.exc = exc


def _catches(handler: ast.ExceptHandler, exc: BaseException) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for name in names:
        kinds = _EXCEPTIONS.get(dotted(name) or "")
        if kinds is None:
            raise Unresolvable(f"line {handler.lineno}: `except {source_text(handler.type)}` is not modelled")
        if isinstance(exc, kinds):
            return True
    return False


# --- modules the backtest imports from its own folder ----------------------------------
MAX_MODULES = 64


def read_module_source(path: Path) -> bytes:
    """The one place explain reads a module it follows an import to (OSError when it cannot):
    through migrator.files, so a FIFO or a device never blocks and the module cap applies."""
    try:
        return read_user_file(path, MODULE)
    except UnreadableFile as exc:
        raise OSError(exc.reason) from None


class Project:
    """The folder the backtest runs in (its sys.path[0]): modules found there are followed,
    each parsed once and run once per environment."""

    def __init__(self, root: Path, budget: Budget) -> None:
        self.root = root
        self.budget = budget
        self._trees: dict[Path, ast.Module | Unknown] = {}
        self._writes: dict[str, int] | None = None

    def locate(self, name: str, importer: Path | None, level: int = 0) -> Path | None:
        base = self.root
        if level:
            if importer is None:
                return None
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
        parts = [p for p in name.split(".") if p]
        if any(not p.isidentifier() for p in parts):
            return None
        folder = base.joinpath(*parts) if parts else base
        for candidate in (folder.with_suffix(".py") if parts else None, folder / "__init__.py"):
            try:
                if candidate is not None and candidate.is_file():
                    return candidate
            except (OSError, ValueError):  # a name too long, a folder it may not read
                continue
        return None

    def tree(self, path: Path) -> ast.Module | Unknown:
        if path not in self._trees:
            if len(self._trees) >= MAX_MODULES:
                return Unknown(f"more than {MAX_MODULES} modules to follow")
            try:
                self.budget.step()
                self._trees[path] = ast.parse(read_module_source(path), filename=str(path))
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError, OverBudget) as exc:
                self._trees[path] = Unknown(f"{path.name} cannot be read or parsed ({type(exc).__name__})")
        return self._trees[path]

    def module(self, name: str, importer: Evaluator, level: int = 0) -> Evaluator | Unknown | None:
        """The evaluator of module `name` under the importer's environment (None: not in the folder)."""
        path = self.locate(name, importer.path, level)
        if path is None:
            return None
        tree = self.tree(path)
        if isinstance(tree, Unknown):
            return tree
        evaluator = importer.modules.get(path) or Evaluator(tree, importer.env, self.budget, self, path,
                                                           importer.modules)
        if evaluator._state == "running":
            return Unknown(f"{path.name} is imported while it runs (a circular import)")
        evaluator.run()
        return evaluator

    def module_at(self, path: Path, importer: Evaluator) -> Evaluator | Unknown | None:
        """The evaluator of the module at `path` (one the backtest imports) under the importer's environment."""
        relative = path.relative_to(self.root).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        importer.run()
        return self.module(".".join(parts), importer)

    def imported(self) -> list[tuple[Path, ast.Module]]:
        """The modules of the folder the backtest imports (transitively), in the order found."""
        return [(path, tree) for path, tree in self._trees.items() if isinstance(tree, ast.Module)]

    def env_writes(self) -> dict[str, int]:
        """Variables any module of the folder sets in the environment, found so far."""
        written: dict[str, str] = {}
        for path, tree in self._trees.items():
            if isinstance(tree, ast.Module):
                for name, line in env_writes(tree).items():
                    written.setdefault(name, f"{path.relative_to(self.root)}:{line}")
        return written

    def preload(self, tree: ast.Module, path: Path) -> None:
        """Parse the modules `tree` imports from the folder, transitively (env writes are read from all)."""
        pending = [(tree, path)]
        seen = {path}
        self._trees[path] = tree
        while pending:
            current, where = pending.pop()
            for node in ast.walk(current):
                names: list[tuple[str, int]] = []
                if isinstance(node, ast.Import):
                    names = [(alias.name, 0) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [(node.module or "", node.level)]
                    names += [(f"{node.module}.{a.name}" if node.module else a.name, node.level) for a in node.names]
                for name, level in names:
                    parts = name.split(".")
                    for depth in range(1, len(parts) + 1):
                        found = self.locate(".".join(parts[:depth]), where, level)
                        if found is not None and found not in seen:
                            seen.add(found)
                            parsed = self.tree(found)
                            if isinstance(parsed, ast.Module):
                                pending.append((parsed, found))


def evaluate(tree: ast.Module, node: ast.expr, env: Mapping[str, str],
             evaluator: Evaluator | None = None, line: int | None = None) -> Any:
    """`node`'s value under `env`, as module-level code at `line` sees the module's constants
    (None: after import, as functions see them), or Unknown with the reason. Never raises."""
    try:
        return (evaluator or Evaluator(tree, env)).at_line(node, line)
    except ModuleRaises as exc:
        return Unknown(f"the backtest fails here: {exc}")
    except Unresolvable as exc:
        return Unknown(str(exc))
    except RecursionError:
        return Unknown("the module's helpers recurse too deeply to follow")


def final_value(evaluator: Evaluator, name: str, key: str | None = None) -> Any:
    """Module-level `name` (or its `[key]`) after import, or Unknown with the reason. Never raises."""
    try:
        value = evaluator.final(name)
    except ModuleRaises as exc:
        return Unknown(f"the backtest fails here: {exc}")
    except Unresolvable as exc:
        return Unknown(str(exc))
    except RecursionError:
        return Unknown("the module's code recurses too deeply to follow")
    if isinstance(value, Unknown) or key is None:
        return value
    if not isinstance(value, dict):
        return Unknown(f"{name} is {type(value).__name__}, not a dict")
    if key not in value:
        return Unknown(f"{name} has no key {key!r}")
    return value[key]
