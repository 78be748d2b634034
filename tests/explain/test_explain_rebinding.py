"""Never a guess: a name the module rebinds after its assignment, in a form the evaluator does not
follow, is unknown with the form and line; explain either equals what Python binds or says unknown.

Each module assigns the Toto floor, TOTO_MIN_NUM_SAMPLES = int(os.getenv(..., "3072")) (written X
below), and then rebinds it in one form. Python's own value is read by importing every module in one
subprocess; explain's is the floor `migrate explain` and `migrate toto` report (toto_floors).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.backtest import Unknown, read_backtest_facts, toto_floors

NAME = "TOTO_MIN_NUM_SAMPLES"

HEAD = 'import os\nimport sys\nX = int(os.getenv("TOTO_NUM_SAMPLES", "3072"))\n'
FORMS = {  # name -> statements after HEAD (their first line is line 4)
    "globals-subscript": 'globals()["X"] = 5\n',
    "globals-update": "globals().update(X=5)\n",
    "locals-subscript": 'locals()["X"] = 5\n',
    "vars-subscript": 'vars()["X"] = 5\n',
    "exec": 'exec("X = 5")\n',
    "eval-walrus": 'eval("(X := 5)")\n',
    "global-called": "def f():\n    global X\n    X = 5\nf()\n",
    "global-not-called": "def f():\n    global X\n    X = 5\n",
    "star-import": "from helper import *\n",
    "tuple-unpacking": "X, Y = 5, 6\n",
    "star-unpacking": "Y, *X = 4, 5\n",
    "for-target": "for X in (4, 5):\n    pass\n",
    "with-as": "import contextlib\nwith contextlib.nullcontext(5) as X:\n    pass\n",
    "walrus": "if (X := 5):\n    pass\n",
    "walrus-in-comprehension": "Y = [(X := i) for i in (4, 5)]\n",
    "import-as": "import helper as X\n",
    "from-import-as": "from helper import Z as X\n",
    "del": "del X\n",
    "setattr-module": 'setattr(sys.modules[__name__], "X", 5)\n',
    "module-attribute": "sys.modules[__name__].X = 5\n",
    "class-body-global": "class C:\n    global X\n    X = 5\n",
    "function-mutates": "D = {'k': 1}\ndef g():\n    D['k'] = 5\ng()\nX = D['k']\n",
    "function-mutates-an-alias": "D = {'k': 1}\ndef g():\n    d = D\n    d.update(k=5)\ng()\nX = D['k']\n",
    # Forms it follows: the value must be Python's.
    "augmented": "X += 2\n",
    "if-env": "if os.getenv('TOTO_NUM_SAMPLES') is None:\n    X = 5\n",
    "from-import": "from helper import X\n",
    "vars-of-another-object": "import argparse\nY = vars(argparse.Namespace(a=1))\n",
}
FOLLOWED = ("augmented", "if-env", "from-import", "vars-of-another-object")
_PRINT = """
import json, sys
sys.path.insert(0, sys.argv[1])
values = {}
for name in sys.argv[3:]:
    try:
        module = __import__(name)
        value = getattr(module, sys.argv[2], "<unbound>")
    except Exception as exc:
        value = f"<raises {type(exc).__name__}>"
    values[name] = value if isinstance(value, (int, str, list)) else repr(value)
print(json.dumps(values))
"""


@pytest.fixture(scope="module")
def modules(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("forms")
    (folder / "helper.py").write_text("X = 5\nZ = 5\n".replace("X", NAME))
    names = {}
    for index, (form, body) in enumerate(FORMS.items()):
        names[form] = f"form_{index}"
        (folder / f"form_{index}.py").write_text((HEAD + body).replace("X", NAME))
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _PRINT, str(folder), NAME, *names.values()], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    python = json.loads(done.stdout)
    return folder, {form: python[module] for form, module in names.items()}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_explain_equals_python_or_says_unknown_with_the_form_and_line(modules, form):
    folder, python = modules
    index = list(FORMS).index(form)
    facts = read_backtest_facts(folder / f"form_{index}.py")
    value = toto_floors(facts, {})[0].value
    if isinstance(value, Unknown):
        assert form not in FOLLOWED, value  # forms it follows are not unknown
        assert "line 4" in value.reason or "(line 4)" in value.reason or "line 5" in value.reason \
            or "(line 6)" in value.reason or "line 7" in value.reason, value.reason
    else:
        assert value == python[form], (form, value, python[form])


def test_the_forms_python_rebinds_are_not_3072(modules):
    """The check above is not vacuous: Python really rebinds X in these forms."""
    _, python = modules
    assert python["exec"] == 5 and python["tuple-unpacking"] == 5 and python["for-target"] == 5
    assert python["del"] == "<unbound>" and python["global-not-called"] == 3072
