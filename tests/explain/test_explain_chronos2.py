"""explain for Chronos-2 selections, on the real files: the config each best/ selection of model
"chronos2" names (its config_path), and that config's device / batch / context."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .helpers import FIXTURES, REPO, clean_env, run_explain

CORPUS = REPO / ".." / "shared" / "corpus"
KEYS = ("device_map", "batch_size", "context_length")


@pytest.fixture
def chronos2_root(tmp_path: Path) -> Path:
    if not (CORPUS / "chronos2").is_dir():
        pytest.skip("the real config corpus is absent")
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(FIXTURES / "guide_shape.py", root / "backtest_test3_inline.py")
    shutil.copytree(CORPUS / "other-models" / "best", root / "hyperparams" / "best")
    shutil.copytree(CORPUS / "chronos2", root / "hyperparams" / "chronos2")
    return root


def test_each_chronos2_selection_shows_the_config_it_names(chronos2_root: Path):
    code, out, err = run_explain(["--root", str(chronos2_root), "--json"], clean_env())
    assert code == 0, err
    symbols = json.loads(out)["symbols"]
    selections = sorted((chronos2_root / "hyperparams" / "best").glob("*.json"))
    assert selections
    seen = {"loaded": 0, "missing": 0}
    for path in selections:
        record = json.loads(path.read_bytes())
        if record.get("model") != "chronos2":
            continue
        shown = symbols[path.stem]["chronos2"]
        named = chronos2_root / record["config_path"] if "config_path" in record else \
            chronos2_root / "hyperparams" / "chronos2" / path.name
        assert Path(shown["config"]["path"]) == named
        assert shown["config"]["state"] == ("loaded" if named.is_file() else "missing")
        seen[shown["config"]["state"]] += 1
        for key in KEYS:
            value = shown["values"][key]["value"]
            if named.is_file():
                assert value == json.loads(named.read_bytes())["config"][key]
            else:  # said so, with what the selection itself records
                assert "is missing" in value["unknown"] and json.dumps(record["config"][key]) in value["unknown"]
        assert symbols[path.stem]["best"]["model"] == "chronos2"
    assert seen["loaded"]  # the real files cover a selection whose config exists


def test_a_config_path_outside_the_root_is_not_read(chronos2_root: Path):
    best = next((chronos2_root / "hyperparams" / "best").glob("*.json"))
    record = json.loads(best.read_bytes())
    record["config_path"] = "../../etc/passwd"
    best.write_text(json.dumps(record))
    code, out, err = run_explain(["--root", str(chronos2_root), "--json", "--symbol", best.stem], clean_env())
    assert code == 0, err
    shown = json.loads(out)["symbols"][best.stem]["chronos2"]
    assert shown["config"]["state"] == "invalid" and "not a path inside the root" in shown["config"]["reason"]
    code, out, err = run_explain(["--root", str(chronos2_root), "--symbol", best.stem], clean_env())
    assert code == 0 and f"{best.stem} chronos2 config unknown" in out
