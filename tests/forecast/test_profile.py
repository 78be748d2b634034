"""run_profile on a tiny workload: the JSON document, the sections, MaxDiff wiring, the text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from migrator.errors import BadInputError
from migrator.forecast.data import pct_change_series, synthetic_ohlc
from migrator.forecast.kronos.engines import KronosWorkload
from migrator.forecast.toto.engines import Forecast, Workload, schedule
from migrator.forecast.profile import KronosSettings, context_lengths, run_profile, validation_days, validation_row
from migrator.forecast.render import render_text
from migrator.forecast.result import Profile, times_text

TINY = Workload(sims=2, horizon=2, samples=32, batch=16)
ROWS = 160  # contexts of about two patches keep each baseline call cheap


def write_bars(path: Path, rows: int = ROWS, seed: int = 4) -> Path:
    frame = synthetic_ohlc(days=rows, seed=seed)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i in range(rows):
        prices = ",".join(repr(float(c[i])) for c in (frame.open, frame.high, frame.low, frame.close))
        lines.append(f"{frame.timestamps[i].astype('datetime64[D]')},{prices},{frame.volume[i]:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    bars = write_bars(tmp_path_factory.mktemp("bars") / "bars.csv")
    return run_profile(TINY, data=bars, baseline_calls=None, equivalence_pairs=4, seed=1, rounds=2)


def test_json_document_shape_and_values(full: Profile) -> None:
    doc = json.loads(json.dumps(full.to_json()))  # serialisable as is
    w = doc["workload"]
    assert (w["sims"], w["keys"], w["horizon"], w["samples"], w["batch"], w["model"]) == (
        2, ["Close", "Low", "High", "Open"], 2, 32, 16, "small")
    assert w["prediction_length"] == 1
    # 160 bars -> 159 changes; simulation 0, origin 1 sees 157 of them, simulation 1, origin 2 sees 155.
    assert (w["context_length"], w["context_length_min"]) == (157, 155)
    assert w["parameters"] > 1_000_000 and w["checkpoint"] is None
    assert w["data"].endswith("bars.csv")

    base, fast = doc["engines"]["baseline"], doc["engines"]["optimized"]
    assert (base["model_calls"], base["forward_passes"], base["extrapolated"], base["timed_calls"]) == (16, 32, False, 16)
    # 4 keys x (sims + horizon - 1) distinct contexts, all of one padded length: one batched pass.
    assert (fast["model_calls"], fast["forward_passes"], fast["extrapolated"]) == (12, 1, False)
    for engine in (base, fast):
        assert set(engine["breakdown"]) == {"forward", "sampling", "aggregation", "grouping_padding", "overhead"}
        assert set(engine["sections"]) == {"forecasting", "maxdiff", "data_processing", "other"}
        assert all(value >= 0 for value in engine["sections"].values())
        assert engine["sections"]["forecasting"] == engine["seconds"] > 0
        assert engine["total_seconds"] == pytest.approx(sum(engine["sections"].values()))
        assert engine["maxdiff"]["fits"] == 2 and engine["maxdiff"]["unforecast_sims"] == 0
        assert engine["notes"] == []
        assert engine["maxdiff"]["evaluations"] >= 2 * 500
    ratios = [b / f for b, f in zip(base["round_seconds"], fast["round_seconds"])]
    assert len(ratios) == 2 and doc["workload"]["rounds"] == 2
    assert doc["speedup"] == pytest.approx(np.median(ratios))
    assert doc["speedup_range"]["min"] == pytest.approx(min(ratios)) and doc["speedup_range"]["max"] == pytest.approx(max(ratios))
    assert base["seconds"] == pytest.approx(np.median(base["round_seconds"]))
    assert doc["kronos"] is None
    assert doc["whole_backtest"]["speedup"] == pytest.approx(doc["total_speedup"])
    assert doc["total_speedup"] == pytest.approx(base["total_seconds"] / fast["total_seconds"])
    eq = doc["equivalence"]
    assert eq["same_distribution"] is True
    assert 0 <= eq["max_param_rel_diff"] < 1e-5 and 0 <= eq["ks_min_pvalue"] <= 1


def test_validation_rows_are_the_bars_the_schedule_forecasts() -> None:
    rows = 120
    series = pct_change_series(synthetic_ohlc(days=rows))
    workload = Workload(sims=5, horizon=3)
    lengths = []
    for call in schedule(series, workload):
        # The forecast is of series[context_length], the change into bar context_length + 1.
        assert validation_row(rows, call.sim, call.pred_idx) == call.context_length + 1
        lengths.append(call.context_length)
    assert context_lengths(rows, workload) == (min(lengths), max(lengths))


def test_extrapolated_baseline_says_so(tmp_path: Path) -> None:
    result = run_profile(TINY, engines=("baseline",), data=write_bars(tmp_path / "b.csv"),
                         baseline_calls=3, equivalence_pairs=1)
    base = result.details.engines["baseline"]
    assert base.result.extrapolated and base.timed_calls == 3 and base.result.model_calls == 16
    # Three calls spread over two simulations cannot give any simulation all its High and Low forecasts.
    assert base.maxdiff_unforecast_sims == 2
    doc = result.to_json()
    assert doc["speedup"] is None and set(doc["engines"]) == {"baseline"}
    text = render_text(result)
    assert "timed on 3 of its 16 calls and scaled to all" in text
    assert "2 simulations the timed calls did not forecast" in text
    assert "Speed-up" not in text


def test_text_report(full: Profile) -> None:
    text = render_text(full)
    for label in ("Forecasting (Toto)", "MaxDiff optimization", "Data processing", "Other", "Total"):
        assert text.count(f"| {label} ") == 2  # one table per engine
    assert "| Forecasting (Toto) " in text and "Kronos" not in text
    assert "Baseline engines: Toto 16 model calls, 32 forward passes" in text
    assert "Optimized engines: Toto 12 model calls, 1 forward pass\n" in text
    assert "scaled to all" not in text
    shares = [float(line.rsplit("|", 2)[1].strip().rstrip("%")) for line in text.splitlines()
              if line.startswith("  | ") and line.endswith("% |") and "Total" not in line]
    assert len(shares) == 8 and sum(shares) == pytest.approx(200, abs=0.3)
    assert f"Speed-up in Toto forecasting: {times_text(full.speedup)} (median of 2 rounds, " in text
    assert "Equivalence on 4 (key, origin) pairs: same distribution: yes" in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"engines": ("fast",)}, "unknown engine fast"),
    ({"model": "huge"}, "unknown model 'huge'"),
    ({"baseline_calls": 0}, "--baseline-calls must be at least 1"),
    ({"workload": Workload(sims=2, horizon=2, keys=("Close", "Open"))}, "lacks High, Low"),
    ({"workload": Workload(sims=80, horizon=7)}, "the workload (80 simulations, horizon 7, 64 points"),
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"kronos": KronosSettings(KronosWorkload(sims=2), model="huge")}, "unknown Kronos model 'huge'"),
    ({"kronos": KronosSettings(KronosWorkload(sims=2), calls=0)}, "--kronos-calls must be at least 1"),
    ({"kronos": KronosSettings(KronosWorkload(sims=2, context=232))}, "Kronos (2 simulations x 232 bars of context) needs at least 234"),
])
def test_bad_arguments_fail_before_model_work(tmp_path: Path, kwargs: dict, message: str) -> None:
    bars = write_bars(tmp_path / "bars.csv", rows=150)
    arguments = {"workload": TINY, "data": bars, **kwargs}
    with pytest.raises(BadInputError) as caught:
        run_profile(arguments.pop("workload"), **arguments)
    assert message in str(caught.value)


def test_short_file_is_named(tmp_path: Path) -> None:
    bars = write_bars(tmp_path / "short.csv", rows=60)
    with pytest.raises(BadInputError, match=r"short\.csv: 60 rows of data, the workload .* needs at least 69"):
        run_profile(TINY, data=bars)


def test_validation_days_pair_bars_with_their_forecasts() -> None:
    frame = synthetic_ohlc(days=40, seed=2)
    workload = Workload(sims=3, horizon=2)
    # A distinct, recognisable point forecast for every (sim, key, origin); sim 2 lacks one.
    forecasts = {(sim, key, origin): Forecast(point=sim + origin / 10 + (key == "Low") / 100, band_low=0, band_high=0)
                 for sim in range(3) for key in ("High", "Low") for origin in (1, 2)}
    del forecasts[(2, "Low", 1)]
    days, unforecast = validation_days(frame, forecasts, workload)
    assert len(days) == 3 and unforecast == 1
    # Simulation 1 drops its last 2 bars (of 40): origins 2 and 1 forecast bars 36 and 37.
    sim1 = days[1]
    np.testing.assert_array_equal(sim1.high, frame.high[[36, 37]])
    np.testing.assert_array_equal(sim1.close, frame.close[[36, 37]])
    np.testing.assert_array_equal(sim1.prev_low, frame.low[[35, 36]])
    np.testing.assert_array_equal(sim1.pred_high, [1.2, 1.1])
    np.testing.assert_array_equal(sim1.pred_low, [1.21, 1.11])
    np.testing.assert_array_equal(days[2].pred_low, [2.21, 0.0])  # the missing one: no change
    np.testing.assert_array_equal(days[0].open, frame.open[[37, 38]])


@pytest.fixture(scope="module")
def with_kronos(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    bars = write_bars(tmp_path_factory.mktemp("kbars") / "bars.csv")
    kronos = KronosSettings(KronosWorkload(sims=2, samples=8, context=24), model="tiny", calls=1)
    return run_profile(TINY, data=bars, baseline_calls=2, equivalence_pairs=1, seed=2, rounds=2, kronos=kronos)


def test_kronos_is_its_own_row_and_in_the_whole_backtest(with_kronos: Profile) -> None:
    doc = json.loads(json.dumps(with_kronos.to_json()))
    kronos = doc["kronos"]
    assert kronos["workload"]["model"] == "tiny" and kronos["workload"]["keys"] == ["Close"]
    for role in ("baseline", "optimized"):
        engine = kronos["engines"][role]
        assert {"seconds", "model_calls", "forward_passes", "extrapolated", "breakdown"} <= set(engine)
        assert engine["model_calls"] == 2 and engine["extrapolated"] is True and engine["timed_calls"] == 1
        assert engine["seconds"] > 0 and len(engine["round_seconds"]) == 2
    ratios = [b / f for b, f in zip(kronos["engines"]["baseline"]["round_seconds"],
                                    kronos["engines"]["optimized"]["round_seconds"])]
    assert kronos["speedup"] == pytest.approx(np.median(ratios))
    eq = kronos["equivalence"]
    assert eq["same_distribution"] is True and eq["max_logit_rel_diff"] <= 1e-5 and 0 <= eq["pvalue"] <= 1
    whole = doc["whole_backtest"]
    toto = doc["engines"]
    assert whole["baseline_seconds"] == pytest.approx(toto["baseline"]["total_seconds"] + kronos["engines"]["baseline"]["seconds"])
    assert whole["optimized_seconds"] == pytest.approx(toto["optimized"]["total_seconds"] + kronos["engines"]["optimized"]["seconds"])
    assert whole["speedup"] == pytest.approx(whole["baseline_seconds"] / whole["optimized_seconds"])

    text = render_text(with_kronos)
    assert text.count("| Forecasting (Kronos) ") == 2
    assert "Kronos: 2 calls, 14 predictor passes, timed on 1 call (the same for both engines)" in text
    assert "Speed-up in Kronos forecasting: " in text and "both extrapolated from 1 call" in text
    assert "Whole backtest (Toto + Kronos + MaxDiff + data): " in text
    assert "Kronos equivalence on 1 call: same distribution: yes (same draws give the same tokens: yes" in text
    # Each table's shares add up to 100% with the Kronos row in it.
    shares = [float(line.rsplit("|", 2)[1].strip().rstrip("%")) for line in text.splitlines()
              if line.startswith("  | ") and line.endswith("% |") and "Total" not in line]
    assert len(shares) == 10 and sum(shares) == pytest.approx(200, abs=0.3)
