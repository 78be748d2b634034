"""imports: the helper definitions, placed once, only where needed, never colliding.

The sources below are code a rule already rewrote (they call the flag helper)
but that lacks its definition; the imports rule runs alone on them.
"""

from __future__ import annotations

import logging

import pytest

from migrator.codemod import env_helpers

from ..helpers import after, code, crlf, run, status, tabs

RULE = "imports"
FLAG_HELPER = '''\


def _marketsim_env_flag(name):
    """Whether an environment flag is on: 1/true/yes/on, any case (added by `migrate apply`)."""
    import os
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
'''
USE = '''\


def run(num_simulations=50):
    if _marketsim_env_flag("MARKETSIM_FAST_SIMULATE") and isinstance(num_simulations, int):
        num_simulations = min(num_simulations, 35)
    return num_simulations
'''

CASES = [
    pytest.param(
        code('''
            """Backtest."""
            from __future__ import annotations

            import sys
            from os import getenv
        ''') + USE.encode(),
        code('''
            """Backtest."""
            from __future__ import annotations

            import sys
            from os import getenv
        ''') + FLAG_HELPER.encode() + USE.encode(),
        id="docstring-future-imports"),
    pytest.param(
        code('''
            try:
                import os
            except ImportError:
                os = None
            LIMIT = 3
        ''') + USE.encode(),
        code('''
            try:
                import os
            except ImportError:
                os = None
        ''') + FLAG_HELPER.encode() + b"\n\nLIMIT = 3\n" + USE.encode(),
        id="after-a-try-import-block"),
    pytest.param(
        USE.lstrip("\n").encode(),
        FLAG_HELPER.lstrip("\n").encode() + USE.encode(),
        id="no-imports-at-all"),
    pytest.param(
        crlf(tabs(b"import sys\n" + USE.encode())).rstrip(),
        crlf(tabs(b"import sys\n" + FLAG_HELPER.encode() + USE.encode())).rstrip(),
        id="tabs-crlf-no-final-newline"),
]


@pytest.mark.parametrize(("before", "expected"), CASES)
def test_inserts(before: bytes, expected: bytes) -> None:
    assert after(before, RULE) == expected
    assert after(expected, RULE) == expected


def test_nothing_needed_nothing_added() -> None:
    source = code('''
        def run(num_simulations=50):
            return num_simulations
    ''')
    assert after(source, RULE) == source
    assert status(run(source, RULE), RULE) == "not applicable"


def test_helpers_present_is_already_applied() -> None:
    done = FLAG_HELPER.lstrip("\n").encode() + USE.encode()
    assert status(run(done, RULE), RULE) == "already applied"


def test_fast_budget_brings_the_flag_helper() -> None:
    source = code('''
        import os
        from scipy.optimize import direct

        r = direct(f, b, maxfun=_marketsim_fast_budget(500, cap=100))
    ''')
    patched = after(source, RULE)
    assert patched.count(b"def _marketsim_env_flag(") == 1
    assert patched.count(b"def _marketsim_fast_budget(") == 1
    assert patched.index(b"def _marketsim_env_flag(") > patched.index(b"from scipy.optimize")


# --- collisions (issue 8 part 7; each failed before: the patch raised at run time) ---

OWN_HELPER = code('''
    import os


    def _marketsim_env_int(name):
        """The module's own helper, with another signature."""
        return os.environ.get(name)


    def _compute_toto_forecast():
        max_horizon = 7
        return [step for step in range(max_horizon)], _marketsim_env_int("HOME")
''')


