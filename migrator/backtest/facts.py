"""What the user's backtest module says about its parameters, read with `ast`.

`read_backtest_facts(path)` finds the settings the backtest resolves its Toto
and Kronos parameters from (upstream's resolve_toto_params and friends): the Toto defaults, the clamp
floors and ceilings (env-driven or plain constants), FAST_TESTING and its
values, the hyperparams root, the Kronos defaults and sample-count override,
`max_horizon` and a fixed validation window. Each is a `Setting` (name, where,
which env vars it reads, its default) or an `Unknown` saying why not.

clamp.py applies the module's clamp to these facts under an environment mapping.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any, Mapping

from migrator.backtest.module_facts import HORIZON, tail_rows  # plain `ast`: no libcst
from migrator.errors import BadInputError
from migrator.files import MODULE, UnreadableFile, read_user_file
from migrator.names import printable
from migrator.backtest.evaluate import (
    source_text,
    DEFAULT_SECONDS, ENV_GETTERS, Budget, Evaluator, ModuleRaises, Project, Unknown, Unresolvable, bindings,
    dotted, env_reading_functions, evaluate, final_value, to_json,
)
from migrator.backtest.hooks import EnvRead, find_env_reads

# Names the module spells its settings with (guide commit first, then other versions).
TOTO_DEFAULT_NAMES = {
    "num_samples": ("DEFAULT_TOTO_NUM_SAMPLES", "TOTO_NUM_SAMPLES", "DEFAULT_TOTO_PARAMS['num_samples']"),
    "samples_per_batch": ("DEFAULT_TOTO_SAMPLES_PER_BATCH", "TOTO_SAMPLES_PER_BATCH",
                          "DEFAULT_TOTO_PARAMS['samples_per_batch']"),
    "aggregate": ("TOTO_AGGREGATION_SPEC", "DEFAULT_TOTO_AGG_SPEC", "DEFAULT_TOTO_AGGREGATE",
                  "DEFAULT_TOTO_PARAMS['aggregate']"),
}
# bound -> (constant names, the env var the guide's version reads it from)
TOTO_BOUND_NAMES = {
    "min_num_samples": (("TOTO_MIN_NUM_SAMPLES",), "MARKETSIM_TOTO_MIN_NUM_SAMPLES"),
    "max_num_samples": (("TOTO_MAX_NUM_SAMPLES",), "MARKETSIM_TOTO_MAX_NUM_SAMPLES"),
    "min_samples_per_batch": (("TOTO_MIN_SAMPLES_PER_BATCH",), "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH"),
    "max_samples_per_batch": (("TOTO_MAX_SAMPLES_PER_BATCH",), "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH"),
}
TOTO_KEYS = ("num_samples", "samples_per_batch", "aggregate")
KRONOS_SAMPLE_COUNT_ENV = "MARKETSIM_KRONOS_SAMPLE_COUNT"
HYPERPARAM_ROOT_ENV = "HYPERPARAM_ROOT"


@dataclasses.dataclass(frozen=True)
class Setting:
    """A value the module computes: where, from what, and its value with no env var set."""

    name: str  # e.g. DEFAULT_TOTO_NUM_SAMPLES or FAST_TOTO_PARAMS['num_samples']
    location: str  # file:line
    expression: str  # as written
    env: tuple[str, ...]  # the env vars it reads (directly or through the module's helpers)
    default: Any  # its value with none of them set (or Unknown)
    node: ast.expr = dataclasses.field(compare=False, repr=False)
    line: int | None = dataclasses.field(default=None, compare=False, repr=False)  # evaluated as at this line
    # The module-level name (and dict key) whose value after import this is; None: `node` itself.
    ref: tuple[str, str | None] | None = dataclasses.field(default=None, compare=False, repr=False)
    module: Path | None = dataclasses.field(default=None, compare=False, repr=False)  # None: the backtest

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "expression": self.expression,
                "env": list(self.env), "default": to_json(self.default)}


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A value under a given environment, and why it is that value."""

    value: Any  # or Unknown
    why: str

    def as_json(self) -> dict[str, Any]:
        return {"value": to_json(self.value), "why": self.why}


