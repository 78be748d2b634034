"""`migrate apply` on the real upstream project (the speed-up guide's commit), copied to tmp.

The tree is read from ../shared at test time. What is asserted follows the structure of
the files (which modules import the model classes), never how many files there are.
The runtime checks run upstream's own TotoPipeline / KronosForecastingWrapper in a
subprocess (probes/), on toto-ts and on the real Kronos code (kronos-finance), with
seeded random weights.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

UPSTREAM = Path(__file__).resolve().parents[2] / ".." / "shared" / "upstream" / "5c71b959"
PROBES = Path(__file__).resolve().parent / "probes"
TOTO_WRAPPER = "src/models/toto_wrapper.py"
KRONOS_WRAPPER = "src/models/kronos_wrapper.py"


def invoke(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def original() -> Path:
    if not (UPSTREAM / "backtest_test3_inline.py").is_file():
        pytest.skip(f"the real upstream tree is absent ({UPSTREAM.resolve()})")
    return UPSTREAM.resolve()


@pytest.fixture(scope="module")
def patched(original: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upstream") / "project"
    shutil.copytree(original, root, ignore=shutil.ignore_patterns("__pycache__"))
    first = invoke("apply", "--root", str(root))
    assert first["written"] and not first["errors"]
    return root


def _importers(root: Path, name: str) -> set[str]:
    """Modules with an `import` of `name` that runs (not under `if TYPE_CHECKING:`)."""
    found = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_bytes())
        typing_only = {id(node) for parent in ast.walk(tree) if isinstance(parent, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(parent.test) for body in [parent.body]
                       for statement in body for node in ast.walk(statement)}
        if any(isinstance(node, ast.ImportFrom) and id(node) not in typing_only
               and any(alias.name == name for alias in node.names) for node in ast.walk(tree)):
            found.add(path.relative_to(root).as_posix())
    return found


def test_apply_patches_the_runtime_modules_idempotently(original: Path, patched: Path) -> None:
    changed = {path.relative_to(patched).as_posix() for path in patched.rglob("*.py")
               if path.read_bytes() != (original / path.relative_to(patched)).read_bytes()}
    importers = _importers(original, "TotoForecaster") | _importers(original, "KronosPredictor")
    assert {TOTO_WRAPPER, KRONOS_WRAPPER} <= importers
    assert importers <= changed
    assert {"backtest_test3_inline.py", "backtest_test3_inline_parallel.py"} <= changed
    second = invoke("apply", "--root", str(patched))
    assert second["changed"] == 0 and not second["written"]
    check = CliRunner().invoke(main, ["apply", "--root", str(patched), "--check"])
    assert check.exit_code == 0, check.output
    by_path = {entry["path"]: entry for entry in second["files"]}
    assert set(by_path) == {p.relative_to(patched).as_posix() for p in patched.rglob("*.py")}
    assert by_path[TOTO_WRAPPER]["rules"]["exact-toto"] == "already applied"
    assert by_path[KRONOS_WRAPPER]["rules"]["exact-kronos"] == "already applied"
    # The optimizers already read MARKETSIM_FAST_OPTIMIZE upstream: looked at, left as they are.
    assert by_path["src/optimization_utils.py"]["rules"]["fast-optimize"] == "already applied"
    for path in patched.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)


def test_the_block_follows_the_runtime_import_not_the_typing_alias(patched: Path) -> None:
    text = (patched / TOTO_WRAPPER).read_text()
    assert text.count('"MARKETSIM_EXACT_TOTO"') == 1  # one block
    block = text.index("# PERF: MARKETSIM_EXACT_TOTO")
    assert text.index("TotoForecasterType = Any") < text.index("from toto.toto.inference.forecaster") < block
    kronos_text = (patched / KRONOS_WRAPPER).read_text()
    assert kronos_text.count('"MARKETSIM_EXACT_KRONOS"') == 1
    assert kronos_text.index("from external.kronos.model import") < \
        kronos_text.index("# PERF: MARKETSIM_EXACT_KRONOS") < kronos_text.index("def _build_predictor")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the probes run: upstream's model cache writes compiled_models/ there."""
    monkeypatch.setenv("COMPILED_MODELS_DIR", str(tmp_path / "compiled_models"))
    return tmp_path


def _probe(script: str, tree: Path, *args: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MARKETSIM_")}
    environment.update(env, PYTHONHASHSEED="0", TOTO_DISABLE_COMPILE="1", HF_HUB_OFFLINE="1")
    workdir = Path(environment["COMPILED_MODELS_DIR"]).parent
    result = subprocess.run([sys.executable, str(PROBES / script), str(tree), *args], capture_output=True,
                            text=True, env=environment, timeout=300, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_real_toto_wrapper_exact_forecaster_when_set(patched: Path, workdir: Path) -> None:
    pytest.importorskip("toto")
    run = _probe("toto_pipeline.py", patched, MARKETSIM_EXACT_TOTO="1")
    assert not run["real"] and run["subclass"] and run["made_by_migrate"], run["class"]
    assert run["warnings"] == []


def test_real_toto_wrapper_unset_computes_what_the_original_does(original: Path, patched: Path, workdir: Path) -> None:
    pytest.importorskip("toto")
    before = _probe("toto_pipeline.py", original)
    after = _probe("toto_pipeline.py", patched)
    assert after["real"] and after["warnings"] == [] and not after["made_by_migrate"]
    assert after == before


def _kronos_or_skip() -> None:
    if importlib.util.find_spec("kronos_finance") is None:
        pytest.skip("the real Kronos code is absent: pip install --no-deps kronos-finance==0.1.5")


@pytest.mark.parametrize("value, shared", [("1", False), ("shared", True)])
def test_real_kronos_wrapper_exact_predictor_when_set(patched: Path, value: str, shared: bool,
                                                      workdir: Path) -> None:
    _kronos_or_skip()
    if importlib.util.find_spec("migrator.runtime.exact_kronos") is None:
        pytest.skip("migrator.runtime.exact_kronos lands from the kronos branch")
    run = _probe("kronos_predictor.py", patched, "--no-predict", MARKETSIM_EXACT_KRONOS=value)
    assert not run["real"] and run["subclass"], run["class"]
    assert run["made_by_migrate"] == [{"shared": shared}]
    assert run["warnings"] == []


def test_real_kronos_wrapper_unset_computes_what_the_original_does(original: Path, patched: Path, workdir: Path) -> None:
    _kronos_or_skip()
    before = _probe("kronos_predictor.py", original)
    after = _probe("kronos_predictor.py", patched)
    assert after["real"] and after["warnings"] == [] and after["made_by_migrate"] == []
    assert after == before
    unknown = _probe("kronos_predictor.py", patched, MARKETSIM_EXACT_KRONOS="fast")
    assert unknown["real"] and unknown["prediction"] == before["prediction"]
    assert unknown["warnings"] == ["MARKETSIM_EXACT_KRONOS='fast' is not one of 1/true/yes/on/shared; "
                                   "using Kronos's KronosPredictor"]
