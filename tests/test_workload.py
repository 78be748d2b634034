"""The workload shared by forecast/ and runtime/: pure Python, one evenly_spaced for both."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import BadInputError
from migrator.workload import KEYS, Workload, evenly_spaced, parse_aggregate


@given(st.integers(min_value=1, max_value=3000).flatmap(
    lambda count: st.tuples(st.just(count), st.integers(min_value=1, max_value=count))))
def test_evenly_spaced_picks_what_numpys_linspace_picks(case: tuple[int, int]) -> None:
    count, chosen = case
    expected = sorted(set(np.linspace(0, count - 1, chosen).round().astype(int).tolist()))
    assert evenly_spaced(count, chosen) == expected


def test_evenly_spaced_all_or_bad_input() -> None:
    assert evenly_spaced(5, None) == evenly_spaced(5, 9) == [0, 1, 2, 3, 4]
    with pytest.raises(BadInputError, match="at least 1"):
        evenly_spaced(5, 0)


def test_one_workload_for_both_layers() -> None:
    from migrator.forecast.toto import engines
    from migrator.runtime import bench

    assert engines.Workload is bench.Workload is Workload and Workload().keys == KEYS
    assert Workload(sims=2, horizon=3, keys=("Close", "Low")).calls == 12


@pytest.mark.parametrize("spec, parsed", [("mean", ("mean", None)), ("trimmed_mean_5", ("trimmed_mean", 0.05)),
                                          ("trimmed_mean_0.05", ("trimmed_mean", 0.05)), ("quantile_.5", ("quantile", 0.5))])
def test_aggregate_specs(spec: str, parsed: tuple) -> None:
    kind, fraction = parse_aggregate(spec)
    assert kind == parsed[0] and fraction == pytest.approx(parsed[1])


def test_the_runtime_side_imports_no_torch_or_forecast_code() -> None:
    code = ("import sys, migrator.workload; print('torch' in sys.modules, 'numpy' in sys.modules, "
            "any(name.startswith('migrator.forecast') for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
    code = ("import sys, migrator.runtime.bench; print(any(name.startswith(('migrator.forecast', 'click', 'libcst'))"
            " for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