@dataclasses.dataclass(frozen=True)
class Guard:
    """`if TEST: ... return "toto"` in the selection function, TEST reading only module names
    and the symbol (a test mode, a forced model)."""

    test: ast.expr = dataclasses.field(repr=False, compare=False)
    parameter: str | None  # the function's symbol parameter
    returns: str
    text: str
    location: str

    def as_json(self) -> dict[str, Any]:
        return {"test": self.text, "returns": self.returns, "location": self.location}


@dataclasses.dataclass(frozen=True)
class Selection:
    """How the backtest picks a symbol's model (its resolve_best_model)."""

    name: str
    guards: tuple[Guard, ...]
    default: Any  # `selection.get("model", DEFAULT)`: a selection without `model`
    missing: Any  # what it picks when there is no selection file (None: not found)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "guards": [g.as_json() for g in self.guards], "default": self.default,
                "missing": self.missing}


@dataclasses.dataclass(frozen=True)
class Site:
    """A line of the module that matters (a function, a literal, a slice)."""

    location: str
    text: str
    value: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"location": self.location, "text": self.text, "value": to_json(self.value)}


class Evaluations:
    """One bounded evaluation of the backtest (and the modules it imports from its folder) per
    environment, all under one budget: every question about the module reuses them."""

    def __init__(self, path: Path, tree: ast.Module, seconds: float) -> None:
        self.path = path
        self.tree = tree
        self.budget = Budget(seconds=seconds)
        self.project = Project(path.parent, self.budget)
        self.project.preload(tree, path)
        self._cache: dict[tuple[tuple[str, str], ...], Evaluator] = {}

    def get(self, env: Mapping[str, str], module: Path | None = None) -> Evaluator:
        key = tuple(sorted(env.items()))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = Evaluator(self.tree, env, self.budget, self.project, self.path)
        evaluator = self._cache[key]
        if module is None or module == self.path:
            return evaluator
        imported = self.project.module_at(module, evaluator)
        return imported if isinstance(imported, Evaluator) else evaluator

    def value(self, setting: Setting, env: Mapping[str, str]) -> Any:
        evaluator = self.get(env, setting.module)
        if setting.ref is not None:
            return final_value(evaluator, *setting.ref)
        return evaluate(self.tree, setting.node, env, evaluator, setting.line)


