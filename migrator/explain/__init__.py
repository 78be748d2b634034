"""`migrate explain`: what the backtest will really run with, read from the user's own code.

Public surface: `explain` (resolve.py), `render_text` (report.py), and `Unknown`, the value for
anything that cannot be determined. Reading the module itself is migrator.backtest's.
"""

from migrator.backtest import Unknown
from migrator.explain.report import render_text
from migrator.explain.resolve import Explanation, explain

__all__ = ["Explanation", "Unknown", "explain", "render_text"]
