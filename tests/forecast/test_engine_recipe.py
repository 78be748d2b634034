"""The engine recipe (docs/architecture.md, "Add a forecast engine"), followed on a copy of the package:
a toy third Toto engine, touching only the files the recipe lists, is selectable, timed,
compared and shown by `migrate profile`."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import migrator

PACKAGE = Path(migrator.__file__).parent
RECIPE_DOC = PACKAGE.parent / "docs" / "architecture.md"
TINY = ["--sims", "2", "--horizon", "2", "--samples", "8", "--batch", "8", "--rounds", "1", "--no-kronos",
        "--baseline-calls", "1", "--equivalence-pairs", "1", "--seed", "2"]

TOY_MODULE = '''"""A toy Toto engine: the optimized engine under another name, with a note of its own."""

from migrator.forecast.toto.engines import optimized_engine


def toy_engine(model, series, workload, *, seed=0, max_calls=None):
    result = optimized_engine(model, series, workload, seed=seed, max_calls=max_calls)
    result.notes.append("toy engine: the optimized engine's forecasts")
    return result
'''
TOY_ENTRY = ('    FunctionEngine("toto-toy", "toto", "optimized", "migrator.forecast.toto.toy_engine:toy_engine",\n'
             '                   check="migrator.forecast.toto.equivalence:check_equivalence"),\n')


def recipe_files(family: str, engine: str) -> set[str]:
    """The package files the recipe's numbered steps name, for this family and engine module."""
    text = RECIPE_DOC.read_text(encoding="utf-8")
    section = text.split("### Add a forecast engine\n", 1)[1].split("\n#", 1)[0]
    listed = section.split("Files:\n", 1)[1].split("\n\n", 1)[0]
    steps = re.findall(r"^- `([^`]+)`", listed, flags=re.MULTILINE)
    return {step.replace("<family>", family).replace("<engine>", engine) for step in steps}


def changed_files(original: Path, copy: Path) -> set[str]:
    """Package-relative paths (as `migrator/...`) added to or changed in `copy`."""
    changed = set()
    for path in copy.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(copy)
        before = original / relative
        if not before.exists() or not filecmp.cmp(before, path, shallow=False):
            changed.add(f"migrator/{relative.as_posix()}")
    return changed


def add_toy_engine(root: Path) -> Path:
    """Follow the recipe on a copy of the package under `root`: the module, the registry line."""
    package = root / "migrator"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "forecast" / "toto" / "toy_engine.py").write_text(TOY_MODULE)
    registry = package / "forecast" / "registry.py"
    text = registry.read_text()
    closing = "\n)}\nROLES"  # the end of the ENGINES tuple
    assert text.count(closing) == 1
    registry.write_text(text.replace(closing, "\n" + TOY_ENTRY.rstrip("\n") + closing))
    return package


def profile(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from migrator.cli import main; main(sys.argv[1:], prog_name='migrate')"
    return subprocess.run([sys.executable, "-c", code, "profile", *TINY, *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    add_toy_engine(root)
    return root


def test_the_recipe_touches_only_its_files(toy_root: Path) -> None:
    assert recipe_files("toto", "toy_engine") == {"migrator/forecast/toto/toy_engine.py",
                                                  "migrator/forecast/registry.py"}
    assert changed_files(PACKAGE, toy_root / "migrator") == recipe_files("toto", "toy_engine")


def test_the_toy_engine_is_timed_compared_and_checked(toy_root: Path) -> None:
    result = profile(toy_root, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc["engines"]) == ["baseline", "optimized", "toy"]
    toy, base = doc["engines"]["toy"], doc["engines"]["baseline"]
    assert toy["role"] == "optimized" and toy["seconds"] > 0 and len(toy["round_seconds"]) == 1
    assert toy["model_calls"] == doc["engines"]["optimized"]["model_calls"]  # every distinct context once
    assert toy["notes"][-1] == "toy engine: the optimized engine's forecasts"
    assert toy["speedup"]["median"] == pytest.approx(base["round_seconds"][0] / toy["round_seconds"][0])
    assert set(doc["equivalences"]) == {"optimized", "toy"}
    assert doc["equivalences"]["toy"]["same_distribution"] is True


def test_the_toy_engine_is_selectable_and_shown(toy_root: Path) -> None:
    result = profile(toy_root, "--engine", "toy")
    assert result.returncode == 0, result.stderr
    assert "Toy engines: Toto " in result.stdout
    assert "toy engine: the optimized engine's forecasts" in result.stdout
    assert "Baseline engines" not in result.stdout and "Optimized engines" not in result.stdout
    assert "Equivalence (toy) on 1 (key, origin) pairs: same distribution: yes" in result.stdout