@dataclasses.dataclass(frozen=True)
class BacktestFacts:
    path: Path
    tree: ast.Module = dataclasses.field(repr=False, compare=False)
    toto_defaults: dict[str, Setting | Unknown]
    toto_bounds: dict[str, Setting | Unknown]
    clamp_function: Site | Unknown
    fast_testing: Setting | Unknown
    fast_toto_params: dict[str, Setting | Unknown]
    fast_clamped: bool | Unknown  # whether the FAST_TESTING values go through the clamp
    hyperparam_root: Setting | Unknown
    kronos_defaults: dict[str, Setting] | Unknown
    kronos_sample_count_read: Site | None  # None: the module never names the variable
    max_horizon: tuple[Site, ...]
    validation_windows: tuple[Site, ...]
    env_reads: tuple[EnvRead, ...]
    evaluations: Evaluations = dataclasses.field(repr=False, compare=False)
    best_model: Selection | Unknown = dataclasses.field(default=Unknown("not read"), compare=False)

    def guard_value(self, guard: Guard, symbol: str, env: Mapping[str, str]) -> Any:
        """A selection guard's test for this symbol under `env` (Unknown when not determined)."""
        local = {guard.parameter: symbol} if guard.parameter else {}
        try:
            return self.evaluator(env).function_expr(guard.test, local)
        except ModuleRaises as exc:
            return Unknown(f"the backtest fails here: {exc}")
        except Unresolvable as exc:
            return Unknown(str(exc))
        except RecursionError:
            return Unknown("too deeply nested to follow")

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"

    def evaluator(self, env: Mapping[str, str]) -> Evaluator:
        """The backtest's bounded evaluation under `env` (one per environment, shared)."""
        return self.evaluations.get(env)

    def value(self, setting: Setting | Unknown, env: Mapping[str, str]) -> Any:
        """The setting's value under `env` (Unknown when it cannot be determined)."""
        if isinstance(setting, Unknown):
            return setting
        return self.evaluations.value(setting, env)

    def resolved(self, setting: Setting | Unknown, env: Mapping[str, str]) -> Resolved:
        if isinstance(setting, Unknown):
            return Resolved(setting, setting.reason)
        set_vars = [f"{name}={env[name]!r}" for name in setting.env if name in env]
        how = ", ".join(set_vars) + " set" if set_vars else (
            f"{', '.join(setting.env)} unset" if setting.env else "a plain constant, no env var")
        return Resolved(self.value(setting, env),
                        f"{setting.name} = {setting.expression} ({setting.location}); {how}")

    def as_json(self) -> dict[str, Any]:
        def each(mapping: Mapping[str, Setting | Unknown] | Unknown) -> Any:
            return to_json(mapping) if isinstance(mapping, Unknown) else {k: to_json(v) for k, v in mapping.items()}

        return {
            "path": str(self.path),
            "toto_defaults": each(self.toto_defaults),
            "toto_bounds": each(self.toto_bounds),
            "clamp_function": to_json(self.clamp_function),
            "fast_testing": to_json(self.fast_testing),
            "fast_toto_params": each(self.fast_toto_params),
            "fast_clamped": to_json(self.fast_clamped),
            "hyperparam_root": to_json(self.hyperparam_root),
            "kronos_defaults": each(self.kronos_defaults),
            "kronos_sample_count_read": to_json(self.kronos_sample_count_read),
            "max_horizon": [site.as_json() for site in self.max_horizon],
            "validation_windows": [site.as_json() for site in self.validation_windows],
        }


