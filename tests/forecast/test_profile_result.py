"""The three `migrate profile` backends return one type (forecast.result.Profile), and one code
path renders what they share: the engines' table, the speed-ups and the checks. Runs each backend
on a tiny workload (toto-ts and kronos-finance are part of the test install)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from migrator.forecast import render
from migrator.forecast.profile import run_profile
from migrator.forecast.result import EngineTiming, Equivalence, Profile, Ratio, Speedup
from migrator.forecast.toto.toto_ts_profile import run_toto_ts_profile
from migrator.forecast.kronos.real_profile import profile_kronos_cli
from migrator.workload import Workload


@pytest.fixture(scope="module")
def profiles() -> dict[str, Any]:
    return {
        "bundled": run_profile(Workload(sims=1, horizon=1, samples=16, batch=16), baseline_calls=1,
                               equivalence_pairs=1, rounds=1, threads=1),
        "toto-ts": run_toto_ts_profile(sims=1, horizon=1, samples=16, batch=16, baseline_calls=1,
                                       equivalence_pairs=1, rounds=1, threads=1),
        "kronos": profile_kronos_cli(model="mini", samples=4, context=16, temperature=1.0, top_k=0, top_p=0.99,
                                     baseline_steps=None, rounds=1, seed=0, threads=1),
    }


def test_the_three_backends_return_one_type(profiles: dict[str, Any]) -> None:
    assert {type(profile) for profile in profiles.values()} == {Profile}
    for backend, profile in profiles.items():
        assert profile.backend == backend and profile.to_json()["backend"] == backend
        assert all(isinstance(engine, EngineTiming) for engine in profile.engines.values())
        assert any(engine.role == "baseline" for engine in profile.engines.values())
        assert profile.speedups and profile.equivalences
        # The headline is the first speed-up's median over its rounds.
        assert profile.speedup == profile.speedups[0].ratio.median > 0


def test_the_shared_parts_are_drawn_by_one_code_path(profiles: dict[str, Any]) -> None:
    # Plain functions, not dispatched on the backend: only the details' lines are.
    for shared in (render.render_text, render.engine_table, render.speedup_line, render.equivalence_line):
        assert not hasattr(shared, "registry"), shared
    # Each backend registers its own header and detail lines (none falls back to the generic error).
    for lines in (render.header_lines, render.detail_lines):
        assert all(lines.dispatch(type(p.details)) is not lines.dispatch(object) for p in profiles.values())
    for profile in profiles.values():
        text = render.render_text(profile)
        table = render.engine_table(profile)
        assert "\n".join(table) in text
        header = table[0]
        assert header.startswith("  | Engine ") and header.endswith(f" {profile.forwards_unit} |")
        for engine in profile.engines.values():
            assert sum(line.startswith(f"  | {engine.name} ") for line in table) == 1
        for speedup in profile.speedups:
            assert render.speedup_line(speedup) in text
        for check in profile.equivalences:
            assert render.equivalence_line(check) in text


@dataclasses.dataclass(frozen=True)
class _ToyDetails:
    def to_json(self, profile: Profile) -> dict:
        return {"engines": list(profile.engines)}


def test_a_new_backend_adds_only_its_detail_lines() -> None:
    render.header_lines.register(_ToyDetails, lambda details: ["toy header"])
    render.detail_lines.register(_ToyDetails, lambda details: ["toy detail"])
    engines = {"slow": EngineTiming("slow one", 2.0, (2.0, 2.5), 10, 40, "baseline", extrapolated=True),
               "fast": EngineTiming("fast one", 0.5, (0.5, 0.5), 10, 5, "optimized")}
    profile = Profile("toy", engines, [Speedup("Speed-up", Ratio((4.0, 5.0)), ("slow one", 2.0), ("fast one", 0.5))],
                      [Equivalence("Equivalence", {"same_distribution": True}),
                       Equivalence("Other check", None, "skipped")], _ToyDetails())
    lines = render.render_text(profile).splitlines()
    assert lines[0] == "toy header" and "toy detail" in lines
    assert "  | slow one                     |   2.00 s * |          10 |           40 |" in lines
    assert "  * timed on part of its work and scaled to all of it" in lines
    assert "Speed-up: 4.5x (median of 2 rounds, 4.0x-5.0x) (slow one 2.00 s; fast one 0.5000 s)" in lines
    assert lines[-2:] == ["Equivalence: same distribution: yes", "Other check: not checked (skipped)"]
    assert profile.to_json() == {"backend": "toy", "engines": ["slow", "fast"]}
