"""Inline backtest of the forecast-driven strategies for one symbol (example).

An example in the shape of marketsim's backtest_test3_inline.py, written for
`migrate apply`: the same functions and statements the codemod rewrites
(`_compute_toto_forecast` with its local `max_horizon = 7`,
`backtest_forecasts(symbol, num_simulations=50)` without the FAST_SIMULATE
check, `close_at_eod_candidates` at two indentation depths), runnable with
numpy and scipy only. The "models" are small deterministic stand-ins for
Toto and Kronos so the whole file executes in well under a second.

    python backtest_test3_inline.py UNIUSD
"""

from __future__ import annotations

import logging
import math
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from src.optimization_utils import optimize_always_on_multipliers, optimize_entry_exit_multipliers

logger = logging.getLogger("backtest_test3_inline")

HYPERPARAM_ROOT = Path(os.getenv("HYPERPARAM_ROOT", "hyperparams"))
TRADING_FEE = 0.0005
CRYPTO_TRADING_FEE = 0.0015
SPREAD = 1.0008
VALIDATION_DAYS = 30
PRICE_KEYS = ("Close", "Low", "High", "Open")

# Module-level defaults: the codemod leaves these alone (not function locals).
max_horizon = 7
DEFAULT_TOTO_PARAMS = {"num_samples": 128, "samples_per_batch": 32, "aggregate": "trimmed_mean_5"}
DEFAULT_KRONOS_PARAMS = {"temperature": 0.3, "top_p": 0.9, "top_k": 24, "sample_count": 160,
                         "max_context": 192, "clip": 1.6}


