"""Fixtures for the config-migration tests: the real corpus and project trees built from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "hyperparams").is_dir():
        pytest.skip(f"the real config corpus is absent ({CORPUS.resolve()})")
    return CORPUS.resolve()


@pytest.fixture
def corpus_root(corpus: Path, tmp_path: Path) -> Path:
    """A project root whose hyperparams/ is the corpus, laid out as the backtest reads it.

    best/ and kronos/ as in the corpus, best/ also holding the chronos2 selections,
    and toto/ holding the Toto configs (the corpus keeps those only as best/ files
    of model "toto", which have the same shape as toto/SYMBOL.json).
    """
    root = tmp_path / "project"
    hp = root / "hyperparams"
    shutil.copytree(corpus / "hyperparams", hp)
    for path in (corpus / "other-models" / "best").glob("*.json"):
        shutil.copy2(path, hp / "best" / path.name)
    (hp / "toto").mkdir()
    for path in (hp / "best").glob("*.json"):
        if json.loads(path.read_bytes())["model"] == "toto":
            shutil.copy2(path, hp / "toto" / path.name)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def snapshot():
    """snapshot(root): every file under root, bytes by relative path (to prove nothing was written)."""
    return _snapshot
