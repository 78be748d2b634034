"""Real and hostile hyperparams files: explain agrees on the real corpus and never breaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.explain.resolve import explain
from .helpers import FIXTURES, REPO, clean_env, explain_values, run_explain, run_module

CORPUS = REPO / ".." / "shared" / "corpus" / "hyperparams"


@pytest.mark.parametrize("fixture", ["guide_shape.py", "plain_2026.py"])
def test_agrees_with_the_module_on_the_real_corpus(tmp_path: Path, fixture: str):
    if not (CORPUS / "best").is_dir():
        pytest.skip(f"the real config corpus is absent ({CORPUS.resolve()})")
    root = tmp_path / "project"
    hp = root / "hyperparams"
    shutil.copytree(CORPUS / "best", hp / "best")
    if (CORPUS / "kronos").is_dir():
        shutil.copytree(CORPUS / "kronos", hp / "kronos")
    (hp / "toto").mkdir()
    for best in sorted((hp / "best").glob("*.json")):  # Toto selections have toto/SYMBOL.json's shape
        if json.loads(best.read_text()).get("model") == "toto":
            shutil.copy(best, hp / "toto" / best.name)
    shutil.copy(FIXTURES / fixture, root / "backtest_test3_inline.py")
    symbols = sorted({p.stem for folder in ("best", "kronos", "toto") for p in (hp / folder).glob("*.json")})
    assert symbols
    for env in (clean_env(), clean_env(MARKETSIM_TOTO_MIN_NUM_SAMPLES="16", MARKETSIM_KRONOS_SAMPLE_COUNT="80")):
        truth = run_module(root / "backtest_test3_inline.py", root, symbols, env)
        code, out, err = run_explain(["--root", str(root), "--json"], env)
        assert code == 0, err
        assert explain_values(json.loads(out)) == truth


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
_CONFIG = st.dictionaries(st.sampled_from(["num_samples", "samples_per_batch", "aggregate", "sample_count",
                                           "temperature", "max_context", "name"]), _JSON, max_size=5)
_RECORD = st.one_of(st.builds(lambda c, m: {"model": m, "config": c}, _CONFIG, st.sampled_from(["toto", "kronos", 3])),
                    _JSON)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(toto=_RECORD, kronos=_RECORD, best=_RECORD, raw=st.binary(max_size=40))
def test_any_file_content_gives_values_or_unknowns_never_a_crash(tmp_path_factory, toto, kronos, best, raw):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(FIXTURES / "guide_shape.py", root / "backtest_test3_inline.py")
    for folder, record in (("toto", toto), ("kronos", kronos), ("best", best)):
        (root / "hyperparams" / folder).mkdir(parents=True)
        (root / "hyperparams" / folder / "AAPL.json").write_text(json.dumps(record))
    (root / "hyperparams" / "toto" / "RAW.json").write_bytes(raw)
    result = explain(root, root / "backtest_test3_inline.py", {})
    document = json.loads(json.dumps(result.as_json(), allow_nan=False))
    for parts in document["symbols"].values():
        runtime = parts["toto"]["runtime"]
        for key in ("num_samples", "samples_per_batch"):
            value = runtime[key]
            assert (isinstance(value, int) and value >= 1) or set(value) == {"unknown"}
        count = parts["kronos"]["sample_count"]["value"]
        assert isinstance(count, int) or set(count) == {"unknown"}
