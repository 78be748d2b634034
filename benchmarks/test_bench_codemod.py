"""Whole-process timings of `migrate apply` (pytest-benchmark).

Target on the 2-core reference box: `migrate apply` on a 4,400-line backtest file
<= 1.0 s, the whole process (interpreter start, click and libcst imports, checks,
one libcst parse, the rules, compile of the result, journal and atomic write).
CI asserts no absolute time (the box is shared): it asserts a ratio measured side by
side in one run, the whole `migrate apply` process against a process that only
imports libcst and parses the same file once (what any libcst tool pays at least).
The in-process rows split that into libcst parse and rules + code generation.
The standard library with -j 2 (and -j 1 beside it) is marked slow.

    python -m pytest benchmarks/test_bench_codemod.py
    python -m pytest benchmarks/test_bench_codemod.py -m slow
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from migrator.codemod.engine import patch_source
from migrator.codemod.rule import RuleOptions
from migrator.codemod.rules import RULES

MIGRATE = str(Path(sys.executable).with_name("migrate"))
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET_LINES = 4_400


def big_backtest() -> bytes:
    """The example backtest grown to 4,400 lines: its header once, then its body
    (functions, classes, the statements the rules rewrite) repeated."""
    source = (EXAMPLES / "backtest_test3_inline.py").read_text()
    start = source.index("logger = logging.getLogger")
    header, body = source[:start], source[start:]
    parts, lines = [header], header.count("\n")
    copy = 0
    while lines < TARGET_LINES:
        # Rename the top-level definitions per copy so the file reads like one module.
        renamed = re.sub(r"^(def|class) (\w+)", rf"\1 \2_{copy}", body, flags=re.M) if copy else body
        parts.append(renamed)
        lines += renamed.count("\n")
        copy += 1
    lines_ = "".join(parts).splitlines(keepends=True)
    # Cut at the last top-level statement boundary within the target, pad with comments.
    cut = max(i for i in range(1, TARGET_LINES) if lines_[i - 1] == "\n" and lines_[i][:1].strip())
    kept = lines_[:cut]
    kept += [f"# padding line {i}\n" for i in range(TARGET_LINES - len(kept))]
    return "".join(kept).encode()


@pytest.fixture(scope="module")
def backtest_source() -> bytes:
    data = big_backtest()
    compile(data, "big.py", "exec", dont_inherit=True)
    assert data.count(b"\n") == TARGET_LINES
    return data


def _project(tmp_path: Path, data: bytes) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "backtest_test3_inline.py").write_bytes(data)
    shutil.copy(EXAMPLES / "src" / "optimization_utils.py", root / "src")
    return root


PARSE_ONLY = "import sys, click, libcst; libcst.parse_module(open(sys.argv[1], 'rb').read())"


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def test_apply_process_4400_lines(benchmark, backtest_source, tmp_path):
    root = _project(tmp_path, backtest_source)
    target = root / "backtest_test3_inline.py"
    parse_only = [sys.executable, "-c", PARSE_ONLY, str(tmp_path / "parse_me.py")]
    (tmp_path / "parse_me.py").write_bytes(backtest_source)
    baseline: list[float] = []

    def fresh():
        target.write_bytes(backtest_source)
        shutil.rmtree(root / ".migrate", ignore_errors=True)
        shutil.copy(EXAMPLES / "src" / "optimization_utils.py", root / "src")
        baseline.append(_seconds(parse_only))  # interleaved (untimed setup): same load on both sides

    def apply():
        subprocess.run([MIGRATE, "apply", "-q", "--root", str(root)], check=True)

    benchmark.pedantic(apply, setup=fresh, rounds=7, iterations=1, warmup_rounds=1)
    assert target.read_bytes() != backtest_source
    assert subprocess.run([MIGRATE, "apply", "--check", "-q", "--root", str(root)]).returncode == 0
    # The whole apply (checks, rules, compile, journal, atomic write) against a bare
    # import-and-parse of the same file, best of 7 on both sides: measured 0.92x on a quiet
    # box (the engine parses only the pieces the rules touch) and 1.58x with six other jobs
    # on the 2 cores (fsyncs and compile suffer most). 3x still catches a regression that
    # parses the whole file several times.
    if benchmark.disabled:  # --benchmark-disable: the behaviour above is all there is to check
        return
    ratio = min(benchmark.stats.stats.data) / min(baseline)
    benchmark.extra_info["apply_over_parse_only"] = round(ratio, 3)
    assert ratio <= 3.0


def test_check_process_4400_lines_already_applied(benchmark, backtest_source, tmp_path):
    root = _project(tmp_path, backtest_source)
    subprocess.run([MIGRATE, "apply", "-q", "--root", str(root)], check=True)

    def check():
        return subprocess.run([MIGRATE, "apply", "--check", "-q", "--root", str(root)]).returncode

    assert benchmark.pedantic(check, rounds=5, iterations=1, warmup_rounds=1) == 0


def test_patch_in_process_4400_lines_against_a_whole_file_parse(benchmark, backtest_source):
    """Checks + parse + all rules + codegen + compile, in process, against a whole-file libcst
    parse of the same bytes timed between its rounds (same load on both sides).

    The engine parses only the top-level statements a rule's trigger text appears in (about
    half of this file, whose body repeats the statements the rules rewrite), so the whole patch
    costs less than one whole-file parse: measured 0.81x with five jobs on the 2 cores (parse
    0.5x, rules and codegen 0.3x). Parsing the whole file would cost about 1.3x: 1.1x catches it.
    extra_info splits the patch into parse and rules + codegen."""
    import libcst as cst

    whole_parse: list[float] = []

    def parse_whole_file():
        start = time.perf_counter()
        module = cst.parse_module(backtest_source)
        whole_parse.append(time.perf_counter() - start)
        assert module.bytes == backtest_source

    result = benchmark.pedantic(patch_source, args=(backtest_source, "big.py", RULES, RuleOptions()),
                                setup=parse_whole_file, rounds=5, iterations=1, warmup_rounds=1)
    assert result.error is None and result.after not in (None, backtest_source)
    compile(result.after, "big.py", "exec", dont_inherit=True)
    # Idempotent: the patched bytes give nothing more to do.
    assert patch_source(result.after, "big.py", RULES, RuleOptions()).after is None
    benchmark.extra_info["parse_s"] = round(result.parse_s, 4)
    benchmark.extra_info["rules_and_codegen_s"] = round(result.transform_s, 4)
    if benchmark.disabled:  # --benchmark-disable: no recorded times to compare
        return
    ratio = min(benchmark.stats.stats.data) / min(whole_parse)
    benchmark.extra_info["patch_over_whole_parse"] = round(ratio, 3)
    assert ratio <= 1.1


STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [2, 1])
def test_stdlib_check(benchmark, jobs):
    """The whole standard library (site-packages skipped) through `migrate apply --check`.

    Exit 2 is expected: the library's own test data holds files CPython refuses
    (bad encodings, bad syntax); everything else must be reported as unchanged.
    """
    def check():
        return subprocess.run([MIGRATE, "apply", "--check", "-q", "-j", str(jobs), "--root",
                               str(STDLIB), str(STDLIB)], capture_output=True, text=True)

    done = benchmark.pedantic(check, rounds=1, iterations=1)
    errors = [line for line in done.stderr.splitlines() if line.startswith("migrate: error: ")]
    assert done.returncode == 2 and all("test" in line or "nothing written" in line
                                        or "cannot be patched" in line for line in errors)
    assert len(errors) < 40
