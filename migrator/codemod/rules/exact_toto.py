"""exact-toto: MARKETSIM_EXACT_TOTO swaps toto-ts's TotoForecaster for migrate's exact one.

Where a module imports `TotoForecaster` from `toto.inference.forecaster` (or
`toto.toto.inference.forecaster`, upstream's fallback), the name becomes
`migrator.runtime.exact_toto.exact_forecaster_class(TotoForecaster)` when the
variable is 1/true/yes/on: a subclass with the same constructor and `forecast`
signature. The mechanism (where the block goes, what it does when unset, when
migrate is missing, next to an `if TYPE_CHECKING:` alias) is rebind.py's.
"""

from __future__ import annotations

from migrator.backtest import TOTO_CLASS, TOTO_MODULES
from migrator.codemod.env_helpers import TRUTHY
from migrator.codemod.rules.rebind import Rebinding, RebindRule

SPEC = Rebinding(
    env_var="MARKETSIM_EXACT_TOTO",
    class_name=TOTO_CLASS,
    accepts=TOTO_MODULES.__contains__,
    runtime_module="migrator.runtime.exact_toto",
    factory="exact_forecaster_class",
    replacement=f"migrate's exact {TOTO_CLASS}",
    original=f"toto-ts's {TOTO_CLASS}",
    unavailable="migrate's exact forecaster",
    effect="same forecast distribution",
)


class ExactTotoRule(RebindRule):
    name = "exact-toto"
    summary = (f"after `from toto.inference.forecaster import {TOTO_CLASS}` (or "
               f"toto.toto...), the name becomes migrate's exact forecaster when the flag is "
               f"{'/'.join(TRUTHY)}; migrate not importable: the original stays, one warning")
    spec = SPEC


RULE = ExactTotoRule()
