"""Kronos-style forecasting: the model and its engines."""
