"""What a codemod rule is, and the small libcst tools the rules share.

A rule rewrites one parsed module and says what it found: `applied` (it changed
something), `already applied` (the code already has the hook), or
`not applicable` (nothing of its kind here). Rules run one after another on the
same tree, so the module is parsed once per file.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from typing import ClassVar

import libcst as cst


class Status(str, enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already applied"
    NOT_APPLICABLE = "not applicable"


@dataclasses.dataclass(frozen=True)
class RuleOptions:
    """User settings that change the inserted code."""

    max_horizon: int = 1  # MARKETSIM_MAX_HORIZON default when unset or invalid
    fast_simulations: int = 35  # cap on num_simulations under MARKETSIM_FAST_SIMULATE


@dataclasses.dataclass
class ModuleContext:
    """One file's state while its rules run."""

    source: bytes  # the original bytes, for cheap substring checks
    options: RuleOptions
    # Names of the env helpers (see rules/env_helpers.py) the patched code calls.
    helpers_needed: set[str] = dataclasses.field(default_factory=set)


class Rule(abc.ABC):
    """One rewrite. Subclasses live one per module under migrator/codemod/rules/."""

    name: ClassVar[str]  # as used by --rules, e.g. "max-horizon"
    summary: ClassVar[str]  # one line for `migrate rules`
    env_var: ClassVar[str | None]  # the variable the inserted code reads
    # The rule can only apply where one of these appears in the file's bytes;
    # files without any rule's trigger are never parsed.
    triggers: ClassVar[tuple[bytes, ...]]

    def wants(self, ctx: ModuleContext) -> bool:
        return any(trigger in ctx.source for trigger in self.triggers)

    @abc.abstractmethod
    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        """The rewritten module and what this rule found."""


# Statement-level containers. Everything else (expressions, parameters, ...)
# is not descended into: the rules act on statements, and skipping expression
# subtrees makes a pass several times cheaper than a full traversal.
_CONTAINERS = (
    cst.Module, cst.IndentedBlock, cst.FunctionDef, cst.ClassDef, cst.If, cst.Else,
    cst.For, cst.While, cst.With, cst.Try, cst.TryStar, cst.ExceptHandler,
    cst.ExceptStarHandler, cst.Finally, cst.Match, cst.MatchCase,
)


class StatementTransformer(cst.CSTTransformer):
    """A transformer that visits statements only and knows the enclosing scope."""

    def __init__(self) -> None:
        super().__init__()
        self.scopes: list[type[cst.CSTNode]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self.scopes.append(type(node))
        return super().on_visit(node) and isinstance(node, _CONTAINERS)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[override]
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, (cst.FunctionDef, cst.ClassDef)):
            self.scopes.pop()
        return result

    @property
    def in_function(self) -> bool:
        """True when the current statement runs in a function body (not a class body)."""
        return bool(self.scopes) and self.scopes[-1] is cst.FunctionDef


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
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def assigned_name(small: cst.BaseSmallStatement) -> str | None:
    """The single plain name an `x = ...` or `x: T = ...` statement assigns, if any."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        target = small.target
    else:
        return None
    return target.value if isinstance(target, cst.Name) else None
