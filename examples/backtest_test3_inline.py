"""Inline backtest of the forecast-driven strategies for one symbol (example).

An example in the shape of marketsim's backtest_test3_inline.py at the speed-up
guide's commit (see shared/UPSTREAM.md sections 1, 3, 4), written for
`migrate apply` and runnable end to end with numpy and scipy only:

- `_compute_toto_forecast(symbol, target_key, price_frame, current_last_price,
  toto_params)` holds a local `max_horizon = 7` and walks forward:
  `for pred_idx in reversed(range(1, max_horizon + 1))`, one 1-step model call
  on `price_frame["y"][:-pred_idx]` per origin.
- `run_single_simulation` compares those walk-forward forecasts with a fixed
  window, `validation = price[-7:]` then `validation["y"][:-1] - prediction_np`,
  as upstream does: with max_horizon 1, 3 or 6 it crashes (shapes (6,) and
  (0,)), with 2 the numbers change; only 7 keeps the results.
- `backtest_forecasts(symbol, num_simulations=50)` loops
  `for sim_number in range(num_simulations)` calling `run_single_simulation(...)`,
  without the MARKETSIM_FAST_SIMULATE check of newer upstream versions;
  `_log_strategy_summary(results_df, symbol, num_simulations)` only logs.
- `close_at_eod_candidates = ...` at 8 and 4 spaces; the MaxDiff offsets are
  fitted with scipy's `direct` in src/optimization_utils.py.

Public shape (kept stable: `migrate explain` tests read and call it):
module constants `HYPERPARAM_ROOT`, `FAST_TESTING`, `DEFAULT_TOTO_NUM_SAMPLES`
(env TOTO_NUM_SAMPLES, 3072), `DEFAULT_TOTO_SAMPLES_PER_BATCH` (env
TOTO_SAMPLES_PER_BATCH, 384), `DEFAULT_TOTO_AGG_SPEC` (env TOTO_AGGREGATION_SPEC),
`TOTO_MIN_NUM_SAMPLES` / `TOTO_MAX_NUM_SAMPLES` / `TOTO_MIN_SAMPLES_PER_BATCH` /
`TOTO_MAX_SAMPLES_PER_BATCH` (read with `_read_int_env("MARKETSIM_TOTO_MIN_NUM_SAMPLES",
128)` and so on), `FAST_TOTO_PARAMS`, `DEFAULT_KRONOS_PARAMS`; functions
`load_best_config(model, symbol)` (reads `<HYPERPARAM_ROOT or "hyperparams">/<model>/<symbol>.json`,
None when missing), `resolve_toto_params(symbol)` (FAST_TOTO_PARAMS under
FAST_TESTING, else the toto config or the defaults, then `_clamp_toto_params`),
`resolve_kronos_params(symbol)` (DEFAULT_KRONOS_PARAMS updated from the kronos
config, then MARKETSIM_KRONOS_SAMPLE_COUNT), `backtest_forecasts(symbol,
num_simulations=50)`, `main(argv)`. It imports `src.optimization_utils`, so import
it with this folder on sys.path (or run it from here).

The models are injectable: `TOTO_MODEL` (`.predict(context, prediction_length,
num_samples, samples_per_batch)` -> samples shaped (num_samples, prediction_length))
and `KRONOS_MODEL` (`.predict_series(context, pred_len, params)` -> the mean path).
The defaults are small seeded numpy fakes, deterministic per context, so one
symbol's 50 simulations (1,400 Toto calls) run in well under a second.

    python backtest_test3_inline.py UNIUSD [NUM_SIMULATIONS] [--json]

`--json` prints one JSON document of every simulation's numbers and the
strategies' results (logs go to stderr).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from src.optimization_utils import optimize_always_on_multipliers, optimize_entry_exit_multipliers

logger = logging.getLogger("backtest_test3_inline")

TRADING_FEE = 0.0005
CRYPTO_TRADING_FEE = 0.0015
VALIDATION_DAYS = 30
PRICE_KEYS = ("Close", "Low", "High", "Open")
TRUTHY = {"1", "true", "yes", "on"}


def _read_int_env(name: str, default: int) -> int:
    raw = os.getenv(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        logger.warning("Ignoring %s=%r (not an integer)", name, raw)
        return default


HYPERPARAM_ROOT = Path(os.getenv("HYPERPARAM_ROOT", "hyperparams"))
FAST_TESTING = os.getenv("FAST_TESTING", "0").strip().lower() in TRUTHY

DEFAULT_TOTO_NUM_SAMPLES = int(os.getenv("TOTO_NUM_SAMPLES", "3072"))
DEFAULT_TOTO_SAMPLES_PER_BATCH = int(os.getenv("TOTO_SAMPLES_PER_BATCH", "384"))
DEFAULT_TOTO_AGG_SPEC = os.getenv("TOTO_AGGREGATION_SPEC", "trimmed_mean_10")
TOTO_MIN_NUM_SAMPLES = _read_int_env("MARKETSIM_TOTO_MIN_NUM_SAMPLES", 128)
TOTO_MAX_NUM_SAMPLES = _read_int_env("MARKETSIM_TOTO_MAX_NUM_SAMPLES", 4096)
TOTO_MIN_SAMPLES_PER_BATCH = _read_int_env("MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH", 32)
TOTO_MAX_SAMPLES_PER_BATCH = _read_int_env("MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH", 512)
FAST_TOTO_PARAMS = {
    "num_samples": int(os.getenv("FAST_TOTO_NUM_SAMPLES", "2048")),
    "samples_per_batch": int(os.getenv("FAST_TOTO_SAMPLES_PER_BATCH", "256")),
    "aggregate": os.getenv("FAST_TOTO_AGG_SPEC", "quantile_0.35"),
}
DEFAULT_KRONOS_PARAMS = {"temperature": 0.152, "top_p": 0.83, "top_k": 20, "sample_count": 192,
                         "max_context": 232, "clip": 1.85}

# A module-level name like the local the codemod rewrites: left alone (not a function local).
max_horizon = 7


def is_crypto_symbol(symbol: str) -> bool:
    return symbol.upper().endswith("USD") and len(symbol) <= 7


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

@dataclass
class PriceFrame:
    """Daily OHLC bars, oldest first."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def __len__(self) -> int:
        return len(self.close)

    def __getitem__(self, key: slice) -> "PriceFrame":
        return PriceFrame(self.open[key], self.high[key], self.low[key], self.close[key])

    def column(self, key: str) -> np.ndarray:
        return {"Open": self.open, "High": self.high, "Low": self.low, "Close": self.close}[key]


