"""Parallel variant of backtest_test3_inline.py (example, in the shape of upstream's).

Upstream keeps a copy of the backtest beside it that runs the simulations in a
pool: the same `_compute_toto_forecast` with its local `max_horizon = 7`, the
same fixed `validation = price[-7:]` window compared with the walk-forward
forecasts, `backtest_forecasts(symbol, num_simulations=50)` without a
MARKETSIM_FAST_SIMULATE check. Here the parts it does not change (data, params
resolution, models, strategies) come from the serial module, so the two print
the same results:

    python backtest_test3_inline_parallel.py UNIUSD [NUM_SIMULATIONS] [--json]
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import numpy as np

import backtest_test3_inline as serial
from backtest_test3_inline import (
    PRICE_KEYS, _compute_kronos_forecast, _fee, _log_strategy_summary, aggregate_samples,
    load_price_frame, price_table, resolve_kronos_params, resolve_toto_params,
)

MAX_WORKERS = 2


def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
    """Walk-forward 1-step forecasts for one price key, oldest origin first; the last is traded."""
    predictions = []
    bands = []
    max_horizon = 7
    for pred_idx in reversed(range(1, max_horizon + 1)):
        context = price_frame["y"][:-pred_idx]
        samples = serial.TOTO_MODEL.predict(context, prediction_length=1,
                                            num_samples=toto_params["num_samples"],
                                            samples_per_batch=toto_params["samples_per_batch"])[:, 0]
        predictions.append(aggregate_samples(samples, toto_params["aggregate"]))
        low, high = np.quantile(samples, [0.4, 0.6])
        bands.append((float(low), float(high)))
    predicted_change = predictions[-1]
    return {
        "predictions": predictions,
        "bands": bands,
        "predicted_price": current_last_price * (1.0 + predicted_change),
        "predicted_change": predicted_change,
    }


def run_single_simulation(symbol, frame, sim_number, toto_params, kronos_params):
    """One simulation: the history minus its last sim_number + 1 rows, every key."""
    history = frame[:len(frame) - (sim_number + 1)]
    last_close = float(history.close[-1])
    row: Dict[str, Any] = {"simulation": sim_number,
                           "actual_change": float(frame.close[len(history)]) / last_close - 1.0}
    for key in PRICE_KEYS:
        price = price_table(history.column(key))
        validation = price[-7:]
        toto = _compute_toto_forecast(symbol, key, price, last_close, toto_params)
        prediction_np = np.asarray(toto["predictions"][:-1])
        errors = validation["y"][:-1] - prediction_np
        positions = np.sign(prediction_np)
        returns = positions * validation["y"][:-1] - np.abs(positions) * _fee(symbol)
        name = key.lower()
        row[f"{name}_mae"] = float(np.mean(np.abs(errors)))
        row[f"{name}_bias"] = float(np.mean(errors))
        row[f"{name}_simple_return"] = float(returns.sum())
        row[f"{name}_predicted_change"] = toto["predicted_change"]
        row[f"{name}_band"] = list(toto["bands"][-1])
        if key == "Close":
            row["kronos_close"] = _compute_kronos_forecast(symbol, key, price, kronos_params)
    return row


def backtest_forecasts(symbol, num_simulations=50):
    """Run num_simulations simulations for symbol in a thread pool; rows in simulation order."""
    frame = load_price_frame(symbol)
    toto_params = resolve_toto_params(symbol)
    kronos_params = resolve_kronos_params(symbol)
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        results = list(pool.map(
            lambda sim_number: run_single_simulation(symbol, frame, sim_number, toto_params,
                                                     kronos_params),
            range(num_simulations)))
    results_df = results
    _log_strategy_summary(results_df, symbol, num_simulations)
    return results_df


if __name__ == "__main__":
    sys.exit(serial.main(backtest=backtest_forecasts))
