"""imports: `import os` and the helper definitions, placed once, only where needed.

The sources below are code a rule already rewrote (they call the flag helper)
but that lacks its definition; the imports rule runs alone on them.
"""

from __future__ import annotations

import pytest

from ..helpers import after, code, crlf, run, status, tabs

RULE = "imports"
FLAG_HELPER = '''\


def _marketsim_env_flag(name):
    """Whether an environment flag is on: 1/true/yes/on, any case (added by `migrate apply`)."""
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

            import os
            import sys
            from os import getenv
        ''') + FLAG_HELPER.encode() + USE.encode(),
        id="docstring-future-from-os-import-only"),
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
        id="os-inside-try-except"),
    pytest.param(
        b"import os.path\n" + USE.encode(),
        b"import os.path\n" + FLAG_HELPER.encode() + USE.encode(),
        id="import-os-path-binds-os"),
    pytest.param(
        code('''
            #!/usr/bin/env python
            # -*- coding: utf-8 -*-
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import os
        ''') + USE.encode(),
        code('''
            #!/usr/bin/env python
            # -*- coding: utf-8 -*-
            import os
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import os
        ''') + FLAG_HELPER.encode() + USE.encode(),
        id="type-checking-import-does-not-count"),
    pytest.param(
        USE.lstrip("\n").encode(),
        b"import os\n" + FLAG_HELPER.encode() + USE.encode(),
        id="no-imports-at-all"),
    pytest.param(
        crlf(tabs(b"import sys\n" + USE.encode())).rstrip(),
        crlf(tabs(b"import os\nimport sys\n" + FLAG_HELPER.encode() + USE.encode())).rstrip(),
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
    done = b"import os\n" + FLAG_HELPER.encode() + USE.encode()
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
    assert patched.count(b"import os") == 1
    assert patched.index(b"def _marketsim_env_flag(") > patched.index(b"from scipy.optimize")
