"""The rebinding exact-toto and exact-kronos share (rules/rebind.py): where the block goes,
that a second run adds nothing wherever the import stands, and that typing-only imports are
never followed by one. Each case runs for both rules: the same shapes, each rule's import."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from ..helpers import after, code, run, status

RULES = {
    "exact-toto": ("from toto.inference.forecaster import TotoForecaster", "TotoForecaster",
                   "MARKETSIM_EXACT_TOTO", "migrator.runtime.exact_toto", "exact_forecaster_class"),
    "exact-kronos": ("from external.kronos.model import Kronos, KronosPredictor, KronosTokenizer",
                     "KronosPredictor", "MARKETSIM_EXACT_KRONOS", "migrator.runtime.exact_kronos",
                     "exact_predictor_class"),
}

# {IMPORT} is the rule's import statement, {NAME} the class it binds.
SHAPES = {
    "statements-before-the-import": '''
        import logging

        logger = logging.getLogger(__name__)
        SETTING = 3


        def helper():
            return SETTING

        {IMPORT}

        VALUE = {NAME}
    ''',
    "inside-a-function": '''
        import logging


        def build(model):
            logging.info("building")
            {IMPORT}
            return {NAME}(model)
    ''',
    "inside-a-method-try-except-finally": '''
        class Wrapper:
            def _ensure(self):
                stub = None
                try:
                    stub = 1
                    {IMPORT}
                except Exception as exc:
                    raise RuntimeError("missing") from exc
                finally:
                    stub = None
                return {NAME}
    ''',
    "try-except-fallback-after-statements": '''
        import logging
        log = logging.getLogger(__name__)
        try:
            {IMPORT}
        except ImportError:
            {NAME} = None
        x = 1
    ''',
    "duplicated-imports": '''
        {IMPORT}
        {IMPORT}
        y = {NAME}


        def f():
            {IMPORT}
            {IMPORT}
            return {NAME}
    ''',
    "typing-alias-then-runtime-import": '''
        from typing import TYPE_CHECKING, Any
        torch = None

        if TYPE_CHECKING:
            {IMPORT_AS}
        else:
            AliasType = Any

        try:
            {IMPORT}
        except Exception:
            {NAME} = None
    ''',
}


def _source(shape: str, rule: str) -> bytes:
    statement, name, *_ = RULES[rule]
    as_alias = statement.replace(name, f"{name} as AliasType")
    return code(SHAPES[shape].replace("{IMPORT_AS}", as_alias).replace("{IMPORT}", statement)
                .replace("{NAME}", name))


def _imports(source: bytes, name: str) -> int:
    return sum(1 for line in source.splitlines()
               if line.lstrip().startswith(b"from ") and name.encode() in line
               and b" as AliasType" not in line)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("shape", SHAPES)
def test_one_block_per_runtime_import_and_a_second_run_changes_nothing(shape: str, rule: str) -> None:
    source = _source(shape, rule)
    env_var = RULES[rule][2]
    once = after(source, rule)
    blocks = once.count(f'environ.get("{env_var}"'.encode())
    bindings = 1 if "try" in shape else _imports(source, RULES[rule][1])
    assert blocks == bindings
    assert after(once, rule) == once
    assert status(run(once, rule), rule) == "already applied"
    everything = after(source)  # with every rule, as `migrate apply` runs them
    assert after(everything) == everything
    compile(everything, "example.py", "exec", dont_inherit=True)


@pytest.mark.parametrize("rule", RULES)
def test_a_typing_only_import_gets_no_block(rule: str) -> None:
    statement, name, *_ = RULES[rule]
    source = code(f'''
        import typing
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            {statement}
        if typing.TYPE_CHECKING:
            {statement}
        else:
            {name} = object
    ''')
    assert after(source, rule) == source
    assert status(run(source, rule), rule) == "not applicable"


@pytest.mark.parametrize("rule", RULES)
def test_the_block_rebinds_the_runtime_import_not_the_alias(
        rule: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    statement, name, env_var, runtime, factory = RULES[rule]
    provider = statement.split()[1]
    real = type(name, (), {})
    for index, part in enumerate(provider.split(".")):
        module = types.ModuleType(".".join(provider.split(".")[:index + 1]))
        monkeypatch.setitem(sys.modules, module.__name__, module)
    for other in ("Kronos", "KronosTokenizer", name):
        setattr(sys.modules[provider], other, real if other == name else object)
    made: list[type] = []
    stand_in = types.ModuleType(runtime)
    setattr(stand_in, factory, lambda cls, **_: made.append(type("Exact", (cls,), {})) or made[-1])
    monkeypatch.setitem(sys.modules, runtime, stand_in)
    monkeypatch.setenv(env_var, "1")
    caplog.set_level(logging.WARNING)
    namespace: dict = {"__name__": "example"}
    exec(compile(after(_source("typing-alias-then-runtime-import", rule), rule), "example.py", "exec"),
         namespace)
    assert namespace[name] is made[0] and issubclass(made[0], real)
    assert namespace["AliasType"] is __import__("typing").Any  # the alias is left alone
    assert caplog.records == []


@pytest.mark.parametrize("rule", RULES)
def test_a_failed_import_fallback_is_left_alone_silently(
        rule: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _, name, env_var, runtime, _ = RULES[rule]
    monkeypatch.setitem(sys.modules, runtime, None)  # would fail, if it were imported
    monkeypatch.setenv(env_var, "1")
    caplog.set_level(logging.WARNING)
    namespace: dict = {"__name__": "example"}
    patched = after(_source("typing-alias-then-runtime-import", rule), rule)
    monkeypatch.setitem(sys.modules, RULES[rule][0].split()[1], None)  # the import fails
    exec(compile(patched, "example.py", "exec"), namespace)
    assert namespace[name] is None and caplog.records == []
