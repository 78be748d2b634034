"""migrate: safe, reversible speed-up migrations for marketsim backtests."""

__version__ = "0.1.0"
