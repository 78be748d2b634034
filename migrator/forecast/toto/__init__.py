"""Toto-style forecasting: the model, its engines, the toto-ts backend."""
