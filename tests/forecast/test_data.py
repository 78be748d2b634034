"""Synthetic bars, the CSV loader (real bytes on disk), percent-change series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from migrator.errors import BadInputError
from migrator.forecast.data import KEYS, load_csv, pct_change_series, synthetic_ohlc


def test_synthetic_bars_are_consistent_and_positive() -> None:
    frame = synthetic_ohlc(seed=3)
    assert 1000 <= len(frame) <= 1460  # about four years of daily bars
    assert np.all(frame.low > 0)
    assert np.all(frame.high >= np.maximum(frame.open, frame.close))
    assert np.all(frame.low <= np.minimum(frame.open, frame.close))
    assert np.all(np.diff(frame.timestamps) > np.timedelta64(0, "s"))
    assert np.all(np.isfinite(frame.volume)) and np.all(frame.volume > 0)


def test_synthetic_bars_are_deterministic_per_seed() -> None:
    first, again, other = synthetic_ohlc(days=300, seed=7), synthetic_ohlc(days=300, seed=7), synthetic_ohlc(days=300, seed=8)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.close, other.close)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_returns_show_volatility_clustering(seed: int) -> None:
    returns = np.diff(np.log(synthetic_ohlc(seed=seed).close))
    squared = returns**2 - np.mean(returns**2)
    lag1 = np.corrcoef(squared[:-1], squared[1:])[0, 1]
    assert lag1 > 0.05  # i.i.d. returns would give about 0 (+- 0.03 at this length)
    # ... while the returns themselves are not predictable from yesterday's.
    assert abs(np.corrcoef(returns[:-1], returns[1:])[0, 1]) < 0.1


def test_pct_change_series_matches_definition() -> None:
    frame = synthetic_ohlc(days=50, seed=0)
    series = pct_change_series(frame)
    assert tuple(series) == KEYS
    assert len(series["Close"]) == len(frame) - 1
    np.testing.assert_allclose(series["High"][4], frame.high[5] / frame.high[4] - 1.0)
    np.testing.assert_allclose(series["Open"], np.diff(frame.open) / frame.open[:-1])


def write_csv(frame, path: Path, header: str = "timestamp,Open,High,Low,Close,Volume") -> Path:
    lines = [header]
    for i in range(len(frame)):
        day = str(frame.timestamps[i].astype("datetime64[D]"))
        prices = (repr(float(column[i])) for column in (frame.open, frame.high, frame.low, frame.close))
        lines.append(f"{day},{','.join(prices)},{frame.volume[i]:.0f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_round_trip(tmp_path: Path) -> None:
    frame = synthetic_ohlc(days=120, seed=5)
    loaded = load_csv(write_csv(frame, tmp_path / "bars.csv"))
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(frame, name))
    np.testing.assert_array_equal(loaded.timestamps, frame.timestamps)
    assert loaded.source == str(tmp_path / "bars.csv")


def test_csv_in_yahoo_and_alpaca_shapes(tmp_path: Path) -> None:
    yahoo = tmp_path / "yahoo.csv"
    yahoo.write_text("\ufeffDate,Open,High,Low,Close,Adj Close,Volume\n"
                     "2024-01-02,10,11,9,10.5,10.4,1000\n2024-01-03,10.5,12,10,11,10.9,2000\n\n", encoding="utf-8")
    alpaca = tmp_path / "alpaca.csv"
    alpaca.write_text("timestamp,open,high,low,close,volume,trade_count,vwap,symbol\n"
                      "2024-01-02 05:00:00+00:00,10,11,9,10.5,1000,5,10.2,UNIUSD\n"
                      "2024-01-03 05:00:00+00:00,10.5,12,10,11,2000,7,11.1,UNIUSD\n", encoding="utf-8")
    no_volume = tmp_path / "no_volume.csv"
    no_volume.write_text("Date,Close,High,Low,Open\n2024-01-02,10.5,11,9,10\n2024-01-03,11,12,10,10.5\n")
    for path in (yahoo, alpaca):
        frame = load_csv(path)
        np.testing.assert_array_equal(frame.close, [10.5, 11.0])
        np.testing.assert_array_equal(frame.volume, [1000.0, 2000.0])
    frame = load_csv(no_volume)
    np.testing.assert_array_equal(frame.open, [10.0, 10.5])  # found by name, not position
    assert np.all(np.isnan(frame.volume))


GOOD = "timestamp,Open,High,Low,Close\n2024-01-02,10,11,9,10.5\n2024-01-03,10.5,12,10,11\n2024-01-04,11,12,10.5,11.5\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty file"),
    ("Date,Open,High,Close\n2024-01-02,10,11,10.5\n", "line 1: missing column Low"),
    ("Open,High,Low,Close\n10,11,9,10.5\n", "line 1: no timestamp or Date column"),
    ("timestamp,Date,Open,High,Low,Close\n", "both timestamp and Date"),
    ("timestamp,Close,close,Open,High,Low\n", "column 'close' appears twice"),
    (GOOD.replace("10.5,12,10,11", "10.5,12,ten,11"), "line 3, column Low: 'ten' is not a number"),
    (GOOD.replace("10.5,12,10,11", "10.5,12,10,nan"), "line 3, column Close: 'nan' is not a finite number"),
    (GOOD.replace("10.5,12,10,11", "10.5,12,10"), "line 3: 4 fields, the header has 5"),
    (GOOD.replace("2024-01-03", "03/01/2024"), "line 3, column timestamp: '03/01/2024' is not an ISO 8601"),
    (GOOD.replace("2024-01-04", "2024-01-02"), "line 4: timestamp 2024-01-02 is not after"),
    (GOOD.replace("11,12,10.5,11.5", "11,10,10.5,11.5"), "line 4: High is below Low"),
    (GOOD.replace("10.5,12,10,11", "10.5,10.8,10,11"), "line 3: High is below Open or Close"),
    (GOOD.replace("10,11,9,10.5", "10,11,10.2,10.5"), "line 2: Low is above Open or Close"),
    (GOOD.replace("10,11,9,10.5", "0,11,0,10.5"), "line 2: prices must be positive"),
    ("timestamp,Open,High,Low,Close\n2024-01-02,10,11,9,10.5\n", "1 data rows, need at least 2"),
])
def test_bad_csv_names_file_and_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        load_csv(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        load_csv(tmp_path / "absent.csv")
    with pytest.raises(BadInputError, match="is a directory"):
        load_csv(tmp_path)
    binary = tmp_path / "prices.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00\x81")
    with pytest.raises(BadInputError, match="not a UTF-8 text file"):
        load_csv(binary)


def test_require_rows_names_the_source(tmp_path: Path) -> None:
    frame = load_csv(write_csv(synthetic_ohlc(days=10), tmp_path / "short.csv"))
    frame.require_rows(10, "this")
    with pytest.raises(BadInputError, match=r"short\.csv: 10 rows of data, the workload needs at least 11"):
        frame.require_rows(11, "the workload")