def synthetic_bars(symbol: str, days: int = 400) -> PriceFrame:
    """GARCH(1,1)-like daily bars, deterministic per symbol."""
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    omega, alpha, beta = 2e-6, 0.08, 0.9
    variance = omega / (1 - alpha - beta)
    returns = np.empty(days)
    for day in range(days):
        shock = rng.standard_normal()
        returns[day] = math.sqrt(variance) * shock
        variance = omega + alpha * returns[day] ** 2 + beta * variance
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]]) * (1 + 0.002 * rng.standard_normal(days))
    spread = np.abs(rng.standard_normal(days)) * 0.01 * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    return PriceFrame(open_, high, low, close)


def load_price_frame(symbol: str) -> PriceFrame:
    csv_path = Path("data") / f"{symbol}.csv"
    if csv_path.is_file():
        rows = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4))
        return PriceFrame(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
    return synthetic_bars(symbol)


def pct_changes(values: np.ndarray) -> np.ndarray:
    previous = np.maximum(np.abs(values[:-1]), 1e-12)
    return (values[1:] - values[:-1]) / previous


def price_table(values: np.ndarray) -> np.ndarray:
    """The key's next-step percent changes as a table with one column, "y"."""
    return np.rec.fromarrays([pct_changes(values)], names="y")


# ---------------------------------------------------------------------------
# Hyperparameters (UPSTREAM.md section 3)
# ---------------------------------------------------------------------------

def load_best_config(model: str, symbol: str) -> Optional[Dict[str, Any]]:
    """`<HYPERPARAM_ROOT>/<model>/<symbol>.json`, or None when there is no such file."""
    path = HYPERPARAM_ROOT / model / f"{symbol}.json"
    if not path.is_file():
        return None
    with path.open() as handle:
        return json.load(handle)


def _clamp_toto_params(symbol: str, params: Dict[str, Any]) -> Dict[str, Any]:
    """Clamp Toto sampling to the TOTO_MIN/MAX bounds; num_samples a multiple of the batch."""
    num_samples = int(min(max(int(params["num_samples"]), TOTO_MIN_NUM_SAMPLES), TOTO_MAX_NUM_SAMPLES))
    per_batch = int(min(max(int(params["samples_per_batch"]), TOTO_MIN_SAMPLES_PER_BATCH),
                        TOTO_MAX_SAMPLES_PER_BATCH))
    per_batch = min(per_batch, num_samples)
    num_samples = max(per_batch, (num_samples // per_batch) * per_batch)
    if num_samples != params["num_samples"] or per_batch != params["samples_per_batch"]:
        logger.debug("Adjusted Toto sampling bounds for %s: num_samples=%d, samples_per_batch=%d",
                     symbol, num_samples, per_batch)
    return {**params, "num_samples": num_samples, "samples_per_batch": per_batch}


def resolve_toto_params(symbol: str) -> Dict[str, Any]:
    if FAST_TESTING:
        params = dict(FAST_TOTO_PARAMS)
    else:
        record = load_best_config("toto", symbol)
        config = (record or {}).get("config", {})
        params = {
            "num_samples": int(config.get("num_samples", DEFAULT_TOTO_NUM_SAMPLES)),
            "samples_per_batch": int(config.get("samples_per_batch", DEFAULT_TOTO_SAMPLES_PER_BATCH)),
            "aggregate": config.get("aggregate", DEFAULT_TOTO_AGG_SPEC),
        }
    return _clamp_toto_params(symbol, params)


def resolve_kronos_params(symbol: str) -> Dict[str, Any]:
    params = dict(DEFAULT_KRONOS_PARAMS)
    record = load_best_config("kronos", symbol)
    if record:
        config = record.get("config", {})
        params.update({key: config[key] for key in DEFAULT_KRONOS_PARAMS if key in config})
    override = os.getenv("MARKETSIM_KRONOS_SAMPLE_COUNT")
    if override:
        try:
            count = int(override)
        except ValueError:
            logger.warning("Ignoring MARKETSIM_KRONOS_SAMPLE_COUNT=%r (not an integer)", override)
        else:
            if count > 0:
                params["sample_count"] = count
    return params


# ---------------------------------------------------------------------------
# Forecast models (injectable; the defaults are seeded numpy fakes)
# ---------------------------------------------------------------------------

def aggregate_samples(samples: np.ndarray, method: str) -> float:
    """Reduce forecast samples to a point forecast: mean, median, trimmed_mean_X, quantile_Q."""
    if method == "median":
        return float(np.median(samples))
    if method.startswith("quantile_"):
        return float(np.quantile(samples, float(method.rsplit("_", 1)[1])))
    if method.startswith("trimmed_mean_"):
        percent = float(method.rsplit("_", 1)[1])
        fraction = percent / 100.0 if percent > 1 else percent
        ordered = np.sort(samples)
        cut = int(len(ordered) * fraction)
        kept = ordered[cut:len(ordered) - cut] if len(ordered) > 2 * cut else ordered
        return float(kept.mean())
    return float(np.mean(samples))


class FakeToto:
    """Toto's call shape with seeded normal draws around the context's recent mean."""

    def predict(self, context: np.ndarray, prediction_length: int, num_samples: int,
                samples_per_batch: int) -> np.ndarray:
        if num_samples % samples_per_batch:
            raise ValueError("num_samples must be a multiple of samples_per_batch (as in Toto)")
        rng = np.random.default_rng(zlib.crc32(np.round(context[-8:], 10).tobytes()) + len(context))
        drift = float(np.mean(context[-20:]))
        scale = float(np.std(context[-60:])) or 0.01
        return drift + scale * rng.standard_normal((num_samples, prediction_length))


class FakeKronos:
    """Kronos' call shape: the mean of sample_count seeded paths of pred_len steps."""

    def predict_series(self, context: np.ndarray, pred_len: int, params: Dict[str, Any]) -> np.ndarray:
        window = context[-int(params["max_context"]):]
        mean, std = float(np.mean(window)), float(np.std(window)) or 1.0
        clipped = np.clip((window - mean) / std, -params["clip"], params["clip"])
        rng = np.random.default_rng(zlib.crc32(clipped[-4:].tobytes()))
        steps = params["temperature"] * rng.standard_normal((int(params["sample_count"]), pred_len))
        paths = clipped[-1] * 0.1 + np.cumsum(steps, axis=1)
        return paths.mean(axis=0) * std + mean


TOTO_MODEL: Any = FakeToto()
KRONOS_MODEL: Any = FakeKronos()


def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
    """Walk-forward 1-step forecasts for one price key, oldest origin first; the last is traded."""
    predictions = []
    bands = []
    max_horizon = 7
    for pred_idx in reversed(range(1, max_horizon + 1)):
        context = price_frame["y"][:-pred_idx]
        samples = TOTO_MODEL.predict(context, prediction_length=1,
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


def _compute_kronos_forecast(symbol, target_key, price_frame, kronos_params):
    path = KRONOS_MODEL.predict_series(price_frame["y"], pred_len=7, params=kronos_params)
    return float(path[0])


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

@dataclass
class StrategyResult:
    name: str
    total_return: float
    sharpe: float
    trades: int
    details: Dict[str, Any] = field(default_factory=dict)


def _sharpe(returns: np.ndarray) -> float:
    if len(returns) < 2 or float(np.std(returns)) == 0.0:
        return 0.0
    return float(np.mean(returns) / np.std(returns) * math.sqrt(252))


def _fee(symbol: str) -> float:
    return CRYPTO_TRADING_FEE if is_crypto_symbol(symbol) else TRADING_FEE


def evaluate_simple_strategy(symbol: str, predicted_changes: np.ndarray,
                             actual_changes: np.ndarray) -> StrategyResult:
    positions = np.sign(predicted_changes)
    returns = positions * actual_changes - np.abs(positions) * _fee(symbol)
    return StrategyResult("simple", float(returns.sum()), _sharpe(returns), int(np.count_nonzero(positions)))


def evaluate_all_signals_strategy(symbol: str, rows: Sequence[Dict[str, Any]],
                                  actual_changes: np.ndarray) -> StrategyResult:
    agree = []
    for row in rows:
        signs = {np.sign(row[f"{key}_predicted_change"]) for key in ("close", "high", "low")}
        agree.append(signs.pop() if len(signs) == 1 else 0.0)
    positions = np.asarray(agree)
    returns = positions * actual_changes - np.abs(positions) * _fee(symbol)
    return StrategyResult("all_signals", float(returns.sum()), _sharpe(returns), int(np.count_nonzero(positions)))


def evaluate_maxdiff_strategy(symbol: str, frame: PriceFrame, high_pred: np.ndarray,
                              low_pred: np.ndarray, close_at_eod: Optional[bool] = None) -> StrategyResult:
    """MaxDiff: buy at predicted low, sell at predicted high, offsets fitted by DIRECT."""
    close, high, low = frame.close[:-1], frame.high[1:], frame.low[1:]
    best: Optional[StrategyResult] = None
    close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]
    for candidate in close_at_eod_candidates:
        fitted = optimize_entry_exit_multipliers(close, high_pred, low_pred, high, low,
                                                 close_at_eod=candidate)
        result = StrategyResult("maxdiff", fitted["profit"], 0.0, len(close),
                                {"close_at_eod": candidate, **fitted})
        if best is None or result.total_return > best.total_return:
            best = result
    assert best is not None
    return best


def evaluate_maxdiff_always_on_strategy(symbol: str, frame: PriceFrame, high_pred: np.ndarray,
                                        low_pred: np.ndarray, close_at_eod: Optional[bool] = None,
                                        allow_short: bool = True) -> StrategyResult:
    """MaxDiffAlwaysOn: quote both sides every day."""
    close, high, low = frame.close[:-1], frame.high[1:], frame.low[1:]
    results = []
    if allow_short:
        close_at_eod_candidates = [close_at_eod] if close_at_eod is not None else [False, True]
        for candidate in close_at_eod_candidates:
            fitted = optimize_always_on_multipliers(close, high_pred, low_pred, high, low)
            results.append(StrategyResult("maxdiff_always_on", fitted["profit"], 0.0, 2 * len(close),
                                          {"close_at_eod": candidate, **fitted}))
    else:
        fitted = optimize_entry_exit_multipliers(close, high_pred, low_pred, high, low)
        results.append(StrategyResult("maxdiff_always_on", fitted["profit"], 0.0, len(close), fitted))
    return max(results, key=lambda r: r.total_return)


# ---------------------------------------------------------------------------
# Backtest
# ---------------------------------------------------------------------------

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


def _log_strategy_summary(results_df, symbol, num_simulations):
    """Log one line per strategy (runs no simulation: it only reads the results)."""
    for name in ("close", "low", "high", "open"):
        returns = [row[f"{name}_simple_return"] for row in results_df]
        logger.info("%s %-5s simple return over %d simulations: %+.5f (MAE %.5f)", symbol, name,
                    num_simulations, float(np.mean(returns)),
                    float(np.mean([row[f"{name}_mae"] for row in results_df])))


def backtest_forecasts(symbol, num_simulations=50):
    """Run num_simulations walk-forward simulations for symbol; one row per simulation."""
    frame = load_price_frame(symbol)
    toto_params = resolve_toto_params(symbol)
    kronos_params = resolve_kronos_params(symbol)
    results = []
    for sim_number in range(num_simulations):
        results.append(run_single_simulation(symbol, frame, sim_number, toto_params, kronos_params))
    results_df = results
    _log_strategy_summary(results_df, symbol, num_simulations)
    return results_df


def summarise(symbol: str, rows: List[Dict[str, Any]], frame: PriceFrame) -> Dict[str, StrategyResult]:
    predicted = np.asarray([row["close_predicted_change"] for row in rows])
    actual = np.asarray([row["actual_change"] for row in rows])
    window = frame[-(VALIDATION_DAYS + 1):]
    high_pred = np.full(VALIDATION_DAYS, float(np.mean([r["high_predicted_change"] for r in rows])))
    low_pred = np.full(VALIDATION_DAYS, float(np.mean([r["low_predicted_change"] for r in rows])))
    return {
        "simple": evaluate_simple_strategy(symbol, predicted, actual),
        "all_signals": evaluate_all_signals_strategy(symbol, rows, actual),
        "maxdiff": evaluate_maxdiff_strategy(symbol, window, high_pred, low_pred),
        "maxdiff_always_on": evaluate_maxdiff_always_on_strategy(symbol, window, high_pred, low_pred),
    }


def report(symbol: str, rows: List[Dict[str, Any]], results: Dict[str, StrategyResult]) -> Dict[str, Any]:
    """Everything the run computed, as one JSON-able document."""
    return {"symbol": symbol, "num_simulations": len(rows),
            "toto_params": resolve_toto_params(symbol), "kronos_params": resolve_kronos_params(symbol),
            "simulations": rows, "strategies": {name: asdict(r) for name, r in results.items()}}


def format_report(symbol: str, results: Dict[str, StrategyResult]) -> str:
    lines = [f"Backtest {symbol}"]
    for name, result in results.items():
        lines.append(f"  {name:<20} return {result.total_return:+.4f}  sharpe {result.sharpe:+.2f}  "
                     f"trades {result.trades}")
    return "\n".join(lines)


def main(argv: Optional[Iterable[str]] = None, backtest=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    args = [arg for arg in args if arg != "--json"]
    symbol = args[0] if args else "UNIUSD"
    num_simulations = int(args[1]) if len(args) > 1 else 50
    logging.basicConfig(level=logging.INFO, format="%(levelname)s | %(message)s", stream=sys.stderr)
    rows = (backtest or backtest_forecasts)(symbol, num_simulations=num_simulations)
    results = summarise(symbol, rows, load_price_frame(symbol))
    if as_json:
        print(json.dumps(report(symbol, rows, results), sort_keys=True))
    else:
        print(format_report(symbol, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