# --- reading the module ---------------------------------------------------------
def read_backtest_facts(path: Path, seconds: float = DEFAULT_SECONDS) -> BacktestFacts:
    """Read the module at `path`. Raises BadInputError (one line naming the file) when it
    cannot be read or parsed; every other gap is an Unknown in the result. Evaluating it
    (and the modules it imports from its folder) takes at most `seconds` in all."""
    try:
        source = read_user_file(path, MODULE)
    except UnreadableFile as exc:
        raise BadInputError(f"{printable(str(path))}: cannot read the backtest: {exc.reason}") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise BadInputError(f"{path}:{exc.lineno or 0}: not valid Python: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise BadInputError(f"{path}: not valid Python: {exc}") from None
    except (RecursionError, MemoryError):
        raise BadInputError(f"{path}: nested too deeply for Python's parser") from None
    # Lines as Python numbers them (str.splitlines also splits on \f, \x1c, ...).
    lines = re.split(r"\r\n|\r|\n", source.decode("utf-8", "replace"))
    return _Reader(path, tree, lines, Evaluations(path, tree, seconds)).facts()


class _Reader:
    def __init__(self, path: Path, tree: ast.Module, lines: list[str], evaluations: Evaluations) -> None:
        self.path = path
        self.tree = tree
        self.lines = lines
        self.bindings = bindings(tree)
        self.assignments = self.bindings.assignments
        self.functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        self.env_functions = env_reading_functions(tree)
        self.evaluations = evaluations
        self._env_of: dict[str, list[str]] = {}

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{getattr(node, 'lineno', 0)}"

    def facts(self) -> BacktestFacts:
        reads = find_env_reads(self.tree, self.lines, self.path)
        bounds: dict[str, Setting | Unknown] = {}
        for bound, (names, env_name) in TOTO_BOUND_NAMES.items():
            bounds[bound] = self.first_setting(names, env_name)
        kronos = self.dict_settings("DEFAULT_KRONOS_PARAMS")
        return BacktestFacts(
            path=self.path,
            tree=self.tree,
            toto_defaults={key: self.first_setting(names) for key, names in TOTO_DEFAULT_NAMES.items()},
            toto_bounds=bounds,
            clamp_function=self.clamp_function(),
            fast_testing=self.first_setting(("FAST_TESTING",), "FAST_TESTING"),
            fast_toto_params={key: self.first_setting((f"FAST_TOTO_PARAMS['{key}']",)) for key in TOTO_KEYS},
            fast_clamped=self.fast_clamped(),
            hyperparam_root=self.hyperparam_root(),
            kronos_defaults=kronos,
            kronos_sample_count_read=next(
                (Site(read.location, read.statement_text) for read in reads if read.var == KRONOS_SAMPLE_COUNT_ENV),
                None),
            max_horizon=tuple(self.max_horizon()),
            validation_windows=tuple(self.validation_windows()),
            env_reads=tuple(reads),
            evaluations=self.evaluations,
            best_model=self.best_model(),
        )

    # --- settings ------------------------------------------------------------
    def setting(self, name: str) -> Setting | Unknown:
        """NAME, or NAME['key'] for a key of a module-level dict literal: its value after import."""
        if name.endswith("']"):
            base, key = name[:-2].split("['", 1)
            found = self.dict_settings(base)
            if isinstance(found, Unknown):
                return found
            return found.get(key, Unknown(f"{base} in {self.path.name} has no key {key!r}"))
        node = self.assignment(name)
        if isinstance(node, Unknown):
            return node
        return self.make_setting(name, node, (name, None))

    def assignment(self, name: str) -> ast.Assign | ast.AnnAssign | ast.AugAssign | Unknown:
        """The module-level assignment that names `name` (the last unconditional one)."""
        node = self.bindings.shown(name)
        if node is None:
            return Unknown(f"{self.path.name} assigns no {name}")
        return node

    def make_setting(self, name: str, node: ast.stmt, ref: tuple[str, str | None] | None,
                     value: ast.expr | None = None, module: Path | None = None, tree: ast.Module | None = None
                     ) -> Setting:
        """A setting named by the assignment `node`; its value is `ref`'s after import."""
        value = value if value is not None else node.value  # type: ignore[attr-defined]
        lines = [line for line in (bindings(tree).lines(ref[0]) if tree is not None and ref else
                                   self.bindings.lines(ref[0]) if ref else []) if line != node.lineno]
        expression = source_text(value) + (f" (also assigned at line {', '.join(map(str, lines))})" if lines else "")
        setting = Setting(name=name, location=f"{module or self.path}:{node.lineno}", expression=expression,
                          env=tuple(self.name_env(ref[0]) if ref and ref[1] is None and tree is None
                                    else self.env_names(value, set())),
                          default=None, node=value, line=None, ref=ref, module=module)
        return dataclasses.replace(setting, default=self.evaluations.value(setting, {}))

    def first_setting(self, names: tuple[str, ...], env_name: str | None = None) -> Setting | Unknown:
        """The first of `names` the module assigns; else a module-level assignment reading
        `env_name`; else Unknown naming what was looked for."""
        unknowns = []
        for name in names:
            found = self.setting(name)
            if isinstance(found, Setting):
                return found
            unknowns.append(found.reason)
        if env_name:
            for target in self.assignments:
                node = self.bindings.shown(target)
                if node is None or getattr(node, "value", None) is None:
                    continue
                if env_name in self.name_env(target):
                    return self.make_setting(target, node, (target, None))
            unknowns.append(f"no module-level assignment reads {env_name}")
        shown = [reason for reason in unknowns if "assigns no" not in reason] or [
            f"{self.path.name} assigns none of {', '.join(names)}" + (
                f" and no module-level assignment reads {env_name}" if env_name else "")]
        return Unknown("; ".join(shown))

    @functools.cache  # noqa: B019 (one _Reader per read; asked once per key)
    def dict_settings(self, name: str) -> dict[str, Setting] | Unknown:
        """Per key of a module-level dict literal, its value after import (changes followed)."""
        node = self.assignment(name)
        if isinstance(node, Unknown):
            return node
        value = getattr(node, "value", None)
        if not isinstance(value, ast.Dict) or not all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                                      for k in value.keys):
            return Unknown(f"{name} ({self.where(node)}) is not a dict literal with string keys")
        return {k.value: self.make_setting(f"{name}['{k.value}']", node, (name, k.value), v)  # type: ignore[union-attr]
                for k, v in zip(value.keys, value.values)}

    def name_env(self, name: str) -> list[str]:
        """The env vars module-level `name` reads, through all its assignments (memoized: linear)."""
        if name not in self._env_of:
            self._env_of[name] = []  # a cycle reads nothing more
            found: list[str] = []
            for assignment in self.assignments.get(name, []):
                if getattr(assignment, "value", None) is not None:
                    found += self.env_names(assignment.value, set())  # type: ignore[attr-defined]
            self._env_of[name] = list(dict.fromkeys(found))
        return self._env_of[name]

    def env_names(self, node: ast.AST, seen: set[str]) -> list[str]:
        """The env vars an expression reads: getenv / os.environ literals, the first literal
        argument of a module helper that reads the environment, and those of the constants it uses."""
        names: list[str] = []
        for child in ast.walk(node):
            literal = None
            if isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant):
                func = dotted(child.func) or ""
                if func in ENV_GETTERS or func in self.env_functions:
                    literal = child.args[0].value
            elif isinstance(child, ast.Subscript) and dotted(child.value) in ("os.environ", "environ") \
                    and isinstance(child.slice, ast.Constant):
                literal = child.slice.value
            elif isinstance(child, ast.Name) and child.id in self.assignments and child.id not in seen:
                seen.add(child.id)
                names += self.name_env(child.id)
            if isinstance(literal, str) and literal not in names:
                names.append(literal)
        return list(dict.fromkeys(names))

    def best_model(self) -> Selection | Unknown:
        """resolve_best_model's guards (top-level `if`s returning a string, whose test reads no
        local variable but the symbol), the model a selection without one gets, and the model
        picked without a selection file."""
        function = self.functions.get("resolve_best_model")
        if function is None:
            return Unknown(f"{self.path.name} defines no resolve_best_model")
        parameters = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
        parameter = parameters[0] if parameters else None
        local = _local_names_of(function)
        guards = []
        for statement in function.body:
            if isinstance(statement, ast.If) and statement.body and isinstance(statement.body[-1], ast.Return) \
                    and isinstance(statement.body[-1].value, ast.Constant) \
                    and isinstance(statement.body[-1].value.value, str) \
                    and not any(isinstance(n, ast.Name) and n.id in local - {parameter} for n in ast.walk(statement.test)):
                guards.append(Guard(statement.test, parameter, statement.body[-1].value.value,
                                    f"if {source_text(statement.test)}", self.where(statement)))
        default = missing = None
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and len(node.args) == 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value == "model" \
                    and isinstance(node.args[1], ast.Constant):
                default = node.args[1].value
            elif isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1 \
                    and isinstance(node.test.ops[0], ast.Is) and isinstance(node.test.comparators[0], ast.Constant) \
                    and node.test.comparators[0].value is None:
                for child in node.body:
                    if isinstance(child, ast.Assign) and isinstance(child.value, ast.Constant) \
                            and isinstance(child.value.value, str):
                        missing = child.value.value
        return Selection(function.name, tuple(guards), default, missing)

    # --- functions and sites --------------------------------------------------
    def clamp_function(self) -> Site | Unknown:
        for name, node in self.functions.items():
            if "clamp" in name and "toto" in name:
                return Site(self.where(node), f"def {name}")
        return Unknown(f"{self.path.name} defines no Toto clamp function (a top-level def named *clamp*toto*)")

    def fast_clamped(self) -> bool | Unknown:
        """Whether resolve_toto_params's FAST_TESTING branch goes through the clamp."""
        resolve = self.functions.get("resolve_toto_params")
        if resolve is None:
            return Unknown(f"{self.path.name} defines no resolve_toto_params")
        clamp = self.clamp_function()
        clamp_name = clamp.text[4:] if isinstance(clamp, Site) else None
        for node in ast.walk(resolve):
            if isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "FAST_TESTING"
                                                for n in ast.walk(node.test)):
                returns = [n for statement in node.body for n in ast.walk(statement) if isinstance(n, ast.Return)]
                if not returns and node in resolve.body:
                    # `if FAST_TESTING: params = ... else: ...` then one return after the if.
                    after = resolve.body[resolve.body.index(node) + 1:]
                    returns = [n for statement in after for n in ast.walk(statement) if isinstance(n, ast.Return)]
                if not returns:
                    return Unknown(f"the FAST_TESTING branch ({self.where(node)}) does not return; "
                                   "what follows it is not followed")
                # A return that calls the clamp, or returns a name (or its .copy()) the branch assigned from it.
                clamped_names = {t.id for statement in node.body for n in ast.walk(statement)
                                 if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                                 and dotted(n.value.func) == clamp_name for t in n.targets if isinstance(t, ast.Name)}
                calls_clamp = [clamp_name is not None and (any(
                    isinstance(c, ast.Call) and dotted(c.func) == clamp_name for c in ast.walk(r))
                    or _returned_name(r) in clamped_names) for r in returns]
                if all(calls_clamp):
                    return True
                if not any(calls_clamp):
                    return False
                return Unknown(f"the FAST_TESTING branch ({self.where(node)}) returns both clamped "
                               "and unclamped values")
        return Unknown(f"resolve_toto_params ({self.where(resolve)}) has no `if FAST_TESTING` branch")

    def hyperparam_root(self) -> Setting | Unknown:
        found = self.first_setting(("HYPERPARAM_ROOT",), HYPERPARAM_ROOT_ENV)
        if isinstance(found, Setting) and HYPERPARAM_ROOT_ENV in found.env:
            return found
        # Read in a module the backtest imports from its folder (upstream's hyperparamstore/store.py).
        for path, tree in self.evaluations.project.imported():
            if path == self.path:
                continue
            for statement in tree.body:
                if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None \
                        and _reads_env(statement.value, HYPERPARAM_ROOT_ENV):
                    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                    if len(targets) == 1 and isinstance(targets[0], ast.Name):
                        return self.make_setting(targets[0].id, statement, (targets[0].id, None), module=path,
                                                 tree=tree)
        # Read inline, e.g. in load_best_config: os.getenv("HYPERPARAM_ROOT", "hyperparams").
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and (dotted(node.func) or "") in ENV_GETTERS and node.args \
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == HYPERPARAM_ROOT_ENV:
                return self.make_setting(source_text(node), node, None, value=node)  # type: ignore[arg-type]
        return Unknown(f"{self.path.name} never reads {HYPERPARAM_ROOT_ENV}; where it loads configs "
                       "from is not known")

    def max_horizon(self) -> list[Site]:
        sites = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == HORIZON
                                                    for t in node.targets):
                value = node.value.value if isinstance(node.value, ast.Constant) else Unknown(
                    f"set by `{source_text(node.value)}` (see hooks)")
                sites.append(Site(self.where(node), source_text(node), value))
        return sites

    def validation_windows(self) -> list[Site]:
        """`validation = price[-N:]`: a fixed window the forecasts are compared with."""
        sites = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and "valid" in node.targets[0].id.lower():
                rows = tail_rows(node.value)
                if rows is not None:
                    sites.append(Site(self.where(node), source_text(node), rows))
        return sites


def _local_names_of(function: ast.FunctionDef) -> set[str]:
    return {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | {
        a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}


def _returned_name(statement: ast.Return) -> str | None:
    """`return NAME` or `return NAME.copy()`: NAME."""
    value = statement.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "copy" \
            and not value.args:
        value = value.func.value
    return value.id if isinstance(value, ast.Name) else None


def _reads_env(node: ast.AST, name: str) -> bool:
    return any(isinstance(child, ast.Call) and (dotted(child.func) or "") in ENV_GETTERS and child.args
               and isinstance(child.args[0], ast.Constant) and child.args[0].value == name
               for child in ast.walk(node))
