"""exact-kronos: MARKETSIM_EXACT_KRONOS rebinds Kronos's KronosPredictor, and only then.

Before/after tables, then the inserted code run against a fake Kronos module and a
stand-in for migrator.runtime.exact_kronos (which belongs to another part of migrate;
tests/codemod/test_upstream.py runs the real wrapper on the real Kronos code).
"""

from __future__ import annotations

import logging
import sys
import types

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "exact-kronos"


def block(name: str, indent: str = "") -> str:
    """The block the rule inserts after a statement binding `name`, at `indent`."""
    text = f'''\
# PERF: MARKETSIM_EXACT_KRONOS=1/true/yes/on swaps in migrate's exact KronosPredictor (the same tokens for a seed; shared: one call's paths reused by the other calls on the same input, opt-in; added by migrate apply)
try:
    import os as _marketsim_os
    _marketsim_mode = _marketsim_os.environ.get("MARKETSIM_EXACT_KRONOS", "").strip().lower()
    if _marketsim_mode in {{"1", "true", "yes", "on", "shared"}}:
        if isinstance({name}, type):  # not a failed import's None
            from migrator.runtime.exact_kronos import exact_predictor_class as _marketsim_exact_class
            {name} = _marketsim_exact_class({name}, shared=_marketsim_mode == "shared")
    elif _marketsim_mode not in {{"", "0", "false", "no", "off"}}:
        import logging as _marketsim_logging
        _marketsim_logging.getLogger(__name__).warning(
            "MARKETSIM_EXACT_KRONOS=%r is not one of 1/true/yes/on/shared; using Kronos's KronosPredictor", _marketsim_mode)
except Exception as _marketsim_error:  # migrate not installed here, or the class refused
    import logging as _marketsim_logging
    _marketsim_logging.getLogger(__name__).warning(
        "MARKETSIM_EXACT_KRONOS is set but migrate's exact predictor is unavailable (%s); "
        "using Kronos's KronosPredictor", _marketsim_error)
'''
    return "".join(indent + line if line.strip() else line for line in text.splitlines(keepends=True))


WRAPPER = code('''
    class KronosForecastingWrapper:
        def _ensure_predictor(self):
            try:
                stub = None
                from external.kronos.model import Kronos, KronosPredictor, KronosTokenizer  # type: ignore
            except Exception as exc:
                raise RuntimeError("Failed to import Kronos components.") from exc
            finally:
                stub = None

            def _build_predictor(target_device):
                return KronosPredictor(model=None, tokenizer=None, device=target_device)

            return _build_predictor("cuda:0")
''')
_TRY_END = b"        finally:\n            stub = None\n"  # the end of the try statement
WRAPPER_AFTER = WRAPPER.replace(_TRY_END, _TRY_END + block("KronosPredictor", " " * 8).encode())

EXAMPLE = code('''
    """Kronos's own example, in short."""
    import pandas as pd
    from model import Kronos, KronosTokenizer, KronosPredictor

    predictor = KronosPredictor(None, None)
''')
_EXAMPLE_IMPORT = b"from model import Kronos, KronosTokenizer, KronosPredictor\n"
EXAMPLE_AFTER = EXAMPLE.replace(_EXAMPLE_IMPORT, _EXAMPLE_IMPORT + block("KronosPredictor").encode())

ALIAS = code('''
    def load():
        from kronos_finance._vendor.kronos_model import KronosPredictor as KP
        return KP
''')
_ALIAS_IMPORT = b"    from kronos_finance._vendor.kronos_model import KronosPredictor as KP\n"
ALIAS_AFTER = ALIAS.replace(_ALIAS_IMPORT, _ALIAS_IMPORT + block("KP", "    ").encode())


@pytest.mark.parametrize("before, expected", [
    pytest.param(WRAPPER, WRAPPER_AFTER, id="upstream-method-try-except-finally"),
    pytest.param(EXAMPLE, EXAMPLE_AFTER, id="module-level-kronos-example"),
    pytest.param(ALIAS, ALIAS_AFTER, id="alias-in-a-function"),
    pytest.param(tabs(ALIAS), tabs(ALIAS_AFTER), id="tabs"),
    pytest.param(crlf(EXAMPLE), crlf(EXAMPLE_AFTER), id="crlf"),
])
def test_before_after(before: bytes, expected: bytes) -> None:
    assert after(before, RULE) == expected
    assert after(expected, RULE) == expected
    assert status(run(before, RULE), RULE) == "applied"
    assert status(run(expected, RULE), RULE) == "already applied"