def test_module_defining_its_own_helper_name_gets_another(monkeypatch: pytest.MonkeyPatch) -> None:
    patched = after(OWN_HELPER)
    assert b'max_horizon = _marketsim_env_int_2("MARKETSIM_MAX_HORIZON", 7)' in patched
    assert patched.count(b"def _marketsim_env_int(name):") == 1  # theirs, untouched
    assert after(patched) == patched  # ours is found again by its exact definition
    namespace: dict = {"__name__": "own_helper"}
    exec(compile(patched, "own.py", "exec"), namespace)
    monkeypatch.setenv("MARKETSIM_MAX_HORIZON", "3")
    steps, home = namespace["_compute_toto_forecast"]()
    assert len(steps) == 3 and home == namespace["os"].environ.get("HOME")


def test_an_older_helper_of_ours_is_not_reused() -> None:
    """A helper of the same name but another body (an older migrate's) is not called with
    arguments it may not take: the new code gets its own."""
    older = code('''
        def _marketsim_env_int(name, default):
            """An integer setting from the environment (added by `migrate apply`)."""
            return default


        def f():
            max_horizon = 7
            return max_horizon
    ''')
    patched = after(older)
    assert b'max_horizon = _marketsim_env_int_2("MARKETSIM_MAX_HORIZON", 7)' in patched
    assert b"def _marketsim_env_int_2(name, default, low=1, high=None" in patched


@pytest.mark.parametrize("binding", [
    "os = None",
    "import posixpath as os",
    "from pathlib import Path as os",
    "import os as _marketsim_os\nos = object()",
])
def test_os_bound_to_something_else(binding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (binding + "\n\n\ndef backtest_forecasts(num_simulations=50):\n"
              "    return [i for i in range(num_simulations)]\n\n\n"
              "def forecast():\n    max_horizon = 7\n    return max_horizon\n").encode()
    patched = after(source)
    namespace: dict = {"__name__": "os_bound"}
    exec(compile(patched, "os_bound.py", "exec"), namespace)
    monkeypatch.setenv("MARKETSIM_FAST_SIMULATE", "1")
    monkeypatch.setenv("MARKETSIM_MAX_HORIZON", "2")
    assert len(namespace["backtest_forecasts"]()) == 35
    assert namespace["forecast"]() == 2


def test_resolution_is_stable_and_skips_every_bound_name() -> None:
    source = code('''
        _marketsim_env_flag = 1
        _marketsim_env_flag_2 = 2

        def _marketsim_fast_budget():
            pass
    ''')
    from migrator.codemod.rule import ModuleContext, RuleOptions

    ctx = ModuleContext(source=source, options=RuleOptions())
    names = env_helpers.resolve(ctx.facts)
    assert names == {env_helpers.ENV_INT: "_marketsim_env_int",
                     env_helpers.ENV_FLAG: "_marketsim_env_flag_3",
                     env_helpers.FAST_BUDGET: "_marketsim_fast_budget_2"}
    assert "_marketsim_env_flag_3(" in env_helpers.source(env_helpers.FAST_BUDGET, names)


def test_env_int_warns_once_per_value(caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    names = {base: base for base in env_helpers.ORDER}
    namespace: dict = {"__name__": "helper_module"}
    exec(env_helpers.source(env_helpers.ENV_INT, names), namespace)
    read = namespace[env_helpers.ENV_INT]
    caplog.set_level(logging.WARNING)
    for value, expected in [(None, 7), ("abc", 7), ("", 7), ("7", 7), ("1", 7), ("1", 7),
                            ("9", 7), ("9", 7)]:
        if value is None:
            monkeypatch.delenv("X_HORIZON", raising=False)
        else:
            monkeypatch.setenv("X_HORIZON", value)
        assert read("X_HORIZON", 7, low=7, high=7) == expected
    assert [r.getMessage() for r in caplog.records] == [
        "X_HORIZON=1: this code supports 7 to 7; using 7",
        "X_HORIZON=9: this code supports 7 to 7; using 7"]
    assert {r.name for r in caplog.records} == {"helper_module"}
    monkeypatch.setenv("X_HORIZON", "0")
    assert read("X_HORIZON", 3) == 1 and read("X_HORIZON", 3) == 1
    assert len(caplog.records) == 3
