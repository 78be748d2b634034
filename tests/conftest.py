"""Fixtures shared across the test folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the bundled example project: examples/ (the backtest, its parallel copy,
    src/optimization_utils.py) with the example hyperparams/ beside it. A test module may
    define its own `project`, which then takes precedence."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "hyperparams", root / "hyperparams")
    shutil.copytree(REPO / "examples", root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return root
