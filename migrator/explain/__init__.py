"""`migrate explain`: what the backtest will really run with, read from the user's own code.

Public surface: `read_backtest_facts`, `toto_floors`, `toto_bounds`,
`effective_toto`, `toto_advice`, `clamp_toto` (facts.py), `explain` (resolve.py), and
`Unknown`, the value for anything that cannot be determined.
"""

from migrator.explain.evaluate import Unknown
from migrator.explain.facts import (
    BacktestFacts, Resolved, Setting, TotoAdvice, TotoRuntime, clamp_toto, effective_toto,
    read_backtest_facts, toto_advice, toto_bounds, toto_floors,
)

__all__ = ["BacktestFacts", "Resolved", "Setting", "TotoAdvice", "TotoRuntime", "Unknown", "clamp_toto",
           "effective_toto", "read_backtest_facts", "toto_advice", "toto_bounds", "toto_floors"]
