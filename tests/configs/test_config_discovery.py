"""discover(): which files a migration may touch, and refusing paths outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrator.configs.discovery import discover
from migrator.errors import BadInputError


def _tree(root: Path) -> Path:
    hp = root / "hyperparams"
    for rel in ("toto/AAPL.json", "toto/MSFT.json", "kronos/AAPL.json", "best/AAPL.json",
                "best/ABT.json", "chronos2/ABT.json", "toto/notes.txt", "toto/old/AAPL.json"):
        (hp / rel).parent.mkdir(parents=True, exist_ok=True)
        (hp / rel).write_text("{}")
    return hp


def test_lists_the_model_folder_then_selections_only(tmp_path):
    hp = _tree(tmp_path)
    found = discover(tmp_path, hp, "toto")
    assert [c.label for c in found.candidates] == [
        "hyperparams/toto/AAPL.json", "hyperparams/toto/MSFT.json",
        "hyperparams/best/AAPL.json", "hyperparams/best/ABT.json"]
    assert [c.is_selection for c in found.candidates] == [False, False, True, True]
    assert found.warnings == ()
    kronos = discover(tmp_path, hp, "kronos")
    assert [c.label for c in kronos.candidates] == [
        "hyperparams/kronos/AAPL.json", "hyperparams/best/AAPL.json", "hyperparams/best/ABT.json"]


def test_symbols_narrow_and_unknown_symbols_are_named(tmp_path):
    hp = _tree(tmp_path)
    found = discover(tmp_path, hp, "toto", ["MSFT", "ABT"])
    assert [c.label for c in found.candidates] == ["hyperparams/toto/MSFT.json", "hyperparams/best/ABT.json"]
    with pytest.raises(BadInputError, match=r"unknown symbols NOPE, ZZZ: no such file in hyperparams/toto/"):
        discover(tmp_path, hp, "toto", ["AAPL", "ZZZ", "NOPE"])
    # A symbol is matched against file names, never joined into a path.
    with pytest.raises(BadInputError, match=r"unknown symbol \.\./chronos2/ABT"):
        discover(tmp_path, hp, "toto", ["../chronos2/ABT"])


def test_hyperparams_outside_the_root_is_refused(tmp_path):
    hp = _tree(tmp_path / "elsewhere")
    (tmp_path / "root").mkdir()
    with pytest.raises(BadInputError, match="outside the root .*pass --root"):
        discover(tmp_path / "root", hp, "toto")


def test_missing_hyperparams_folder(tmp_path):
    with pytest.raises(BadInputError, match="no hyperparams folder"):
        discover(tmp_path, tmp_path / "hyperparams", "toto")


def test_symlinks_outside_the_root_are_skipped_with_a_warning(tmp_path):
    root = tmp_path / "root"
    hp = _tree(root)
    outside = _tree(tmp_path / "outside")
    os.symlink(outside / "toto" / "AAPL.json", hp / "toto" / "EVIL.json")
    (hp / "kronos").rename(hp / "kronos_real")
    os.symlink(outside / "kronos", hp / "kronos")
    found = discover(root.resolve(), hp.resolve(), "toto")
    assert "hyperparams/toto/EVIL.json" not in [c.label for c in found.candidates]
    assert any(w.startswith("hyperparams/toto/EVIL.json: skipped: symlink leads outside the root")
               for w in found.warnings)
    kronos = discover(root.resolve(), hp.resolve(), "kronos")
    assert [c.label for c in kronos.candidates] == ["hyperparams/best/AAPL.json", "hyperparams/best/ABT.json"]
    assert kronos.warnings[0].startswith("hyperparams/kronos: skipped: it leads outside the root")


def test_symlinks_inside_the_root_resolve_to_the_real_file_once(tmp_path):
    hp = _tree(tmp_path)
    os.symlink(hp / "toto" / "AAPL.json", hp / "toto" / "ZZZ.json")
    found = discover(tmp_path, hp, "toto")
    labels = [c.label for c in found.candidates]
    assert "hyperparams/toto/ZZZ.json" not in labels  # same real file as toto/AAPL.json
    assert all(c.path == os.path.realpath(c.path) for c in found.candidates)


def test_broken_symlinks_are_reported(tmp_path):
    hp = _tree(tmp_path)
    os.symlink(tmp_path / "gone.json", hp / "toto" / "GONE.json")
    found = discover(tmp_path, hp, "toto")
    assert "hyperparams/toto/GONE.json: skipped: broken symlink" in found.warnings
    assert "hyperparams/toto/GONE.json" not in [c.label for c in found.candidates]


def test_an_unknown_symbol_with_control_characters_is_escaped(tmp_path):
    hp = _tree(tmp_path)
    with pytest.raises(BadInputError) as error:
        discover(tmp_path, hp, "toto", ["A\nB\x1b"])
    assert str(error.value).startswith("unknown symbol A\\nB\\x1b: no such file")
