"""A small evaluator for the settings a backtest module computes from its environment.

The backtest decides its values with module constants such as
`int(os.getenv("TOTO_NUM_SAMPLES", "3072"))` or `_read_int_env(NAME, 128)`.
Rather than recognising a few spellings, this evaluates the expression itself,
over a given environment mapping, following the module's own helper functions.
It covers the subset such settings are written in (literals, os.getenv /
os.environ, int/float/str/bool/min/max, str methods, comparisons, module
constants and helpers made of assignments, if, try/except and return). Anything
outside it raises `Unresolvable` with the reason: the caller reports an unknown,
it never guesses. Nothing of the user's code is imported or executed.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
from pathlib import Path
from typing import Any, Callable, Mapping


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


class ModuleRaises(Exception):
    """Evaluating the module's own code raises (as the backtest would at run time)."""


_MAX_STEPS = 20_000
ENV_GETTERS = frozenset({"os.getenv", "getenv", "os.environ.get", "environ.get"})
_PLAIN_IMPORTS = frozenset({"os", "logging", "warnings"})  # modules a helper may import locally
_LOG_OBJECTS = frozenset({"logger", "LOGGER", "log", "logging", "warnings", "_logger", "LOG"})
_EXCEPTIONS: dict[str, tuple[type[BaseException], ...]] = {
    "ValueError": (ValueError,), "TypeError": (TypeError,), "KeyError": (KeyError,),
    "Exception": (Exception,), "ArithmeticError": (ArithmeticError,),
    "ZeroDivisionError": (ZeroDivisionError,), "LookupError": (LookupError,),
}
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold", "isdigit",
                          "startswith", "endswith", "replace"})
_BUILTINS: dict[str, Callable[..., Any]] = {
    "int": int, "float": float, "str": str, "bool": bool, "max": max, "min": min, "abs": abs,
    "len": len, "round": round, "dict": dict, "object": object, "Path": lambda *parts: str(Path(*parts)),
    "pathlib.Path": lambda *parts: str(Path(*parts)),
}
_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
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


@functools.lru_cache(maxsize=16)  # keyed by the tree object: read once per module
def env_writes(tree: ast.Module) -> dict[str, int]:
    """Variables the module sets in its own environment, anywhere (name -> line; "*": unknown names):
    os.environ[NAME] = ..., os.environ.setdefault / pop / update, os.putenv / unsetenv, del os.environ[NAME]."""
    written: dict[str, int] = {}

    def note(name: ast.expr | None, line: int) -> None:
        key = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else "*"
        written.setdefault(key, line)

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and dotted(target.value) in ("os.environ", "environ"):
                    note(target.slice, node.lineno)
        elif isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            if name in ("os.environ.setdefault", "environ.setdefault", "os.environ.pop", "environ.pop",
                        "os.putenv", "putenv", "os.unsetenv", "unsetenv"):
                note(node.args[0] if node.args else None, node.lineno)
            elif name in ("os.environ.update", "environ.update", "os.environ.clear", "environ.clear"):
                if node.args and isinstance(node.args[0], ast.Dict) and all(k is not None for k in node.args[0].keys):
                    for key in node.args[0].keys:
                        note(key, node.lineno)
                elif node.args or name.endswith("clear"):
                    note(None, node.lineno)
                for keyword in node.keywords:
                    note(ast.Constant(keyword.arg) if keyword.arg else None, node.lineno)
    return written


