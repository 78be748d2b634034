"""The recipes of docs/architecture.md, followed literally: a toy config model and a toy codemod
rule added to a copy of the package, touching exactly the files the doc lists (read from the doc),
then run end to end through the CLI of that copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def recipe_files(title: str, name: str) -> set[str]:
    """The backticked paths of the `Files:` list under the recipe's heading, for this name."""
    section = DOC.read_text(encoding="utf-8").split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    listed = section.split("Files:\n", 1)[1].split("\n\n", 1)[0]
    return {path.replace("<name>", name) for path in re.findall(r"^- `([^`]+)`", listed, re.MULTILINE)}


def _tree(folder: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}/{p.relative_to(folder).as_posix()}": p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


class PackageCopy:
    """The package as the wheel lays it out (schemas/ inside as migrator/schemas), in a tmp folder."""

    def __init__(self, tmp: Path) -> None:
        self.top = tmp / "site"
        shutil.copytree(REPO / "migrator", self.top / "migrator", ignore=_SKIP)
        shutil.copytree(REPO / "schemas", self.top / "migrator" / "schemas", ignore=_SKIP)

    def path(self, repo_path: str) -> Path:
        """Where a repository path (as the doc names it) lies in the copy."""
        return self.top / ("migrator/" + repo_path if repo_path.startswith("schemas/") else repo_path)

    def write(self, repo_path: str, text: str) -> None:
        self.path(repo_path).write_text(text, encoding="utf-8")

    def edit(self, repo_path: str, old: str, new: str) -> None:
        """Replace `old` (which must be there, once) by `new` in a copied file."""
        text = self.path(repo_path).read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{repo_path} no longer holds {old!r} once: update the recipe test"
        self.path(repo_path).write_text(text.replace(old, new), encoding="utf-8")

    def changed(self) -> set[str]:
        """The repository paths whose bytes differ between the copy and the original."""
        original = {**_tree(REPO / "migrator", "migrator"), **_tree(REPO / "schemas", "schemas")}
        copied = {(k[len("migrator/"):] if k.startswith("migrator/schemas/") else k): v
                  for k, v in _tree(self.top / "migrator", "migrator").items()}
        return {k for k in original.keys() | copied.keys() if original.get(k) != copied.get(k)}

    def migrate(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(self.top), "PYTHONDONTWRITEBYTECODE": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("MARKETSIM_")}
        return subprocess.run([sys.executable, "-m", "migrator", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)


@pytest.fixture
def package(tmp_path: Path) -> PackageCopy:
    copy = PackageCopy(tmp_path)
    where = copy.migrate("--version", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([sys.executable, "-c", "import migrator; print(migrator.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(copy.top)}, cwd=tmp_path,
                           capture_output=True, text=True)
    assert Path(probe.stdout.strip()).parent == copy.top / "migrator"  # the copy runs, not the checkout
    return copy


TOY_MODEL = '''"""A toy forecaster's config: config.horizon (the recipe test's model)."""

from __future__ import annotations

from migrator.configs.models.base import ConfigModel, Option, positive_int


def _rename(name, old, new):
    return None  # config.name never spells the horizon


MODEL = ConfigModel(
    name="toyfc",
    folder="toyfc",
    schema="toyfc",
    summary="Set the toy forecaster's horizon in hyperparams files.",
    help="Set config.horizon in HYPERPARAMS/toyfc/*.json.",
    options=(Option("--horizon", "horizon", int, "N", "New config.horizon.", positive_int),),
    rename=_rename,
)
'''

TOY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["symbol", "model", "config"],
    "properties": {
        "symbol": {"type": "string", "minLength": 1},
        "model": {"const": "toyfc"},
        "config": {"type": "object", "required": ["horizon"],
                   "properties": {"horizon": {"type": "integer", "minimum": 1}}},
    },
}


def test_the_model_recipe_adds_a_working_subcommand_touching_only_the_listed_files(
        package: PackageCopy, tmp_path: Path) -> None:
    package.write("migrator/configs/models/toyfc.py", TOY_MODEL)
    package.edit("migrator/configs/models/__init__.py",
                 "from migrator.configs.models import chronos2, kronos, toto\n",
                 "from migrator.configs.models import chronos2, kronos, toto, toyfc\n")
    package.edit("migrator/configs/models/__init__.py", "chronos2.MODEL)", "chronos2.MODEL, toyfc.MODEL)")
    package.write("schemas/toyfc.schema.json", json.dumps(TOY_SCHEMA, indent=2))
    assert package.changed() == recipe_files("Add a config model", "toyfc")

    root = tmp_path / "project"
    (root / "hyperparams" / "toyfc").mkdir(parents=True)
    config = root / "hyperparams" / "toyfc" / "AAPL.json"
    # CRLF, odd spacing, no final newline: only the value's bytes may change.
    original = b'{"symbol": "AAPL",\r\n  "model":"toyfc", "config": {"name": "toy", "horizon":   7}}'
    config.write_bytes(original)
    invalid = root / "hyperparams" / "toyfc" / "MSFT.json"

    assert "toyfc" in package.migrate("--help", cwd=root).stdout
    invalid.write_bytes(b'{"symbol": "MSFT", "model": "toyfc", "config": {"horizon": 0}}')
    refused = package.migrate("toyfc", "--horizon", "3", "--root", str(root), cwd=root)
    assert refused.returncode == 2 and "MSFT.json" in refused.stderr  # the toy schema is enforced
    assert config.read_bytes() == original
    invalid.unlink()

    done = package.migrate("toyfc", "--horizon", "3", "--root", str(root), cwd=root)
    assert done.returncode == 0, done.stderr
    assert config.read_bytes() == original.replace(b'"horizon":   7', b'"horizon":   3')
    assert package.migrate("toyfc", "--horizon", "3", "--check", "--root", str(root), cwd=root).returncode == 0

    back = package.migrate("revert", "--root", str(root), cwd=root)
    assert back.returncode == 0, back.stderr
    assert config.read_bytes() == original


TOY_RULE = '''"""toy-note: a `# PERF:` comment above each `toy_window = ...` (the recipe test's rule)."""

from __future__ import annotations

import libcst as cst

from migrator.codemod.rule import ModuleContext, Rule, StatementWalker, Status, assigned_name, comment_line, outcome

_TARGET = "toy_window"
NOTE = "PERF: toy_window is the toy rule's"


class _Rewriter(StatementWalker):
    def __init__(self) -> None:
        super().__init__()
        self.changed = 0
        self.already = 0

    def leave_line(self, updated_node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not any(assigned_name(small) == _TARGET for small in updated_node.body):
            return updated_node
        above = updated_node.leading_lines
        if above and above[-1].comment is not None and NOTE in above[-1].comment.value:
            self.already += 1
            return updated_node
        self.changed += 1
        return updated_node.with_changes(leading_lines=[*above, comment_line(NOTE)])


class ToyNoteRule(Rule):
    name = "toy-note"
    summary = "a one-line comment above each `toy_window = ...`"
    env_var = None
    triggers = (_TARGET.encode(),)

    def transform(self, module: cst.Module, ctx: ModuleContext) -> tuple[cst.Module, Status]:
        rewriter = _Rewriter()
        result = rewriter.walk(module)
        return outcome(module, result, changed=rewriter.changed, already=rewriter.already)


RULE = ToyNoteRule()
'''


def test_the_rule_recipe_adds_a_listed_idempotent_rule_touching_only_the_listed_files(
        package: PackageCopy, tmp_path: Path) -> None:
    package.write("migrator/codemod/rules/toy_note.py", TOY_RULE)
    package.edit("migrator/codemod/rules/__init__.py", "imports, max_horizon,", "imports, max_horizon, toy_note,")
    package.edit("migrator/codemod/rules/__init__.py", "    imports.RULE,\n", "    toy_note.RULE,\n    imports.RULE,\n")
    assert package.changed() == recipe_files("Add a codemod rule", "toy_note")

    root = tmp_path / "project"
    root.mkdir()
    module = root / "toy.py"
    original = b"def run(prices):\n    toy_window = prices[-5:]\n    return toy_window\n"
    module.write_bytes(original)

    listed = package.migrate("rules", cwd=root)
    assert listed.returncode == 0 and "toy-note" in listed.stdout, listed.stderr
    assert package.migrate("apply", "--check", "--root", str(root), cwd=root).returncode == 1  # pending
    done = package.migrate("apply", "--root", str(root), cwd=root)
    assert done.returncode == 0, done.stderr
    patched = module.read_bytes()
    assert patched == original.replace(b"    toy_window", b"    # PERF: toy_window is the toy rule's\n    toy_window")
    again = package.migrate("apply", "--root", str(root), cwd=root)
    assert again.returncode == 0 and module.read_bytes() == patched  # idempotent
    assert package.migrate("apply", "--check", "--root", str(root), cwd=root).returncode == 0
    assert package.migrate("revert", "--root", str(root), cwd=root).returncode == 0
    assert module.read_bytes() == original
