"""The `project` fixture: a root holding a fixture backtest and a hyperparams tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import FIXTURES, make_tree


@pytest.fixture
def project(tmp_path: Path):
    """ROOT with a backtest copied from a fixture (call it with the fixture's name)."""
    def build(fixture: str, with_toto: bool = True) -> Path:
        root = tmp_path / "project"
        root.mkdir()
        shutil.copy(FIXTURES / fixture, root / "backtest_test3_inline.py")
        make_tree(root / "hyperparams", with_toto=with_toto)
        return root
    return build