@pytest.mark.parametrize("source", [
    pytest.param(b"from .kronos import KronosTokenizer, Kronos, KronosPredictor\n",
                 id="relative-kronos-package-re-export"),
    pytest.param(b"from migrator.runtime.exact_kronos import KronosPredictor\n", id="migrate-itself"),
    pytest.param(b"import external.kronos.model as kronos\n", id="module-import"),
    pytest.param(b"from external.kronos.model import Kronos\n", id="another-name"),
    pytest.param(b"KronosPredictor = object\n", id="not-an-import"),
    pytest.param(b'"""Wraps KronosPredictor."""\nimport os\n', id="only-in-a-string"),
])
def test_leaves_alone(source: bytes) -> None:
    assert after(source, RULE) == source
    assert status(run(source, RULE), RULE) == "not applicable"


@pytest.fixture
def kronos(monkeypatch: pytest.MonkeyPatch) -> type:
    """A fake `model` module (Kronos's own layout) with a KronosPredictor class."""
    module = types.ModuleType("model")
    predictor = type("KronosPredictor", (), {"__init__": lambda self, model, tokenizer: None})
    module.Kronos = module.KronosTokenizer = object  # type: ignore[attr-defined]
    module.KronosPredictor = predictor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "model", module)
    monkeypatch.delenv("MARKETSIM_EXACT_KRONOS", raising=False)
    return predictor


def _runtime(monkeypatch: pytest.MonkeyPatch) -> list[tuple[type, dict]]:
    made: list[tuple[type, dict]] = []

    def exact_predictor_class(cls: type, **kwargs: object) -> type:
        made.append((type("ExactKronosPredictor", (cls,), {}), kwargs))
        return made[-1][0]

    module = types.ModuleType("migrator.runtime.exact_kronos")
    module.exact_predictor_class = exact_predictor_class  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "migrator.runtime.exact_kronos", module)
    return made


def _load(source: bytes) -> dict:
    namespace: dict = {"__name__": "example"}
    exec(compile(source, "example.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", " off "])
def test_unset_or_off_keeps_kronos_silently(value: str | None, kronos: type,
                                             monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    made = _runtime(monkeypatch)
    if value is not None:
        monkeypatch.setenv("MARKETSIM_EXACT_KRONOS", value)
    caplog.set_level(logging.WARNING)
    assert _load(EXAMPLE_AFTER)["KronosPredictor"] is kronos
    assert made == [] and caplog.records == []


@pytest.mark.parametrize("value, shared", [("1", False), ("true", False), (" YES ", False),
                                           ("On", False), ("shared", True), ("SHARED", True)])
def test_set_rebinds_to_the_exact_subclass(value: str, shared: bool, kronos: type,
                                           monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    made = _runtime(monkeypatch)
    monkeypatch.setenv("MARKETSIM_EXACT_KRONOS", value)
    caplog.set_level(logging.WARNING)
    assert _load(EXAMPLE_AFTER)["KronosPredictor"] is made[0][0]
    assert issubclass(made[0][0], kronos) and made[0][1] == {"shared": shared}
    assert caplog.records == []


def test_an_unknown_value_warns_once_and_keeps_kronos(kronos: type, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    made = _runtime(monkeypatch)
    monkeypatch.setenv("MARKETSIM_EXACT_KRONOS", "fast")
    caplog.set_level(logging.WARNING)
    assert _load(EXAMPLE_AFTER)["KronosPredictor"] is kronos and made == []
    assert [r.getMessage() for r in caplog.records] == [
        "MARKETSIM_EXACT_KRONOS='fast' is not one of 1/true/yes/on/shared; using Kronos's KronosPredictor"]


@pytest.mark.parametrize("failure", ["missing", "refused"])
def test_import_time_failure_warns_once_and_keeps_kronos(failure: str, kronos: type,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    if failure == "missing":
        monkeypatch.setitem(sys.modules, "migrator.runtime.exact_kronos", None)  # ImportError
    else:
        module = types.ModuleType("migrator.runtime.exact_kronos")

        def refuse(cls: type, **kwargs: object) -> type:
            raise TypeError("not a Kronos KronosPredictor")

        module.exact_predictor_class = refuse  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "migrator.runtime.exact_kronos", module)
    monkeypatch.setenv("MARKETSIM_EXACT_KRONOS", "1")
    caplog.set_level(logging.WARNING)
    assert _load(EXAMPLE_AFTER)["KronosPredictor"] is kronos
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith(
        "MARKETSIM_EXACT_KRONOS is set but migrate's exact predictor is unavailable (")
