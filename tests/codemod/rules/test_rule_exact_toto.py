"""exact-toto: MARKETSIM_EXACT_TOTO rebinds toto-ts's TotoForecaster, and only then.

A fake `toto` package is written to tmp_path (toto/inference/forecaster.py with a
TotoForecaster class); `migrator.runtime.exact_toto` belongs to another part of
migrate, so the tests put a stand-in with its one function into sys.modules.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path

import pytest

from ..helpers import after, code, run, status

RULE = "exact-toto"

PIPELINE = code('''
    """Upstream's src/models/toto_wrapper.py, in short."""
    import logging

    try:
        from toto.inference.forecaster import TotoForecaster
    except ImportError:  # older layout
        from toto.toto.inference.forecaster import TotoForecaster

    logger = logging.getLogger(__name__)


    class TotoPipeline:
        def __init__(self, model):
            self.forecaster = TotoForecaster(model)
''')


@pytest.fixture
def fake_toto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    package = tmp_path / "site" / "toto" / "inference"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "forecaster.py").write_text(
        "class TotoForecaster:\n"
        "    def __init__(self, model):\n        self.model = model\n\n"
        "    def forecast(self, inputs, prediction_length, num_samples=None, samples_per_batch=10,\n"
        "                 use_kv_cache=True, future_exogenous_variables=None):\n"
        "        return 'toto-ts'\n")
    for name in [m for m in sys.modules if m == "toto" or m.startswith("toto.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("MARKETSIM_EXACT_TOTO", raising=False)
    return importlib.import_module("toto.inference.forecaster").TotoForecaster


def _runtime(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """A stand-in for migrator.runtime.exact_toto: the subclasses it made."""
    made: list[type] = []

    def exact_forecaster_class(cls: type) -> type:
        subclass = type("ExactTotoForecaster", (cls,), {"forecast": lambda self, *a, **k: "exact"})
        made.append(subclass)
        return subclass

    module = types.ModuleType("migrator.runtime.exact_toto")
    module.exact_forecaster_class = exact_forecaster_class  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "migrator.runtime.exact_toto", module)
    return made


def _load(tmp_path: Path, source: bytes) -> types.ModuleType:
    path = tmp_path / "toto_wrapper.py"
    path.write_bytes(source)
    namespace = types.ModuleType("toto_wrapper")
    namespace.__file__ = str(path)
    exec(compile(source, str(path), "exec"), namespace.__dict__)
    return namespace


def test_unset_keeps_the_original(tmp_path: Path, fake_toto: type,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    made = _runtime(monkeypatch)
    module = _load(tmp_path, after(PIPELINE, RULE))
    assert module.TotoForecaster is fake_toto and made == []
    for value in ("0", "false", "", "no"):
        monkeypatch.setenv("MARKETSIM_EXACT_TOTO", value)
        assert _load(tmp_path, after(PIPELINE, RULE)).TotoForecaster is fake_toto


@pytest.mark.parametrize("value", ["1", "true", " YES ", "On"])
def test_set_rebinds_to_the_exact_subclass(tmp_path: Path, fake_toto: type,
                                           monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    made = _runtime(monkeypatch)
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO", value)
    module = _load(tmp_path, after(PIPELINE, RULE))
    assert module.TotoForecaster is made[0] and issubclass(made[0], fake_toto)
    assert module.TotoPipeline("model").forecaster.forecast(None, 1) == "exact"


def test_migrate_missing_keeps_the_original_and_warns_once(
        tmp_path: Path, fake_toto: type, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "migrator.runtime.exact_toto", None)  # ImportError
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO", "1")
    caplog.set_level(logging.WARNING)
    module = _load(tmp_path, after(PIPELINE, RULE))
    assert module.TotoForecaster is fake_toto
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith(
        "MARKETSIM_EXACT_TOTO is set but migrate's exact forecaster is unavailable (")


def test_refused_class_keeps_the_original(tmp_path: Path, fake_toto: type,
                                          monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    module = types.ModuleType("migrator.runtime.exact_toto")

    def refuse(cls: type) -> type:
        raise TypeError("not a toto-ts TotoForecaster")

    module.exact_forecaster_class = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "migrator.runtime.exact_toto", module)
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO", "1")
    assert _load(tmp_path, after(PIPELINE, RULE)).TotoForecaster is fake_toto
    assert "not a toto-ts TotoForecaster" in caplog.text


def test_idempotent_and_statuses() -> None:
    once = after(PIPELINE, RULE)
    assert once != PIPELINE and once.count(b"MARKETSIM_EXACT_TOTO") == 4  # comment, read, two warnings
    assert after(once, RULE) == once
    assert status(run(PIPELINE, RULE), RULE) == "applied"
    assert status(run(once, RULE), RULE) == "already applied"
    # The block sits right after the try/except that binds the name.
    assert once.index(b"# PERF: MARKETSIM_EXACT_TOTO") > once.index(b"toto.toto.inference")
    assert once.index(b"# PERF: MARKETSIM_EXACT_TOTO") < once.index(b"logger = ")


@pytest.mark.parametrize("source", [
    pytest.param(code('''
        from toto.inference.forecaster import TotoForecaster as TF
    '''), id="alias"),
    pytest.param(code('''
        def build(model):
            from toto.toto.inference.forecaster import TotoForecaster
            return TotoForecaster(model)
    '''), id="inside-a-function"),
])
def test_other_shapes(source: bytes, tmp_path: Path, fake_toto: type,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    patched = after(source, RULE)
    assert patched != source and after(patched, RULE) == patched
    made = _runtime(monkeypatch)
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO", "1")
    if b"def build" in source:
        toto_pkg = tmp_path / "site" / "toto" / "toto" / "inference"
        toto_pkg.mkdir(parents=True)
        for folder in (toto_pkg.parent, toto_pkg):
            (folder / "__init__.py").write_text("")
        (toto_pkg / "forecaster.py").write_text("from toto.inference.forecaster import *\n")
        assert isinstance(_load(tmp_path, patched).build("m"), made[0])
    else:
        assert _load(tmp_path, patched).TF is made[0]


@pytest.mark.parametrize("source", [
    pytest.param(b"from toto.data.util import TotoForecaster\n", id="another-module"),
    pytest.param(b"from mytoto.inference.forecaster import TotoForecaster\n", id="another-package"),
    pytest.param(b"from toto.inference.forecaster import Forecast\n", id="another-name"),
    pytest.param(b"TotoForecaster = object\n", id="not-an-import"),
    pytest.param(b"from .inference.forecaster import TotoForecaster\n", id="relative"),
    pytest.param(b'"""Uses toto: TotoForecaster."""\n', id="only-in-a-string"),
])
def test_leaves_alone(source: bytes) -> None:
    assert after(source, RULE) == source
    assert status(run(source, RULE), RULE) == "not applicable"


def test_with_the_other_rules_in_one_module(tmp_path: Path, fake_toto: type,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    source = PIPELINE + code('''


        def forecast(num_simulations=50):
            max_horizon = 7
            return [range(max_horizon) for _ in range(num_simulations)]
    ''')
    once = after(source)  # every rule
    assert after(once) == once
    assert once.index(b"# PERF: MARKETSIM_EXACT_TOTO") < once.index(b"def _marketsim_env_int(")
    made = _runtime(monkeypatch)
    monkeypatch.setenv("MARKETSIM_EXACT_TOTO", "1")
    monkeypatch.setenv("MARKETSIM_FAST_SIMULATE", "1")
    module = _load(tmp_path, once)
    assert module.TotoForecaster is made[0] and len(module.forecast()) == 35
