"""The package's import graph, read from its source with `ast`: no cycle, and the layers of
docs/architecture.md (the table LAYERS below is the one on that page).

Every import counts, at module level or inside a function (a lazy import runs too, later);
only `if TYPE_CHECKING:` blocks are skipped (they never run). Importing `a.b.c` also runs the
packages `a` and `a.b` (their __init__), so those are edges too, except the importer's own
ancestors, which Python has initialised before the importer runs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "migrator"

# layer -> the layers it may import (its own always). Top to bottom: cli; the commands'
# packages; what they share (journal, reading the backtest, the exact runtimes); the base.
LAYERS: dict[str, set[str]] = {
    "cli": {"configs", "codemod", "explain", "forecast", "journal", "backtest", "runtime", "base"},
    "configs": {"journal", "backtest", "base"},
    "codemod": {"journal", "backtest", "base"},
    "explain": {"backtest", "base"},
    "forecast": {"runtime", "base"},
    "journal": {"base"},
    "backtest": {"base"},
    "runtime": {"base"},
    "base": set(),  # files, atomic, errors, names, output, hints, diffs, workload, the package's __init__
}
# Packages whose __init__ is their facade: other layers import the package, never a module in it.
FACADES = ("journal", "backtest", "explain")


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:
        return "cli"
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "base"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package under `package` (a folder)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, anywhere in the module (not under TYPE_CHECKING)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (explicitly, or by running a package's __init__)."""
    modules = module_names(package)

    def known(name: str) -> str | None:  # the longest prefix of `name` that is one of our modules
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))}
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                # `from X import n`: the submodule X.n where there is one, else X itself.
                wanted = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                          for alias in node.names]
            for full in wanted:
                target = known(full)
                if target is None:
                    continue
                targets.add(target)
                parts = target.split(".")
                targets.update(prefix for prefix in (".".join(parts[:i]) for i in range(1, len(parts)))
                               if prefix not in ancestors)
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, iterators = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while path:
            step = next(iterators[-1], None)
            if step is None:
                state[path.pop()] = 2
                iterators.pop()
            elif state.get(step) == 1:
                return path[path.index(step):] + [step]
            elif not state.get(step):
                state[step] = 1
                path.append(step)
                iterators.append(iter(sorted(graph.get(step, ()))))
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Edges the table does not allow, and imports past a facade."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(source), layer_of(target)
            if low != high and high not in LAYERS[low]:
                found.append(f"{source} -> {target}: {low} may not import {high}")
            if low != high and high in FACADES and target != f"migrator.{high}":
                found.append(f"{source} -> {target}: import migrator.{high}, its facade")
    return found


# --- the package -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE)


def test_the_package_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or ())


def test_every_import_follows_the_layer_table(graph: dict[str, set[str]]) -> None:
    assert layer_violations(graph) == []


def test_the_reader_sees_the_lazy_imports_of_the_package(graph: dict[str, set[str]]) -> None:
    # configs' clamp note imports migrator.backtest inside a function only: a module-level
    # reader would miss the edge the layer table must allow.
    toto = ast.parse((PACKAGE / "configs" / "models" / "toto.py").read_bytes())
    top_level = {node.module for node in toto.body if isinstance(node, ast.ImportFrom)}
    assert "migrator.backtest" not in top_level
    assert "migrator.backtest" in graph["migrator.configs.models.toto"]


def test_every_layer_of_the_table_exists_and_nothing_is_unassigned(graph: dict[str, set[str]]) -> None:
    layers = {layer_of(module) for module in graph}
    assert layers == set(LAYERS)
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"a package without a row in the table: {packages - set(LAYERS)}"


def test_docs_architecture_states_the_same_table() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## The layers", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        folders = re.findall(r"`([a-z_]+)/`", cells[1])
        layer = folders[0] if folders else "base"
        table[layer] = {word.strip() for word in cells[2].split(",")} - {layer}
    assert table == LAYERS


# --- the checker itself, on synthetic graphs and sources ---------------------------------------
def test_a_deliberate_back_edge_is_caught(graph: dict[str, set[str]]) -> None:
    broken = {name: set(targets) for name, targets in graph.items()}
    # backtest reaching up into explain (which imports backtest): a back-edge and a cycle.
    broken["migrator.backtest.facts"].add("migrator.explain")
    assert any("migrator.backtest.facts -> migrator.explain: backtest may not import explain" in v
               for v in layer_violations(broken))
    cycle = find_cycle(broken)
    assert cycle is not None and "migrator.backtest.facts" in cycle and "migrator.explain" in cycle


def test_the_journal_store_importing_revert_again_is_a_cycle(graph: dict[str, set[str]]) -> None:
    broken = {name: set(targets) for name, targets in graph.items()}
    broken["migrator.journal.store"].add("migrator.journal.revert")
    cycle = find_cycle(broken)
    assert cycle is not None and {"migrator.journal.store", "migrator.journal.revert"} <= set(cycle)
    assert layer_violations(broken) == []  # inside one layer: the cycle check is what catches it


def test_an_import_past_a_facade_is_caught() -> None:
    assert layer_violations({"migrator.cli.journal": {"migrator.journal.store"}}) == [
        "migrator.cli.journal -> migrator.journal.store: import migrator.journal, its facade"]
    assert layer_violations({"migrator.cli.journal": {"migrator.journal"}}) == []


def test_cycles_through_lazy_imports_and_package_inits_are_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n    return b\n")
    (package / "b.py").write_text("import pkg.a\n")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.leaf import X\n")
    (package / "sub" / "leaf.py").write_text("X = 1\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    (package / "d.py").write_text("from . import c\nfrom .sub.leaf import X\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"}  # the lazy import inside f
    assert graph["pkg.c"] == set()  # typing only
    assert graph["pkg.d"] == {"pkg.c", "pkg.sub", "pkg.sub.leaf"}  # relative; leaf runs sub/__init__
    assert graph["pkg.sub"] == {"pkg.sub.leaf"}  # its own package is no edge
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
    (package / "b.py").write_text("")
    assert find_cycle(import_graph(package)) is None
    (package / "sub" / "leaf.py").write_text("def g():\n    import pkg.d\n")  # leaf -> d -> sub -> leaf
    cycle = find_cycle(import_graph(package))
    assert cycle is not None and {"pkg.d", "pkg.sub", "pkg.sub.leaf"} <= set(cycle)
