"""read_backtest_facts and the clamp API on the three fixture shapes, and the evaluator's limits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from migrator.errors import BadInputError
from migrator.backtest import Unknown, clamp_toto, effective_toto, read_backtest_facts, toto_floors
from migrator.backtest.evaluate import evaluate

FIXTURES = Path(__file__).parents[1] / "explain" / "fixtures"  # fixture backtests, shared with explain


def test_guide_shape_floors_are_env_driven_with_their_lines():
    facts = read_backtest_facts(FIXTURES / "guide_shape.py")
    low_ns, low_spb = toto_floors(facts, {})
    assert (low_ns.value, low_spb.value) == (128, 32)
    setting = facts.toto_bounds["min_num_samples"]
    assert setting.env == ("MARKETSIM_TOTO_MIN_NUM_SAMPLES",)
    line = setting.location.rsplit(":", 1)[1]
    source_line = (FIXTURES / "guide_shape.py").read_text().splitlines()[int(line) - 1]
    assert source_line.startswith("TOTO_MIN_NUM_SAMPLES = _read_int_env(")
    assert toto_floors(facts, {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32"})[0].value == 32
    # The module's helper catches ValueError and returns its default.
    assert toto_floors(facts, {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "x"})[0].value == 128
    assert facts.toto_defaults["num_samples"].default == 3072
    assert facts.toto_defaults["num_samples"].env == ("TOTO_NUM_SAMPLES",)
    assert facts.fast_toto_params["aggregate"].default == "quantile_0.35"
    assert facts.fast_clamped is True
    assert [site.value for site in facts.max_horizon] == [7]
    assert [site.value for site in facts.validation_windows] == [7]


def test_plain_constant_floors_of_the_2026_shape_ignore_the_env():
    facts = read_backtest_facts(FIXTURES / "plain_2026.py")
    env = {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "16", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "8"}
    low_ns, low_spb = toto_floors(facts, env)
    assert (low_ns.value, low_spb.value) == (64, 32)
    assert facts.toto_bounds["min_num_samples"].env == ()
    assert "a plain constant" in low_ns.why
    assert facts.fast_clamped is False
    runtime = effective_toto(facts, 32, 16, env)
    assert (runtime.num_samples, runtime.samples_per_batch, runtime.clamped) == (64, 32, True)


def test_effective_toto_rounds_down_to_a_multiple_of_the_batch():
    facts = read_backtest_facts(FIXTURES / "guide_shape.py")
    runtime = effective_toto(facts, 3072, 100, {})
    assert (runtime.num_samples, runtime.samples_per_batch) == (3000, 100)
    assert effective_toto(facts, 256, 64, {}).clamped is False
    assert clamp_toto(5000, 600, 128, 4096, 32, 512) == (4096, 512)
    assert clamp_toto(100, 512, 128, 4096, 32, 512) == (128, 128)


def test_what_cannot_be_determined_is_unknown_with_the_reason():
    facts = read_backtest_facts(FIXTURES / "partial.py")
    assert isinstance(facts.clamp_function, Unknown)
    assert isinstance(facts.fast_testing, Unknown) is False  # FAST_TESTING exists ...
    assert isinstance(facts.value(facts.fast_testing, {}), Unknown)  # ... but reads sys.argv
    assert "sys.argv" in facts.value(facts.fast_testing, {}).reason
    num_samples = facts.toto_defaults["num_samples"]
    assert "several lines" in facts.value(num_samples, {}).reason
    assert facts.toto_defaults["samples_per_batch"].default == 384
    assert isinstance(facts.hyperparam_root, Unknown) and "HYPERPARAM_ROOT" in facts.hyperparam_root.reason
    assert isinstance(facts.kronos_defaults, Unknown)
    floor = toto_floors(facts, {})[0]
    assert isinstance(floor.value, Unknown) and "compute_floor" in floor.value.reason
    assert isinstance(effective_toto(facts, 256, 32, {}).num_samples, Unknown)
    assert facts.max_horizon == ()  # spelled horizon_days here: nothing is guessed


def test_an_env_value_the_module_cannot_parse_is_reported_as_a_failure_not_a_value():
    facts = read_backtest_facts(FIXTURES / "guide_shape.py")
    value = facts.value(facts.toto_defaults["num_samples"], {"TOTO_NUM_SAMPLES": "many"})
    assert isinstance(value, Unknown)
    assert "fails" in value.reason and "ValueError" in value.reason


@pytest.mark.parametrize("source, env, expected", [
    ("X = int(os.environ['A'])", {"A": "5"}, 5),
    ("X = os.environ.get('A', 'd').upper()", {}, "D"),
    ("X = max(1, min(9, int(os.getenv('A', '3')) * 4))", {}, 9),
    ("X = 'on' if os.getenv('A') in ('1', 'yes') else 'off'", {"A": "yes"}, "on"),
    ("def f(n, d=2):\n    try:\n        return int(os.getenv(n))\n    except TypeError:\n        return d\nX = f('A')", {}, 2),
])
def test_evaluator_follows_the_modules_own_code(source, env, expected):
    tree = ast.parse("import os\n" + source)  # without it, Python raises NameError
    assignment = [node for node in tree.body if isinstance(node, ast.Assign)][-1]
    assert evaluate(tree, assignment.value, env) == expected


@pytest.mark.parametrize("source", [
    "X = os.environ['A']",  # KeyError at import
    "X = open('f').read()",
    "def f():\n    while True:\n        pass\nX = f()",
    "def f():\n    return f()\nX = f()",
])
def test_evaluator_never_guesses(source):
    tree = ast.parse(source)
    assignment = [node for node in tree.body if isinstance(node, ast.Assign)][-1]
    assert isinstance(evaluate(tree, assignment.value, {}), Unknown)


def test_an_unreadable_backtest_is_one_line_naming_it(tmp_path: Path):
    with pytest.raises(BadInputError, match="missing.py"):
        read_backtest_facts(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\ndef (:\n")
    with pytest.raises(BadInputError, match=r"bad.py:2"):
        read_backtest_facts(bad)
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"x = 1\0\n")
    with pytest.raises(BadInputError, match="nul.py"):
        read_backtest_facts(nul)


def _facts_of(tmp_path: Path, source: str):
    path = tmp_path / "backtest_test3_inline.py"
    path.write_text(source)
    return read_backtest_facts(path)


def test_reassigned_constants_are_read_as_python_runs_them(tmp_path: Path):
    facts = _facts_of(tmp_path, (
        "import os\n"
        "TOTO_MIN_NUM_SAMPLES = 128\n"
        "TOTO_MIN_SAMPLES_PER_BATCH = TOTO_MIN_NUM_SAMPLES // 4\n"  # sees 128, not the 64 below
        "TOTO_MIN_NUM_SAMPLES = 64\n"
        "if os.getenv('X'):\n"
        "    TOTO_MAX_NUM_SAMPLES = 1\n"
        "TOTO_MAX_SAMPLES_PER_BATCH = 512\n"
        "DEFAULT_KRONOS_PARAMS = {'sample_count': 192}\n"
        "DEFAULT_KRONOS_PARAMS['sample_count'] = 256\n"))
    low_ns, low_spb = toto_floors(facts, {})
    assert (low_ns.value, low_spb.value) == (64, 32)
    assert facts.toto_bounds["min_num_samples"].location.endswith(":4")
    # Assigned only when X is set: unknown without it, 1 with it, as Python runs it.
    maximum = facts.toto_bounds["max_num_samples"]
    assert "not assigned" in facts.value(maximum, {}).reason
    assert facts.value(maximum, {"X": "1"}) == 1
    # A change of a module-level dict is followed.
    assert facts.value(facts.kronos_defaults["sample_count"], {}) == 256


def test_a_variable_the_module_sets_itself_is_unknown(tmp_path: Path):
    facts = _facts_of(tmp_path, (
        "import os\n"
        "TOTO_MIN_NUM_SAMPLES = int(os.getenv('MARKETSIM_TOTO_MIN_NUM_SAMPLES', '128'))\n"
        "TOTO_MIN_SAMPLES_PER_BATCH = int(os.getenv('MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH', '32'))\n"
        "def main(fast):\n"
        "    if fast:\n"
        "        os.environ['MARKETSIM_TOTO_MIN_NUM_SAMPLES'] = '16'\n"))
    low_ns, low_spb = toto_floors(facts, {})
    assert isinstance(low_ns.value, Unknown) and "sets MARKETSIM_TOTO_MIN_NUM_SAMPLES (line 6)" in low_ns.value.reason
    assert low_spb.value == 32


def test_toto_advice_gives_the_exports_the_users_module_reads():
    from migrator.backtest import toto_advice

    guide = read_backtest_facts(FIXTURES / "guide_shape.py")
    advice = toto_advice(guide, 32, 16, {})
    assert (advice.runtime.num_samples, advice.runtime.samples_per_batch) == (128, 32)
    assert advice.exports == {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}
    assert advice.edits == () and advice.takes_effect
    assert toto_advice(guide, 256, 64, {}).exports == {}
    assert toto_advice(guide, 8192, 1024, {}).exports == {
        "MARKETSIM_TOTO_MAX_NUM_SAMPLES": "8192", "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH": "1024"}
    # The 2026 shape: plain constants, no env var moves them; the lines to edit instead.
    plain = read_backtest_facts(FIXTURES / "plain_2026.py")
    advice = toto_advice(plain, 32, 16, {})
    assert advice.exports == {} and not advice.takes_effect
    assert advice.edits[0].startswith("TOTO_MIN_NUM_SAMPLES = 64 (") and "plain_2026.py:" in advice.edits[0]
    assert toto_advice(plain, 64, 32, {}).takes_effect