def _env_int(name: str, default: int) -> int:
    raw = os.getenv(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        logger.warning("Ignoring %s=%r (not an integer)", name, raw)
        return default


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


# ---------------------------------------------------------------------------
# Forecast models (deterministic stand-ins)
# ---------------------------------------------------------------------------

def _clamp_toto_params(symbol: str, params: Dict[str, Any]) -> Dict[str, Any]:
    """Clamp Toto sampling to the MARKETSIM_TOTO_* bounds, as the real backtest does."""
    min_samples = _env_int("MARKETSIM_TOTO_MIN_NUM_SAMPLES", 128)
    max_samples = _env_int("MARKETSIM_TOTO_MAX_NUM_SAMPLES", 4096)
    min_batch = _env_int("MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH", 32)
    max_batch = _env_int("MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH", 512)
    num_samples = int(min(max(int(params.get("num_samples", 128)), min_samples), max_samples))
    per_batch = int(min(max(int(params.get("samples_per_batch", 32)), min_batch), max_batch))
    per_batch = min(per_batch, num_samples)
    num_samples = max(per_batch, (num_samples // per_batch) * per_batch)
    if num_samples != params.get("num_samples") or per_batch != params.get("samples_per_batch"):
        logger.debug("Adjusted Toto sampling bounds for %s: num_samples=%d, samples_per_batch=%d",
                     symbol, num_samples, per_batch)
    return {**params, "num_samples": num_samples, "samples_per_batch": per_batch}


def aggregate_samples(samples: np.ndarray, method: str) -> float:
    """Reduce forecast samples to a point forecast ('mean', 'median', 'trimmed_mean_X')."""
    if method == "median":
        return float(np.median(samples))
    if method.startswith("trimmed_mean_"):
        percent = float(method.rsplit("_", 1)[1])
        fraction = percent / 100.0 if percent > 1 else percent
        ordered = np.sort(samples)
        cut = int(len(ordered) * fraction)
        kept = ordered[cut:len(ordered) - cut] if len(ordered) > 2 * cut else ordered
        return float(kept.mean())
    return float(np.mean(samples))


class TotoStandIn:
    """A tiny seeded sampler with Toto's call shape (context, prediction_length, samples)."""

    def predict(self, context: np.ndarray, prediction_length: int, num_samples: int,
                samples_per_batch: int) -> np.ndarray:
        seed = zlib.crc32(np.round(context[-8:], 10).tobytes())
        rng = np.random.default_rng(seed)
        drift = float(np.mean(context[-20:])) if len(context) else 0.0
        scale = float(np.std(context[-60:])) if len(context) > 1 else 0.01
        batches = []
        for _ in range(max(1, num_samples // samples_per_batch)):
            batches.append(drift + scale * rng.standard_t(5, size=(samples_per_batch, prediction_length)))
        return np.concatenate(batches, axis=0)


class KronosStandIn:
    """Mean over sample paths of a seeded autoregressive walk (Kronos' call shape)."""

    def predict(self, context: np.ndarray, params: Dict[str, Any]) -> float:
        window = context[-int(params["max_context"]):]
        mean, std = float(np.mean(window)), float(np.std(window)) or 1.0
        clipped = np.clip((window - mean) / std, -params["clip"], params["clip"])
        rng = np.random.default_rng(zlib.crc32(clipped[-4:].tobytes()))
        paths = clipped[-1] * 0.1 + params["temperature"] * rng.standard_normal(int(params["sample_count"]))
        return float(np.mean(paths) * std + mean)


TOTO_MODEL = TotoStandIn()
KRONOS_MODEL = KronosStandIn()


def load_toto_params(symbol: str) -> Dict[str, Any]:
    path = HYPERPARAM_ROOT / "toto" / f"{symbol}.json"
    if path.is_file():
        import json

        return {**DEFAULT_TOTO_PARAMS, **json.loads(path.read_text())["config"]}
    return dict(DEFAULT_TOTO_PARAMS)


def _compute_toto_forecast(symbol, target_key, price_frame, current_last_price, toto_params):
    """Walk-forward 1-step forecasts for one price key; the last one is used for trading."""
    predictions = []
    bands = []
    max_horizon = 7
    series = pct_changes(price_frame.column(target_key))
    params = _clamp_toto_params(symbol, toto_params)
    for pred_idx in reversed(range(1, max_horizon + 1)):
        context = series[:-pred_idx]
        if len(context) < 16:
            continue
        samples = TOTO_MODEL.predict(context, prediction_length=1,
                                     num_samples=params["num_samples"],
                                     samples_per_batch=params["samples_per_batch"])[:, 0]
        predictions.append(aggregate_samples(samples, params["aggregate"]))
        bands.append((float(np.quantile(samples, 0.4)), float(np.quantile(samples, 0.6))))
    predicted_change = predictions[-1] if predictions else 0.0
    return {
        "symbol": symbol,
        "key": target_key,
        "predictions": predictions,
        "bands": bands,
        "predicted_price": current_last_price * (1.0 + predicted_change),
        "predicted_change": predicted_change,
    }


def _compute_kronos_forecast(symbol, target_key, price_frame, kronos_params=None):
    params = {**DEFAULT_KRONOS_PARAMS, **(kronos_params or {})}
    series = pct_changes(price_frame.column(target_key))
    return {"symbol": symbol, "key": target_key,
            "predicted_change": KRONOS_MODEL.predict(series, params)}


def forecast_all_keys(symbol: str, price_frame: PriceFrame, model: str = "toto") -> Dict[str, Dict[str, Any]]:
    toto_params = load_toto_params(symbol)
    last_close = float(price_frame.close[-1])
    forecasts = {}
    for key in PRICE_KEYS:
        if model == "kronos":
            forecasts[key] = _compute_kronos_forecast(symbol, key, price_frame)
        else:
            forecasts[key] = _compute_toto_forecast(symbol, key, price_frame, last_close, toto_params)
    return forecasts


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


def evaluate_all_signals_strategy(symbol: str, forecasts: Sequence[Dict[str, Any]],
                                  actual_changes: np.ndarray) -> StrategyResult:
    agree = []
    for forecast in forecasts:
        signs = {np.sign(forecast[key]["predicted_change"]) for key in ("Close", "High", "Low")}
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

def run_single_simulation(symbol: str, frame: PriceFrame, sim_index: int,
                          model: str = "toto") -> Dict[str, Any]:
    """One simulation: forecast from history minus its last sim_index + 1 rows."""
    history = frame[:len(frame) - (sim_index + 1)]
    forecasts = forecast_all_keys(symbol, history, model=model)
    actual_close = float(frame.close[len(history)])
    last_close = float(history.close[-1])
    return {
        "simulation": sim_index,
        "forecasts": forecasts,
        "actual_change": (actual_close - last_close) / last_close,
        "predicted_change": forecasts["Close"]["predicted_change"],
    }


def summarise(symbol: str, rows: List[Dict[str, Any]], frame: PriceFrame) -> Dict[str, StrategyResult]:
    predicted = np.asarray([row["predicted_change"] for row in rows])
    actual = np.asarray([row["actual_change"] for row in rows])
    window = frame[-(VALIDATION_DAYS + 1):]
    high_pred = np.full(VALIDATION_DAYS, float(np.mean([r["forecasts"]["High"]["predicted_change"] for r in rows])))
    low_pred = np.full(VALIDATION_DAYS, float(np.mean([r["forecasts"]["Low"]["predicted_change"] for r in rows])))
    return {
        "simple": evaluate_simple_strategy(symbol, predicted, actual),
        "all_signals": evaluate_all_signals_strategy(symbol, [r["forecasts"] for r in rows], actual),
        "maxdiff": evaluate_maxdiff_strategy(symbol, window, high_pred, low_pred),
        "maxdiff_always_on": evaluate_maxdiff_always_on_strategy(symbol, window, high_pred, low_pred),
    }


def backtest_forecasts(symbol, num_simulations=50):
    """Run num_simulations walk-forward simulations for symbol; one row per simulation."""
    frame = load_price_frame(symbol)
    num_simulations = min(num_simulations, len(frame) - VALIDATION_DAYS - 2)
    rows = []
    for sim_index in range(num_simulations):
        rows.append(run_single_simulation(symbol, frame, sim_index))
    logger.info("%s: %d simulations", symbol, len(rows))
    return rows


def format_report(symbol: str, results: Dict[str, StrategyResult]) -> str:
    lines = [f"Backtest {symbol}"]
    for name, result in results.items():
        lines.append(f"  {name:<20} return {result.total_return:+.4f}  sharpe {result.sharpe:+.2f}  "
                     f"trades {result.trades}")
    return "\n".join(lines)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    symbol = args[0] if args else "UNIUSD"
    num_simulations = int(args[1]) if len(args) > 1 else 50
    logging.basicConfig(level=logging.INFO, format="%(levelname)s | %(message)s")
    rows = backtest_forecasts(symbol, num_simulations=num_simulations)
    frame = load_price_frame(symbol)
    print(format_report(symbol, summarise(symbol, rows, frame)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
