"""exact-kronos: MARKETSIM_EXACT_KRONOS swaps Kronos's KronosPredictor for migrate's exact one.

Upstream's kronos_wrapper.py imports `from external.kronos.model import Kronos,
KronosPredictor, KronosTokenizer` inside a method; Kronos's own examples import
`from model import ...`. Where the clone lives is the user's choice, so any
absolute `from M import KronosPredictor` counts (a relative import is Kronos's
package re-exporting its own class: left alone). After it, the name becomes
`migrator.runtime.exact_kronos.exact_predictor_class(KronosPredictor)` when the
variable is 1/true/yes/on (each call draws its own paths, as Kronos does), or
`exact_predictor_class(KronosPredictor, shared=True)` when it is `shared` (the
documented opt-in that reuses one call's paths for the other calls on the same
input). Any other value: one warning, Kronos's class stays. The mechanism is
rebind.py's.
"""

from __future__ import annotations

from migrator.codemod.env_helpers import TRUTHY
from migrator.codemod.rules.rebind import Rebinding, RebindRule

KRONOS_CLASS = "KronosPredictor"
SHARED = "shared"

SPEC = Rebinding(
    env_var="MARKETSIM_EXACT_KRONOS",
    class_name=KRONOS_CLASS,
    accepts=lambda module: bool(module) and module.split(".")[0] != "migrator",
    runtime_module="migrator.runtime.exact_kronos",
    factory="exact_predictor_class",
    replacement=f"migrate's exact {KRONOS_CLASS}",
    original=f"Kronos's {KRONOS_CLASS}",
    unavailable="migrate's exact predictor",
    effect="the same tokens for a seed",
    shared_value=SHARED,
)


class ExactKronosRule(RebindRule):
    name = "exact-kronos"
    summary = (f"after `from ... import {KRONOS_CLASS}` (Kronos's model, wherever it is "
               f"imported), the name becomes migrate's exact predictor when the flag is "
               f"{'/'.join(TRUTHY)} (`{SHARED}`: paths shared across calls on one input, opt-in); "
               f"migrate not importable: the original stays, one warning")
    spec = SPEC


RULE = ExactKronosRule()
