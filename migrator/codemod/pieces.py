"""Cut a module into consecutive pieces at top-level statement boundaries.

libcst parsing dominates the codemod's time (about 0.15 s per 1,000 lines), and
the rules only touch a few top-level statements of a backtest file. So the
engine parses just the pieces that contain a rule's trigger text, plus the head
(module docstring, imports, and the first statement after them, where `import os`
and the helpers go), and copies every other byte through untouched.

Pieces tile the text exactly: each holds one top-level statement (decorators
included; statements sharing a line stay together) with the blank and comment
lines above it; the last also holds the file's trailing lines. Line numbers
come from Python's ast, so lines end only at \\r\\n, \\r or \\n as for CPython.
"""

from __future__ import annotations

import ast
import dataclasses
import re

import libcst as cst

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclasses.dataclass(frozen=True)
class Piece:
    text: str
    head: bool  # the module's first piece: docstring, imports, the statement after them


def lines(text: str) -> list[str]:
    """`text`'s lines with their endings, split where CPython splits them."""
    return _LINE.findall(text)


def split(text: str, tree: ast.Module) -> list[Piece]:
    """`text` (whose ast is `tree`) as pieces; "".join(p.text for p in pieces) == text."""
    all_lines = lines(text)
    groups: list[list[int]] = []  # [first line index, end line index (exclusive), headish]
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1
        end = node.end_lineno or node.lineno
        headish = int(_is_headish(node, first_statement=node is tree.body[0]))
        if groups and first < groups[-1][1]:  # `a = 1; b = 2`: one line, one piece
            groups[-1][1] = max(groups[-1][1], end)
            groups[-1][2] &= headish
        else:
            groups.append([first, end, headish])
    if not groups:
        return [Piece(text, head=True)]
    head_end = next((index for index, group in enumerate(groups) if not group[2]), len(groups) - 1)
    ends = [group[1] for group in groups[head_end:]]
    ends[-1] = len(all_lines)
    pieces, start = [], 0
    for number, end in enumerate(ends):
        pieces.append(Piece("".join(all_lines[start:end]), head=number == 0))
        start = end
    return pieces


def _is_headish(node: ast.stmt, first_statement: bool) -> bool:
    """Docstring, imports, or a try/if importing something: what precedes the helpers."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if first_statement and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, (str, bytes)):
        return True
    if isinstance(node, (ast.Try, ast.If)):
        blocks = [node.body, node.orelse, getattr(node, "finalbody", [])]
        blocks += [handler.body for handler in getattr(node, "handlers", [])]
        return any(isinstance(inner, (ast.Import, ast.ImportFrom))
                   for block in blocks for inner in block)
    return False


def file_style(text: str, tree: ast.Module) -> tuple[str, str]:
    """The module's indentation unit and newline, as libcst would detect them on the
    whole file (first indented block, first line ending), so a piece parsed alone
    gets the same defaults."""
    newline = next((m.group() for m in re.finditer(r"\r\n|\r|\n", text)), "\n")
    all_lines = lines(text)
    for node in tree.body:  # the first indented block is in the first compound statement
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and body[0].lineno > node.lineno:
            line = all_lines[body[0].lineno - 1]
            indent = line[:len(line) - len(line.lstrip(" \t"))]
            outer = all_lines[node.lineno - 1]
            outer_indent = outer[:len(outer) - len(outer.lstrip(" \t"))]
            if indent.startswith(outer_indent) and len(indent) > len(outer_indent):
                return indent[len(outer_indent):], newline
    return "    ", newline


def parse(piece: Piece, indent: str, newline: str) -> cst.Module:
    """Parse one piece with the whole file's style. In a piece other than the head,
    the comment and blank lines above its statement go to that statement's
    leading_lines, where libcst puts them when it parses the whole file."""
    module = cst.parse_module(piece.text)
    if (module.default_indent, module.default_newline) != (indent, newline):
        # A piece without an indented block (or line ending) gets libcst's fallback
        # style; give it the file's, unless that would change the piece's own bytes.
        styled = module.with_changes(default_indent=indent, default_newline=newline)
        if styled.code == piece.text:
            module = styled
    if piece.head or not module.header or not module.body:
        return module
    first = module.body[0]
    first = first.with_changes(leading_lines=[*module.header, *first.leading_lines])
    return module.with_changes(header=[], body=[first, *module.body[1:]])
