"""The engine: byte preservation across styles and encodings, the prefilter, and the
standard library as a robustness corpus."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import libcst as cst
import pytest

from migrator.codemod import pieces
from migrator.codemod.engine import PatchError, patch_source
from migrator.codemod.rule import ModuleContext, RuleOptions, Status
from migrator.codemod.rules import RULES

from .helpers import after, code, crlf, run, tabs

BACKTEST = code('''
    """Backtest."""
    import sys


    def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
        predictions = []
        bands = []
        max_horizon = 7
        for pred_idx in reversed(range(1, max_horizon + 1)):
            predictions.append(pred_idx)
        return predictions


    def backtest_forecasts(symbol, num_simulations=50):
        close_at_eod = None
        if symbol:
            close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]
        return num_simulations
''')


def test_crlf_tabs_no_final_newline_all_rules() -> None:
    source = crlf(tabs(BACKTEST)).rstrip()
    patched = after(source)
    assert patched != source
    assert patched.count(b"\n") == patched.count(b"\r\n")  # no bare LF anywhere
    assert not patched.endswith(b"\n")
    for line in patched.split(b"\r\n"):
        assert not line.startswith(b" "), line  # inserted code is tab-indented too
    assert b"\r\n\t\t# PERF: close_at_eod=None" in patched
    compile(patched, "x.py", "exec", dont_inherit=True)
    assert after(patched) == patched
    # Everything outside the changed statements is kept: drop the added lines, get the input.
    assert _without_insertions(patched, source) == source


def _without_insertions(patched: bytes, source: bytes) -> bytes:
    import difflib

    a, b = source.splitlines(keepends=True), patched.splitlines(keepends=True)
    kept = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            kept.extend(b[j1:j2])
        elif tag in ("replace", "delete"):
            kept.extend(a[i1:i2])  # only the rewritten statements differ
    return b"".join(kept)


def test_declared_encoding_and_bom_are_kept() -> None:
    latin = b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BACKTEST
    patched = after(latin)
    assert patched.startswith(b"# -*- coding: latin-1 -*-\n# caf\xe9\n")
    assert b'_marketsim_env_int("MARKETSIM_MAX_HORIZON", 7)' in patched
    compile(patched, "x.py", "exec", dont_inherit=True)
    bom = b"\xef\xbb\xbf" + BACKTEST
    patched = after(bom)
    assert patched.startswith(b"\xef\xbb\xbf\"\"\"Backtest.\"\"\"\nimport sys\n\n\ndef _marketsim_env_int(")


@pytest.mark.parametrize("body", [
    pytest.param("x = " + " + ".join(["1"] * 1000), id="1000-terms-no-trigger"),
    pytest.param("def f():\n    max_horizon = 7\n    return " + " + ".join(["a"] * 1000),
                 id="1000-terms-with-a-trigger"),
    pytest.param("close_at_eod_candidates = " + " + ".join(["[1]"] * 3000), id="3000-terms"),
    pytest.param("def f(num_simulations):\n    return range(num_simulations)\nx = "
                 + "(" * 190 + "1" + ")" * 190, id="190-parentheses"),
])
def test_deep_expressions_are_one_clean_error(body: str) -> None:
    """Failed before for the 3,000-term case: CPython's parser raised RecursionError
    ("during ast construction"), a traceback. Now: a PatchError naming the file, or a
    patch (libcst copes with what Python's parser takes)."""
    try:
        result = patch_source(body.encode() + b"\n", "deep.py", RULES, RuleOptions())
    except PatchError as exc:
        assert str(exc).startswith("deep.py: nested too deeply for ") and "\n" not in str(exc)
    else:
        assert result.after is None or compile(result.after, "deep.py", "exec") is not None


def test_files_without_triggers_are_not_parsed() -> None:
    result = run(code("import os\nprint(os.name)\n"))
    assert result.parse_s == 0.0 and result.after is None
    assert {step.status for step in result.steps} == {Status.NOT_APPLICABLE}
    assert run(BACKTEST).parse_s > 0.0


@pytest.mark.parametrize(("source", "message"), [
    (b"x = (\n", "bad.py:1: "),
    (b"def f():\n\treturn 1\n        return 2\n", "bad.py:3: "),
    (b"\xff\xfe\x00x", "bad.py: binary file"),
])
def test_bad_input_is_refused(source: bytes, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        patch_source(source, "bad.py", RULES, RuleOptions())
    assert str(caught.value).startswith(message)


# --- the standard library as a corpus ----------------------------------------

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SKIP = {"site-packages", "__pycache__"}


def _stdlib_files() -> list[Path]:
    return sorted(p for p in STDLIB.rglob("*.py") if not SKIP & set(p.relative_to(STDLIB).parts))


def _sample(files: list[Path], size: int) -> list[Path]:
    """Every k-th file (deterministic), plus every file declaring an encoding or with a BOM."""
    step = max(1, len(files) // size)
    chosen = set(files[::step][:size])
    for path in files:
        head = path.read_bytes()[:400]
        if b"coding" in b"".join(head.split(b"\n")[:2]) or head.startswith(b"\xef\xbb\xbf"):
            chosen.add(path)
    return sorted(chosen)


def _check_file(path: Path) -> str:
    """Run every rule on the parsed file, prefilter bypassed; the outcome in a word."""
    data = path.read_bytes()
    try:
        result = patch_source(data, str(path), RULES, RuleOptions())
    except PatchError:
        # Only where CPython itself refuses the file (the test suite's bad-syntax data).
        with pytest.raises((SyntaxError, ValueError)):
            compile(data, str(path), "exec", dont_inherit=True)
        return "refused"
    if result.after is not None:
        compile(result.after, str(path), "exec", dont_inherit=True)
        return "patched"
    # Untouched by the prefilter: the rules on the tree must also leave every byte.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # as the engine does (pydoc_data/topics.py nests deeply)
    try:
        try:
            module = cst.parse_module(data)
        except cst.ParserSyntaxError:
            return "libcst cannot parse"  # CPython compiles it; the engine reports, writes nothing
        printed = module.bytes
        ctx = ModuleContext(source=data, options=RuleOptions())
        for rule in RULES:
            module, status = rule.transform(module, ctx)
            assert status is not Status.APPLIED, (path, rule.name)
        assert module.bytes == printed, path
        if printed != data:
            # libcst prints e.g. `except OSError :` without the space; the engine checks
            # every piece it changes prints back exactly, and refuses otherwise.
            return "libcst does not round-trip"
        # The engine's pieces tile the file and each round-trips through libcst alone.
        text = data.decode(module.encoding)
        parts = pieces.split(text, ctx.tree)
        assert "".join(part.text for part in parts) == text, path
        indent, newline = pieces.file_style(text, ctx.tree)
        for part in parts:
            if pieces.parse(part, indent, newline).code != part.text:
                # libcst drops the newline after a `# ...\\` comment ending a piece; the
                # engine then parses the whole file instead (see the round-trip test).
                assert part.text.rstrip("\r\n").endswith("\\"), (path, part.text[-80:])
    finally:
        sys.setrecursionlimit(limit)
    return "unchanged"


def test_stdlib_sample() -> None:
    files = _stdlib_files()
    if not files:
        pytest.skip(f"no standard library sources under {STDLIB}")
    sample = _sample(files, 150)
    sample.append(STDLIB / "pydoc_data" / "topics.py")  # deepest nesting in the library
    outcomes = [_check_file(path) for path in sample if path.is_file()]
    assert outcomes.count("unchanged") >= 140


@pytest.mark.slow
def test_stdlib_whole() -> None:
    files = _stdlib_files()
    outcomes = {path: _check_file(path) for path in files}
    unparsed = [path.name for path, outcome in outcomes.items() if outcome == "libcst cannot parse"]
    assert len(unparsed) <= 3, unparsed  # e.g. test_grammar.py's `(name): int` annotation
    differs = [path.name for path, outcome in outcomes.items()
               if outcome == "libcst does not round-trip"]
    assert len(differs) <= 5, differs  # e.g. test_posix.py's `except OSError :`
    assert list(outcomes.values()).count("unchanged") > 0.95 * len(files)


# --- pieces: parsing only what the rules can touch gives the whole-file result ----

def _table_sources() -> list[bytes]:
    from .rules import (test_rule_eod_comment, test_rule_exact_toto, test_rule_fast_optimize,
                        test_rule_fast_simulate, test_rule_imports, test_rule_max_horizon)

    sources = [test_rule_exact_toto.PIPELINE, test_rule_max_horizon.WINDOWED,
               test_rule_imports.OWN_HELPER]
    for table in (test_rule_eod_comment, test_rule_fast_optimize, test_rule_fast_simulate,
                  test_rule_imports, test_rule_max_horizon):
        for case in [*table.CASES, *getattr(table, "UNCHANGED", [])]:
            sources.append(case.values[0])
    return sources


def _example_sources() -> list[bytes]:
    examples = Path(__file__).resolve().parents[2] / "examples"
    backtest = (examples / "backtest_test3_inline.py").read_bytes()
    optimizer = (examples / "src" / "optimization_utils.py").read_bytes()
    parallel = (examples / "backtest_test3_inline_parallel.py").read_bytes()
    return [backtest, optimizer, parallel, crlf(tabs(backtest)), crlf(tabs(optimizer)).rstrip(),
            b"# header\n\n" + backtest.split(b'"""\n', 1)[1],  # no docstring
            backtest.replace(b"import os\n", b""), BACKTEST, crlf(tabs(BACKTEST)).rstrip()]


@pytest.mark.parametrize("source", [*_table_sources(), *_example_sources()])
def test_pieces_match_whole_file(source: bytes) -> None:
    for rules in (RULES, RULES[:1] + RULES[-1:]):
        by_pieces = patch_source(source, "x.py", rules, RuleOptions())
        by_whole = patch_source(source, "x.py", rules, RuleOptions(), whole=True)
        assert by_pieces.after == by_whole.after
        assert [s.status for s in by_pieces.steps] == [s.status for s in by_whole.steps]


def test_libcst_round_trip_failure_is_refused() -> None:
    # libcst prints `x  # ends with a backslash\` at the end of a file without its newline.
    source = BACKTEST.rstrip(b"\n") + b"  # trailing \\\n"
    with pytest.raises(PatchError, match=r"x\.py:\d+: libcst does not reproduce"):
        patch_source(source, "x.py", RULES, RuleOptions())
    # Inside the file it prints fine; at the end of a piece it would not: whole-file retry.
    inside = BACKTEST.replace(b"    return predictions\n", b"    return predictions  # trailing \\\n")
    assert inside != BACKTEST
    patched = patch_source(inside, "x.py", RULES, RuleOptions()).after
    assert patched is not None and b"return predictions  # trailing \\\n\n\ndef" in patched
    untouched = code("import os\nX = 1  # trailing \\\n")
    assert patch_source(untouched, "x.py", RULES, RuleOptions()).after is None


def test_piece_libcst_cannot_print_back_is_refused_not_rewritten() -> None:
    # libcst prints `except OSError :` as `except OSError:`; in the changed function
    # that would alter bytes the rules never touched.
    source = BACKTEST.replace(b"    for pred_idx in", b"    try:\n        pass\n    except OSError :\n"
                                                      b"        pass\n    for pred_idx in")
    with pytest.raises(PatchError, match="libcst does not reproduce this part"):
        patch_source(source, "x.py", RULES, RuleOptions())
