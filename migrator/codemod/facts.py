"""Module-wide facts the rules need, read from Python's own `ast` (fast, in C).

The engine hands libcst only the top-level statements a rule can touch (see
engine.py), so whatever a rule must know about the whole module comes from here.
"""

from __future__ import annotations

import ast
from functools import cached_property

# scipy.optimize functions whose budget fast-optimize reduces.
SCIPY_OPTIMIZERS = ("direct", "differential_evolution")


class ModuleFacts:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree

    @cached_property
    def top_level_functions(self) -> frozenset[str]:
        return frozenset(node.name for node in self.tree.body
                         if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))

    @cached_property
    def os_bound(self) -> bool:
        """Whether module-level code (outside functions and classes, including inside
        try/except or if/else, but not `if TYPE_CHECKING:`) runs `import os`."""
        return _binds_os(self.tree.body)

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


def _module_calls(prefix: str) -> dict[str, str]:
    return {f"{prefix}.{name}": name for name in SCIPY_OPTIMIZERS}


def _binds_os(statements: list[ast.stmt]) -> bool:
    for node in statements:
        if isinstance(node, ast.Import):
            if any((alias.asname is None and (alias.name == "os" or alias.name.startswith("os.")))
                   or (alias.asname == "os" and alias.name == "os") for alias in node.names):
                return True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            if _binds_os(node.orelse):
                return True
        else:
            for field in ("body", "orelse", "finalbody"):
                if _binds_os(getattr(node, field, []) or []):
                    return True
            for part in getattr(node, "handlers", []) or getattr(node, "cases", []) or []:
                if _binds_os(part.body):
                    return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
