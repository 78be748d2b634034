"""eod-comment: a `# PERF:` line above each close_at_eod_candidates assignment, once."""

from __future__ import annotations

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "eod-comment"
NOTE = "# PERF: close_at_eod=None evaluates both [False, True], twice the work"
LINE = "close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]"

BASIC_BEFORE = code(f'''
    def evaluate_maxdiff(close_at_eod=None):
        best = None
        {LINE}
        for candidate in close_at_eod_candidates:
            best = candidate


    def evaluate_always_on(close_at_eod=None, allow_short=True):
        if allow_short:
            # both modes
            {LINE}
''')
BASIC_AFTER = code(f'''
    def evaluate_maxdiff(close_at_eod=None):
        best = None
        {NOTE}
        {LINE}
        for candidate in close_at_eod_candidates:
            best = candidate


    def evaluate_always_on(close_at_eod=None, allow_short=True):
        if allow_short:
            # both modes
            {NOTE}
            {LINE}
''')

CASES = [
    pytest.param(BASIC_BEFORE, BASIC_AFTER, id="4-and-8-spaces"),
    pytest.param(tabs(BASIC_BEFORE), tabs(BASIC_AFTER), id="tabs"),
    pytest.param(crlf(BASIC_BEFORE).rstrip(), crlf(BASIC_AFTER).rstrip(), id="crlf-no-final-newline"),
    pytest.param(code(f'''
        class Strategy:
            def run(self, close_at_eod=None):
                {LINE}  # trailing
    '''), code(f'''
        class Strategy:
            def run(self, close_at_eod=None):
                {NOTE}
                {LINE}  # trailing
    '''), id="method-trailing-comment"),
]


@pytest.mark.parametrize(("before", "expected"), CASES)
def test_rewrites(before: bytes, expected: bytes) -> None:
    assert after(before, RULE) == expected
    assert after(expected, RULE) == expected


def test_existing_perf_comment_counts_as_applied() -> None:
    source = code(f'''
        def f(close_at_eod=None):
            # PERF: evaluate one mode to halve the work
            {LINE}
    ''')
    assert after(source, RULE) == source
    assert status(run(source, RULE), RULE) == "already applied"
    assert status(run(code("close_at_eod = None\n"), RULE), RULE) == "not applicable"


@pytest.mark.parametrize("source", [
    pytest.param(code(f'''
        close_at_eod = None
        {LINE}
    '''), id="module-level-second-statement"),
    pytest.param(code(f'''
        {LINE}
        print(close_at_eod_candidates)
    '''), id="module-level-first-statement"),
    pytest.param(code(f'''
        # candidates
        {LINE}
    '''), id="module-level-after-a-comment"),
    pytest.param(code(f'''
        """Module."""
        import os

        {LINE}
    '''), id="module-level-after-imports"),
])
def test_module_level_once(source: bytes) -> None:
    """Failed before: libcst keeps the comments above a module's first statement in the
    module header, so each run added one more `# PERF:` line there."""
    once = after(source, RULE)
    assert once.count(NOTE.encode()) == 1
    assert after(once, RULE) == once
    assert status(run(once, RULE), RULE) == "already applied"
