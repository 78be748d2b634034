"""Runtime pieces that run inside the user's own backtest process.

Nothing here imports click, libcst or the rest of migrate: only torch, and toto-ts when the
user's code hands us its classes. See exact_toto.py.
"""
