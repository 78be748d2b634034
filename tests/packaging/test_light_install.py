"""The core installs and runs without numpy, scipy or torch (they are the `forecast` extra)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement  # pytest's own dependency

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "numpy", "scipy"}

# Runs `migrate ARGS...` in a fresh interpreter where importing any heavy package fails,
# as it would in a venv that installed only the core.
BLOCKED_RUN = """
import sys
from importlib.abc import MetaPathFinder

class Blocked(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "numpy", "scipy"}:
            raise ImportError(f"blocked for the light-install test: {name}")
        return None

sys.meta_path.insert(0, Blocked())
from migrator.cli import main
sys.argv = ["migrate", *sys.argv[1:]]
main()
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_core_dependencies_name_no_heavy_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert not {_name(r) for r in project["dependencies"]} & HEAVY
    assert HEAVY <= {_name(r) for r in project["optional-dependencies"]["forecast"]}
    # A range, so a user's own torch build is kept.
    [torch] = [r for r in project["optional-dependencies"]["forecast"] if _name(r) == "torch"]
    assert "==" not in torch


def test_nothing_the_core_pulls_in_depends_on_a_heavy_package():
    """Walks the installed metadata of the core dependencies, transitively (no extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    seen: set[str] = set()
    todo = [_name(r) for r in project["dependencies"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or ():
            requirement = Requirement(line)
            # What pip installs here: markers for this interpreter, no extras.
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_name(requirement.name))
    assert "libcst" in seen and "jsonschema" in seen
    assert not seen & HEAVY, seen & HEAVY


def _migrate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "hyperparams", root / "hyperparams")
    shutil.copytree(REPO / "examples", root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_config_migrations_codemod_and_journal_run_without_heavy_packages(project):
    before = (project / "hyperparams" / "toto" / "AAPL.json").read_bytes()
    backtest = (project / "backtest_test3_inline.py").read_bytes()

    done = _migrate(project, "toto", "--samples", "256", "--batch", "64", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"]
    assert (project / "hyperparams" / "toto" / "AAPL.json").read_bytes() != before

    done = _migrate(project, "kronos", "--samples", "64", "--dry-run")
    assert done.returncode == 0, done.stderr

    done = _migrate(project, "apply")
    assert done.returncode == 0, done.stderr
    assert (project / "backtest_test3_inline.py").read_bytes() != backtest

    for args in (("rules",), ("history",)):
        done = _migrate(project, *args)
        assert done.returncode == 0, (args, done.stderr)

    for migration_id in ("0002", "0001"):  # the codemod's migration, then the toto one
        done = _migrate(project, "revert", migration_id)
        assert done.returncode == 0, done.stderr
    assert (project / "hyperparams" / "toto" / "AAPL.json").read_bytes() == before
    assert (project / "backtest_test3_inline.py").read_bytes() == backtest
    assert "Traceback" not in done.stderr