def module_assignments(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Module-level assignments per name (also those inside top-level if/try/with)."""
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


@functools.lru_cache(maxsize=16)  # keyed by the tree object: indexed once per module
def bindings(tree: ast.Module) -> Bindings:
    return Bindings(tree)


class Bindings:
    """Module-level assignments, and which one a read of a name sees."""

    def __init__(self, tree: ast.Module) -> None:
        self.assignments = module_assignments(tree)
        self._top = {id(node) for node in tree.body}
        # Statements in a top-level try/with body run unless something raises first.
        self._mostly = {id(child) for node in tree.body if isinstance(node, (ast.Try, ast.With))
                        for child in node.body}

    def pick(self, name: str, before: int | None) -> ast.Assign | ast.AnnAssign:
        nodes = self.assignments.get(name)
        if not nodes:
            raise Unresolvable(f"{name} is not assigned at module level")
        lines = ", ".join(str(node.lineno) for node in nodes)
        if len(nodes) > 1 and any(id(node) not in self._top for node in nodes):
            raise Unresolvable(f"{name} is assigned at several lines ({lines}), some under a condition: "
                               "which one runs is not known")
        if id(nodes[0]) not in self._top and id(nodes[0]) not in self._mostly:
            raise Unresolvable(f"{name} (line {lines}) is assigned only under a condition")
        candidates = [node for node in nodes if before is None or node.lineno < before]
        if not candidates:
            raise Unresolvable(f"{name} is read at line {before}, before its assignment (line {lines})")
        node = candidates[-1]
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            raise Unresolvable(f"{name} (line {node.lineno}) is not a plain assignment")
        return node


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Evaluator:
    """Evaluates expressions of one module under one environment mapping."""

    def __init__(self, tree: ast.Module, env: Mapping[str, str]) -> None:
        self.env = env
        self.bindings = bindings(tree)
        self.written = env_writes(tree)
        self.assignments = self.bindings.assignments
        self.functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        self._constants: dict[int, Any] = {}
        self._evaluating: set[int] = set()
        self._context: list[int | None] = []
        self._steps = 0

    # --- public ---------------------------------------------------------------
    def constant(self, name: str) -> Any:
        """The value a read of module constant `name` sees: at module level, the last
        assignment above the line being evaluated; in a function (run after import), the last."""
        node = self.bindings.pick(name, self._context[-1] if self._context else None)
        if id(node) in self._constants:
            return self._constants[id(node)]
        if id(node) in self._evaluating:
            raise Unresolvable(f"{name} (line {node.lineno}) refers to itself")
        self._evaluating.add(id(node))
        self._context.append(node.lineno)
        try:
            value = self.expr(node.value, {})  # type: ignore[arg-type]
        finally:
            self._evaluating.discard(id(node))
            self._context.pop()
        self._constants[id(node)] = value
        return value

    def at_line(self, node: ast.expr, line: int | None) -> Any:
        """`node`'s value as module-level code at `line` sees it (None: after import)."""
        self._context.append(line)
        try:
            return self.expr(node, {})
        finally:
            self._context.pop()

    def expr(self, node: ast.expr, local: dict[str, Any]) -> Any:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            raise Unresolvable("evaluation too long")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")
        try:
            return method(node, local)
        except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, AttributeError) as exc:
            # Raised by the module's own code (int("abc")): a try/except around it may catch it.
            raise _Raised(exc, f"line {node.lineno}: `{ast.unparse(node)}` raises "
                               f"{type(exc).__name__}: {exc}") from None

    def _env(self, name: Any, node: ast.AST) -> Mapping[str, str]:
        """The environment a read of `name` sees; unknown when the module itself sets it."""
        line = self.written.get(name, self.written.get("*"))
        if line is not None:
            raise Unresolvable(f"line {node.lineno}: the module itself sets {name} (line {line}); "
                               "when, relative to this read, is not followed")
        return self.env

    # --- expressions ----------------------------------------------------------
    def _Constant(self, node: ast.Constant, local: dict[str, Any]) -> Any:
        return node.value

    def _Name(self, node: ast.Name, local: dict[str, Any]) -> Any:
        if node.id in local:
            return local[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in self.assignments:
            return self.constant(node.id)
        raise Unresolvable(f"line {node.lineno}: `{node.id}` is not a module constant")

    def _Attribute(self, node: ast.Attribute, local: dict[str, Any]) -> Any:
        if dotted(node) == "os.environ":
            if self.written:
                where = ", ".join(f"{var} (line {line})" for var, line in self.written.items())
                raise Unresolvable(f"the module itself sets {where}")
            return dict(self.env)  # `NAME in os.environ`, os.environ.get(...)
        raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")

    def _Dict(self, node: ast.Dict, local: dict[str, Any]) -> Any:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**other, ...}
                result.update(self.expr(value, local))
            else:
                result[self.expr(key, local)] = self.expr(value, local)
        return result

    def _List(self, node: ast.List, local: dict[str, Any]) -> Any:
        return [self.expr(item, local) for item in node.elts]

    def _Tuple(self, node: ast.Tuple, local: dict[str, Any]) -> Any:
        return tuple(self.expr(item, local) for item in node.elts)

    def _Set(self, node: ast.Set, local: dict[str, Any]) -> Any:
        return {self.expr(item, local) for item in node.elts}

    def _UnaryOp(self, node: ast.UnaryOp, local: dict[str, Any]) -> Any:
        value = self.expr(node.operand, local)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")

    def _BinOp(self, node: ast.BinOp, local: dict[str, Any]) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")
        return op(self.expr(node.left, local), self.expr(node.right, local))

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
        key = self.expr(node.slice, local)
        if dotted(node.value) in ("os.environ", "environ"):
            if key not in self._env(key, node):
                raise ModuleRaises(f"line {node.lineno}: os.environ[{key!r}] raises KeyError ({key} is unset)")
            return self.env[key]
        container = self.expr(node.value, local)
        try:
            return container[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise ModuleRaises(f"line {node.lineno}: `{ast.unparse(node)}` raises {type(exc).__name__}") from None

    def _Call(self, node: ast.Call, local: dict[str, Any]) -> Any:
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
            raise Unresolvable(f"line {node.lineno}: `*args`/`**kwargs` calls are not modelled")
        name = dotted(node.func)
        args = [self.expr(arg, local) for arg in node.args] if name not in self.functions else None
        if name in ENV_GETTERS:
            assert args is not None
            default = args[1] if len(args) > 1 else next(
                (self.expr(k.value, local) for k in node.keywords if k.arg == "default"), None)
            return self._env(args[0], node).get(args[0], default)
        if name in self.functions:
            return self.call_function(self.functions[name], node, local)
        assert args is not None
        kwargs = {k.arg: self.expr(k.value, local) for k in node.keywords}
        if name in _BUILTINS:
            return _BUILTINS[name](*args, **kwargs)
        if isinstance(node.func, ast.Attribute):
            owner = self.expr(node.func.value, local)
            method = node.func.attr
            if (isinstance(owner, str) and method in _STR_METHODS) or (
                    isinstance(owner, dict) and method in ("get", "copy", "update")):
                return getattr(owner, method)(*args, **kwargs)
        raise Unresolvable(f"line {node.lineno}: the call `{ast.unparse(node.func)}(...)` is not modelled")

    # --- the module's helper functions ---------------------------------------
    def call_function(self, function: ast.FunctionDef, call: ast.Call, caller: dict[str, Any]) -> Any:
        if len(call.args) > len(function.args.args):
            raise Unresolvable(f"line {call.lineno}: too many arguments for {function.name}")
        return self.call_with_values(function, [self.expr(arg, caller) for arg in call.args],
                                     {k.arg: self.expr(k.value, caller) for k in call.keywords})  # type: ignore[misc]

    def call_with_values(self, function: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run one of the module's functions on these argument values (its return value)."""
        spec = function.args
        if spec.vararg or spec.kwarg or spec.posonlyargs or spec.kwonlyargs:
            raise Unresolvable(f"line {function.lineno}: {function.name}'s signature is not modelled")
        names = [arg.arg for arg in spec.args]
        if len(args) > len(names):
            raise Unresolvable(f"line {function.lineno}: too many arguments for {function.name}")
        local: dict[str, Any] = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise Unresolvable(f"line {function.lineno}: {function.name} has no parameter {name}")
            local[name] = value
        defaults = dict(zip(names[len(names) - len(spec.defaults):], spec.defaults))
        for name in names:
            if name not in local:
                if name not in defaults:
                    raise Unresolvable(f"line {function.lineno}: {function.name} misses argument {name}")
                local[name] = self.expr(defaults[name], {})
        try:
            self._block(function.body, local)
        except _Return as result:
            return result.value
        return None

    def execute(self, statement: ast.stmt, local: dict[str, Any]) -> None:
        """Run one statement of a function body on `local` (raises like the rest)."""
        self._statement(statement, local)

    def _block(self, statements: list[ast.stmt], local: dict[str, Any]) -> None:
        for statement in statements:
            self._statement(statement, local)

    def _statement(self, node: ast.stmt, local: dict[str, Any]) -> None:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            raise Unresolvable("evaluation too long")
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
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None:
                local[node.target.id] = self.expr(node.value, local)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")
            local[node.target.id] = op(self.expr(node.target, local), self.expr(node.value, local))
        elif isinstance(node, ast.If) and all(map(self._only_logs, (*node.body, *node.orelse))):
            pass  # a branch that only logs changes no value, whatever its test (which may touch state)
        elif isinstance(node, ast.If):
            self._block(node.body if self.expr(node.test, local) else node.orelse, local)
        elif isinstance(node, ast.Import) and all(a.name in _PLAIN_IMPORTS and a.asname is None
                                                  for a in node.names):
            pass  # `import os` inside a helper: os.environ is already what `os.environ` reads
        elif isinstance(node, ast.Try):
            self._try(node, local)
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):
                return  # a docstring
            owner = dotted(node.value.func).split(".")[0] if isinstance(node.value, ast.Call) and dotted(node.value.func) else None
            if owner in _LOG_OBJECTS or owner == "print":
                return  # logging only: changes no value
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) \
                    and node.value.func.attr == "update" and isinstance(node.value.func.value, ast.Name) \
                    and isinstance(local.get(node.value.func.value.id), dict):
                self.expr(node.value, local)  # params.update(...) on a local dict
                return
            raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node)}` is not modelled")
        elif isinstance(node, ast.Raise):
            raise ModuleRaises(f"line {node.lineno}: the module raises (`{ast.unparse(node)}`)")
        else:
            raise Unresolvable(f"line {node.lineno}: `{ast.unparse(node).splitlines()[0]}` is not modelled")

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
            raise Unresolvable(f"line {handler.lineno}: `except {ast.unparse(handler.type)}` is not modelled")
        if isinstance(exc, kinds):
            return True
    return False


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
