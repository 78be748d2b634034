"""Daily OHLC bars: a seeded synthetic generator, a CSV loader, percent-change series.

No pandas: a frame is a handful of numpy arrays of equal length, oldest bar first.
The backtest forecasts, for each of the keys Close, Low, High and Open, the series of
next-step percent changes of that column; `pct_change_series` derives exactly those.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from migrator.errors import BadInputError
from migrator.files import DATA, UnreadableFile, read_user_file
from migrator.workload import KEYS

PRICE_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")
TIMESTAMP_COLUMNS: tuple[str, ...] = ("timestamp", "date")
# About four years of trading days, the history length the backtest forecasts from.
DEFAULT_DAYS = 1008


@dataclasses.dataclass(frozen=True)
class OHLCFrame:
    """Daily bars, oldest first. `source` names where they came from (for messages)."""

    timestamps: np.ndarray  # datetime64[s]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # NaN where the source had no Volume column
    source: str

    def __len__(self) -> int:
        return len(self.close)

    def column(self, name: str) -> np.ndarray:
        """The price column named as the backtest names it: Open, High, Low or Close."""
        return {"Open": self.open, "High": self.high, "Low": self.low, "Close": self.close}[name]

    def require_rows(self, rows: int, why: str) -> None:
        """Raise BadInputError unless the frame has at least `rows` bars."""
        if len(self) < rows:
            raise BadInputError(f"{self.source}: {len(self)} rows of data, {why} needs at least {rows}")


def synthetic_ohlc(days: int = DEFAULT_DAYS, seed: int = 0, *, start_price: float = 100.0) -> OHLCFrame:
    """Seeded synthetic daily bars with volatility clustering.

    Close-to-close log returns follow GARCH(1,1) with Student-t(5) shocks (about 1.8%
    daily volatility, persistence 0.97), so large moves cluster as in real prices. Each
    bar opens with a small gap from the previous close; High and Low extend beyond the
    open/close range by half-normal amounts scaled by that day's volatility, so
    High >= max(Open, Close) and Low <= min(Open, Close) hold by construction and every
    price stays positive (log-space construction). Timestamps are weekdays from 2021-01-04.
    """
    if days < 2:
        raise BadInputError(f"synthetic data needs at least 2 days, got {days}")
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 1e-5, 0.08, 0.89
    variance = omega / (1.0 - alpha - beta)
    dof = 5.0
    shocks = rng.standard_t(dof, size=days) / math.sqrt(dof / (dof - 2.0))  # unit variance
    log_returns = np.empty(days)
    sigmas = np.empty(days)
    for t in range(days):  # the recursion is inherently sequential
        sigma = math.sqrt(variance)
        sigmas[t] = sigma
        log_returns[t] = sigma * shocks[t]
        variance = omega + alpha * log_returns[t] ** 2 + beta * variance
    log_close = math.log(start_price) + np.cumsum(log_returns)
    previous_log_close = np.concatenate(([math.log(start_price)], log_close[:-1]))
    log_open = previous_log_close + 0.25 * sigmas * rng.standard_normal(days)
    upper = np.maximum(log_open, log_close) + 0.5 * sigmas * np.abs(rng.standard_normal(days))
    lower = np.minimum(log_open, log_close) - 0.5 * sigmas * np.abs(rng.standard_normal(days))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(days) + 20.0 * np.abs(log_returns)))
    timestamps = np.busday_offset("2021-01-04", np.arange(days), roll="forward").astype("datetime64[s]")
    return OHLCFrame(
        timestamps=timestamps,
        open=np.exp(log_open),
        high=np.exp(upper),
        low=np.exp(lower),
        close=np.exp(log_close),
        volume=volume,
        source=f"synthetic data (seed {seed}, {days} days)",
    )


def load_csv(path: str | Path) -> OHLCFrame:
    """Read daily bars from a CSV export.

    Header names are matched case-insensitively (Yahoo writes `Date,Open,...`, Alpaca
    `timestamp,open,...`); other columns (Adj Close, vwap, symbol, ...) are ignored.
    Needed: a `timestamp` or `Date` column (ISO 8601 dates or date-times), Open, High,
    Low, Close; Volume is optional. Rows must be in strictly increasing time order, prices
    finite and positive, and each bar consistent (Low <= Open, Close <= High). Anything
    else raises BadInputError naming the file, the line and the column.
    """
    path = Path(path)
    try:
        raw = read_user_file(path, DATA)
    except UnreadableFile as exc:
        if exc.missing:
            raise BadInputError(f"{path}: no such file") from None
        if exc.directory:
            raise BadInputError(f"{path}: is a directory, expected a CSV file") from None
        raise BadInputError(f"{path}: cannot read ({exc.reason})") from None
    try:
        # -sig: Excel writes a BOM; newline="": the csv module's own line endings, as open() gives them
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise BadInputError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BadInputError(f"{path}: empty file, expected a header line")
    columns = _header_columns(path, rows[0])
    wanted = [columns[name] for name in (*PRICE_COLUMNS, "Volume") if name in columns]
    timestamp_index = columns["timestamp"]
    stamps: list[np.datetime64] = []
    values: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (often a trailing one) carry nothing
        if len(row) < len(rows[0]):
            raise BadInputError(f"{path}: line {line}: {len(row)} fields, the header has {len(rows[0])}")
        stamp = _parse_timestamp(path, line, rows[0][timestamp_index], row[timestamp_index])
        if stamps and stamp <= stamps[-1]:
            raise BadInputError(
                f"{path}: line {line}: timestamp {row[timestamp_index].strip()} is not after the "
                f"previous row's; rows must be oldest first with no duplicates")
        stamps.append(stamp)
        values.append([_parse_number(path, line, rows[0][i], row[i]) for i in wanted])
    if len(values) < 2:
        raise BadInputError(f"{path}: {len(values)} data rows, need at least 2")
    table = np.asarray(values, dtype=np.float64)
    open_, high, low, close = (table[:, i] for i in range(4))
    volume = table[:, 4] if table.shape[1] == 5 else np.full(len(table), np.nan)
    _check_bars(path, rows, open_, high, low, close)
    return OHLCFrame(
        timestamps=np.asarray(stamps, dtype="datetime64[s]"),
        open=open_, high=high, low=low, close=close, volume=volume,
        source=str(path),
    )


def pct_change_series(frame: OHLCFrame) -> dict[str, np.ndarray]:
    """Next-step percent changes of each key's column: x[t] / x[t-1] - 1, length len(frame) - 1.

    Element j is the change into bar j + 1 (pandas' `pct_change()` without its leading NaN).
    """
    series = {}
    for key in KEYS:
        prices = frame.column(key)
        series[key] = prices[1:] / prices[:-1] - 1.0
    return series


def _header_columns(path: Path, header: list[str]) -> dict[str, int]:
    """Map timestamp/Open/High/Low/Close/Volume to column indexes; reject missing or ambiguous ones."""
    folded: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        if key in folded and key:
            raise BadInputError(f"{path}: line 1: column {name.strip()!r} appears twice (names are case-insensitive)")
        folded[key] = index
    columns: dict[str, int] = {}
    stamp_names = [name for name in TIMESTAMP_COLUMNS if name in folded]
    if not stamp_names:
        raise BadInputError(f"{path}: line 1: no timestamp or Date column (header: {','.join(header)})")
    if len(stamp_names) > 1:
        raise BadInputError(f"{path}: line 1: both timestamp and Date columns; keep one")
    columns["timestamp"] = folded[stamp_names[0]]
    missing = [name for name in PRICE_COLUMNS if name.lower() not in folded]
    if missing:
        raise BadInputError(f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)} (header: {','.join(header)})")
    for name in (*PRICE_COLUMNS, "Volume"):
        if name.lower() in folded:
            columns[name] = folded[name.lower()]
    return columns


def _parse_timestamp(path: Path, line: int, column: str, cell: str) -> np.datetime64:
    text = cell.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{path}: line {line}, column {column.strip()}: "
                            f"{text!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(moment, "s")


def _parse_number(path: Path, line: int, column: str, cell: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{path}: line {line}, column {column.strip()}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadInputError(f"{path}: line {line}, column {column.strip()}: {text!r} is not a finite number")
    return value


def _check_bars(path: Path, rows: list[list[str]], open_: np.ndarray, high: np.ndarray,
                low: np.ndarray, close: np.ndarray) -> None:
    """Every price positive; Low <= Open, Close <= High. Names the first offending line."""
    # Data rows in file order, skipping blank lines, so an array index maps back to a line.
    lines = [line for line, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    checks = (
        (np.minimum.reduce([open_, high, low, close]) <= 0.0, "prices must be positive"),
        (high < low, "High is below Low"),
        (high < np.maximum(open_, close), "High is below Open or Close"),
        (low > np.minimum(open_, close), "Low is above Open or Close"),
    )
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise BadInputError(
                f"{path}: line {lines[i]}: {message} (Open {open_[i]:g}, High {high[i]:g}, "
                f"Low {low[i]:g}, Close {close[i]:g})")
