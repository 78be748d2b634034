"""What a codemod rule is, and the small libcst tools the rules share.

A rule rewrites a parsed module and says what it found: `applied` (it changed
something), `already applied` (the code already has the hook), or
`not applicable` (nothing of its kind here). Rules run one after another on the
same trees: the engine parses each file once, and only the top-level pieces a
rule's trigger text appears in (see pieces.py), so `transform` may receive part
of a file; whole-file facts come from `ModuleContext.facts`.
"""

from __future__ import annotations

import abc
import ast
import dataclasses
import enum
import functools
import warnings
from typing import ClassVar, Sequence, TypeVar

import libcst as cst

from migrator.backtest import ModuleFacts
from migrator.codemod import env_helpers


class Status(str, enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already applied"
    NOT_APPLICABLE = "not applicable"


class PatchError(Exception):
    """A file cannot be patched: `str(exc)` is the one-line reason, naming the file."""


@dataclasses.dataclass(frozen=True)
class RuleOptions:
    """User settings that change the inserted code."""

    # MARKETSIM_MAX_HORIZON default when unset or invalid; None: the literal it replaces,
    # so the patched code computes what the original did until the variable is set.
    max_horizon: int | None = None
    # Cap on num_simulations under MARKETSIM_FAST_SIMULATE; None: not given (35 is inserted,
    # and a cap inserted before stays as it is).
    fast_simulations: int | None = None
    # Accept a --max-horizon the module's fixed forecast window cannot take.
    allow_unsafe_horizon: bool = False
    # Follows every migrate command a note names (` --root DIR`; see migrator.hints).
    root_option: str = ""


@dataclasses.dataclass
class ModuleContext:
    """One file's state while its rules run."""

    source: bytes  # the original bytes, for cheap substring checks
    options: RuleOptions
    label: str = "<module>"  # how messages name the file
    # Base names of the env helpers (see env_helpers.py) the patched code calls.
    helpers_needed: set[str] = dataclasses.field(default_factory=set)
    # What the user must know about the patch (`label:line: ...`), in order, once each.
    notes: dict[str, None] = dataclasses.field(default_factory=dict)

    def note(self, text: str) -> None:
        self.notes.setdefault(text, None)

    @functools.cached_property
    def helper_names(self) -> dict[str, str]:
        """Helper base name -> the name it has (or gets) in this module (env_helpers.resolve)."""
        return env_helpers.resolve(self.facts)

    def helper(self, base: str) -> str:
        return self.helper_names[base]

    @functools.cached_property
    def tree(self) -> ast.Module:
        """The whole module as Python's ast (the engine sets it from its syntax check)."""
        with warnings.catch_warnings():  # the file's SyntaxWarnings are not ours to print
            warnings.simplefilter("ignore")
            return ast.parse(self.source)

    @functools.cached_property
    def facts(self) -> ModuleFacts:
        return ModuleFacts(self.tree, self.source)


class Rule(abc.ABC):
    """One rewrite. Subclasses live one per module under migrator/codemod/rules/."""

    name: ClassVar[str]  # as used by --rules, e.g. "max-horizon"
    summary: ClassVar[str]  # one line for `migrate rules`
    env_var: ClassVar[str | None]  # the variable the inserted code reads
    # The rule can only apply where one of these appears in the file's bytes;
    # files without any rule's trigger are never parsed.
    triggers: ClassVar[tuple[bytes, ...]]
    # Runs on the module's head piece only (docstring, imports, the statement after).
    head_only: ClassVar[bool] = False

    def wants(self, ctx: ModuleContext) -> bool:
        return any(trigger in ctx.source for trigger in self.triggers)

    def whole_module(self, ctx: ModuleContext) -> bool:
        """Whether this rule must see the whole module as one tree (it inserts a top-level
        statement it must find again next to another on the next run)."""
        return False

    @abc.abstractmethod
    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        """The rewritten module (or piece of one) and what this rule found in it."""


def outcome(module: cst.Module, rewritten: cst.Module, *, changed: bool,
            already: bool) -> tuple[cst.Module, Status]:
    """A rule's result: the rewritten module when it changed, else the original and whether
    the rule had been applied before."""
    if changed:
        return rewritten, Status.APPLIED
    return module, Status.ALREADY_APPLIED if already else Status.NOT_APPLICABLE


_Compound = TypeVar("_Compound", bound=cst.CSTNode)


class StatementWalker:
    """Walks a module's statements only (never into expressions), rebuilding just the
    path to a changed statement. Several times cheaper than a libcst transformer
    pass, which matters because every rule walks the whole module.

    Subclasses override the hooks; `scopes` holds the enclosing FunctionDef/ClassDef
    types, innermost last.
    """

    def __init__(self) -> None:
        self.scopes: list[type[cst.CSTNode]] = []

    @property
    def in_function(self) -> bool:
        """True when the current statement runs in a function body (not a class body)."""
        return bool(self.scopes) and self.scopes[-1] is cst.FunctionDef

    def enter_function(self, node: cst.FunctionDef) -> None:
        """Called before a function's body is walked."""

    def leave_function(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        return updated

    def leave_line(self, node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        return node

    def walk(self, module: cst.Module) -> cst.Module:
        body = self._statements(module.body)
        return module if body is None else module.with_changes(body=body)

    def _statements(self, statements: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        """The rewritten list, or None when nothing in it changed."""
        changed = False
        result = []
        for statement in statements:
            new = self._statement(statement)
            changed = changed or new is not statement
            result.append(new)
        return result if changed else None

    def _statement(self, node: cst.BaseStatement) -> cst.BaseStatement:
        if isinstance(node, cst.SimpleStatementLine):
            return self.leave_line(node)
        if isinstance(node, cst.FunctionDef):
            self.scopes.append(cst.FunctionDef)
            self.enter_function(node)
            try:
                updated = self._children(node)
                return self.leave_function(node, updated)
            finally:
                self.scopes.pop()
        if isinstance(node, cst.ClassDef):
            self.scopes.append(cst.ClassDef)
            try:
                return self._children(node)
            finally:
                self.scopes.pop()
        return self._children(node)

    def _children(self, node: _Compound) -> _Compound:
        changes: dict[str, object] = {}
        for field in ("body", "orelse", "handlers", "finalbody", "cases"):
            value = getattr(node, field, None)
            if isinstance(value, cst.IndentedBlock):
                body = self._statements(value.body)
                if body is not None:
                    changes[field] = value.with_changes(body=body)
            elif isinstance(value, (cst.If, cst.Else, cst.Finally)):
                new = self._children(value)
                if new is not value:
                    changes[field] = new
            elif isinstance(value, tuple) and value:  # except handlers, match cases
                items = tuple(self._children(item) for item in value)
                if any(new is not old for new, old in zip(items, value)):
                    changes[field] = items
        return node.with_changes(**changes) if changes else node


class _StringFinder(cst.CSTVisitor):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.found = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.found:
            return False
        if isinstance(node, cst.SimpleString) and self.text in node.value:
            self.found = True
        elif isinstance(node, cst.FormattedStringText) and self.text in node.value:
            self.found = True
        return not self.found


def has_string_literal(node: cst.CSTNode, text: str) -> bool:
    """Whether a string literal in `node` (not a comment) contains `text`."""
    finder = _StringFinder(text)
    node.visit(finder)
    return finder.found


def parse_code(text: str, module: cst.Module) -> list[cst.BaseStatement]:
    """Statements from `text` (written with 4-space indents and \\n), in `module`'s style.

    The text is re-indented and re-terminated with the module's own indent and
    newline, so inserted code matches a tab-indented or CRLF file.
    """
    indent, newline = module.default_indent, module.default_newline
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        lines.append(indent * ((len(line) - len(stripped)) // 4) + stripped)
    return list(cst.parse_module(newline.join(lines) + newline,
                                 config=module.config_for_parsing).body)


def comment_line(text: str) -> cst.EmptyLine:
    """A `# ...` line at the indentation of the statement it is attached to."""
    return cst.EmptyLine(indent=True, comment=cst.Comment(f"# {text}"))


def is_docstring(statement: cst.BaseStatement) -> bool:
    """A string expression first on its line (Python takes it as the docstring even
    when more statements follow on the line: `"doc"; x = 1`)."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and bool(statement.body)
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def after_docstring(statements: Sequence[cst.BaseStatement]) -> tuple[list[cst.BaseStatement], int]:
    """`statements` with a docstring alone on its first line, and the index just after it.

    `"doc"; x = 1` becomes two lines, so code inserted after the docstring keeps it first.
    """
    body = list(statements)
    if not body or not is_docstring(body[0]):
        return body, 0
    first = body[0]
    assert isinstance(first, cst.SimpleStatementLine)
    if len(first.body) > 1:
        doc = first.body[0].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        rest = first.with_changes(body=first.body[1:], leading_lines=[])
        body[0:1] = [first.with_changes(body=[doc]), rest]
    return body, 1


def assigned_name(small: cst.BaseSmallStatement) -> str | None:
    """The single plain name an `x = ...` or `x: T = ...` statement assigns, if any."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        target = small.target
    else:
        return None
    return target.value if isinstance(target, cst.Name) else None
