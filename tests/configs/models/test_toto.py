"""The Toto model's table: argument rules, config.name, the run-time clamp."""

from __future__ import annotations

import pytest

from migrator.configs.models.toto import MODEL as TOTO, toto_clamp
from migrator.errors import BadInputError


@pytest.mark.parametrize("samples, batch, message", [
    (0, 1, "--samples must be a positive integer, got 0"),
    (32, -16, "--batch must be a positive integer, got -16"),
    (16, 32, r"--batch \(32\) must not exceed --samples \(16\)"),
    (48, 32, r"--samples \(48\) must be a multiple of --batch \(32\)"),
])
def test_toto_argument_rules(samples, batch, message):
    with pytest.raises(BadInputError, match=message):
        TOTO.spec(samples=samples, batch=batch)


@pytest.mark.parametrize("name, expected", [
    ("toto_opt_mean_1024_spb128", "toto_opt_mean_32_spb16"),
    ("toto_opt_trimmed_mean_20_1024_spb128", "toto_opt_trimmed_mean_20_32_spb16"),
    ("toto_opt_mean_2048_spb128", None),
    ("toto_1024_spb128", None),  # too few parts for toto_<anything>_<n>_spb<m>
    ("Toto_opt_mean_1024_spb128", None),
])
def test_rename(name, expected):
    old = {"num_samples": 1024, "samples_per_batch": 128}
    assert TOTO.rename(name, old, {"num_samples": 32, "samples_per_batch": 16}) == expected


@pytest.mark.parametrize("samples, batch, env, runtime, exports", [
    (32, 16, {}, (128, 32), {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}),
    (64, 32, {}, (128, 32), {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "64"}),
    (256, 16, {}, (256, 32), {"MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}),
    (8192, 1024, {}, (4096, 512), {"MARKETSIM_TOTO_MAX_NUM_SAMPLES": "8192",
                                   "MARKETSIM_TOTO_MAX_SAMPLES_PER_BATCH": "1024"}),
    (256, 64, {}, (256, 64), {}),
    (32, 16, {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "16", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "8"}, (32, 16),
     {"MARKETSIM_TOTO_MIN_NUM_SAMPLES": "32", "MARKETSIM_TOTO_MIN_SAMPLES_PER_BATCH": "16"}),
])
def test_clamp_report(samples, batch, env, runtime, exports):
    report = toto_clamp(samples, batch, env)
    assert (report.runtime_num_samples, report.runtime_samples_per_batch) == runtime
    assert report.env == exports
    warning = report.warning()
    assert (warning is None) == (runtime == (samples, batch))
    if warning:
        assert "no effect by itself" in warning
        assert all(f"export {k}={v}" in warning for k, v in exports.items())
