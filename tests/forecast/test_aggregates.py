"""Aggregate specs: the table of what each spec computes, percent vs fraction, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from migrator.errors import BadInputError
from migrator.forecast.aggregates import aggregate, parse_spec, quantile_band

SAMPLES = np.arange(1.0, 101.0)[::-1].copy()  # 100 values, unsorted order, skew-free
SKEWED = np.concatenate([np.zeros(90), np.full(10, 100.0)])  # trimming changes the answer


@pytest.mark.parametrize(
    "spec, samples, expected",
    [
        ("mean", SAMPLES, 50.5),
        ("median", SAMPLES, 50.5),
        ("mean", SKEWED, 10.0),
        ("median", SKEWED, 0.0),
        # drop floor(100 * 5%) = 5 from each end: 90 zeros and 5 hundreds left
        ("trimmed_mean_5", SKEWED, 500 / 90),
        ("trimmed_mean_0.05", SKEWED, 500 / 90),  # X <= 1 is a fraction: the same
        ("trimmed_mean_10", SKEWED, 0.0),
        ("trimmed_mean_20", SAMPLES, np.arange(21.0, 81.0).mean()),
        ("trimmed_mean_0", SKEWED, 10.0),
        ("quantile_50", SAMPLES, 50.5),
        ("quantile_0.5", SAMPLES, 50.5),
        ("quantile_10", SAMPLES, 10.9),  # linear interpolation between the 10th and 11th
        ("quantile_0.1", SAMPLES, 10.9),
        ("quantile_100", SAMPLES, 100.0),
        ("quantile_1", SAMPLES, 100.0),  # a fraction of 1, the maximum (1% is quantile_0.01)
    ],
)
def test_spec_table(spec: str, samples: np.ndarray, expected: float) -> None:
    assert aggregate(samples, spec) == pytest.approx(expected)


def test_trimmed_mean_drops_floor_of_the_fraction_from_each_end() -> None:
    samples = np.array([-1000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1000.0])  # n = 11
    assert aggregate(samples, "trimmed_mean_10") == pytest.approx(5.0)  # 1 dropped per end
    assert aggregate(samples, "trimmed_mean_9") == pytest.approx(np.mean(samples))  # 0.99 -> 0


@pytest.mark.parametrize(
    "spec, message",
    [
        ("average", "unknown aggregate 'average'"),
        ("trimmed_mean", "unknown aggregate"),
        ("trimmed_mean_", "unknown aggregate"),
        ("trimmed_mean_-5", "unknown aggregate"),
        ("quantile_x", "unknown aggregate"),
        ("Mean", "unknown aggregate"),
        ("trimmed_mean_50", "nothing would be left"),
        ("trimmed_mean_1", "trimmed_mean_0.01"),
        ("quantile_150", "not a quantile"),
    ],
)
def test_bad_specs_are_bad_input(spec: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_spec(spec)


def test_aggregates_reduce_the_last_axis_of_a_batch() -> None:
    batch = np.stack([SAMPLES, SKEWED, SAMPLES * 2])
    for spec in ("mean", "median", "trimmed_mean_5", "quantile_25"):
        reduced = aggregate(batch, spec)
        assert reduced.shape == (3,)
        assert reduced == pytest.approx([aggregate(row, spec) for row in batch])
    low, high = quantile_band(batch)
    assert low.shape == high.shape == (3,)


def test_band_is_the_40_to_60_percent_quantiles() -> None:
    low, high = quantile_band(SAMPLES)
    assert (low, high) == pytest.approx((np.quantile(SAMPLES, 0.4), np.quantile(SAMPLES, 0.6)))
    assert (low, high) == pytest.approx((40.6, 60.4))


@given(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e6, 1e6)),
    st.sampled_from(["mean", "median", "trimmed_mean_5", "trimmed_mean_20", "quantile_30"]),
)
def test_every_aggregate_lies_within_the_samples(samples: np.ndarray, spec: str) -> None:
    value = aggregate(samples, spec)
    tolerance = 1e-9 * (1 + np.abs(samples).max())
    assert samples.min() - tolerance <= value <= samples.max() + tolerance
    low, high = quantile_band(samples)
    assert low <= high + tolerance
