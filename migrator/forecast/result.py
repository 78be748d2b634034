"""What every `migrate profile` backend returns: one `Profile` (bundled, toto-ts, kronos).

The shared parts (the engines' timings, the speed-ups as medians of rounds, the equivalence
checks) have one shape here and one renderer (forecast.render); each backend adds only its
`details` (its own text lines and JSON). Torch-free, so migrator.runtime can build one without
importing the forecast models.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A speed-up measured in interleaved rounds: the median of the rounds and its min-max."""

    rounds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": min(self.rounds), "max": max(self.rounds), "rounds": list(self.rounds)}


@dataclasses.dataclass(frozen=True)
class EngineTiming:
    """One engine's row of the shared table."""

    name: str  # as shown ("Toto baseline", "exact forecaster, per call")
    seconds: float  # the median of its rounds
    round_seconds: tuple[float, ...]
    model_calls: int
    forwards: int  # in the profile's `forwards_unit`
    role: str = ""  # "baseline" (what the user runs today) or another registry role
    extrapolated: bool = False  # timed on some calls and scaled to all
    derived: bool = False  # computed from another engine's measured time, not timed itself


@dataclasses.dataclass(frozen=True)
class Speedup:
    """`title: ratio (reference seconds; compared seconds; note)`."""

    title: str
    ratio: Ratio
    reference: tuple[str, float]  # (name, seconds)
    compared: tuple[str, float]
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Equivalence:
    """One check of an engine against its reference; `outcome` None: not checked (`reason`)."""

    title: str
    outcome: dict[str, Any] | None
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Profile:
    backend: str  # "bundled", "toto-ts", "kronos"
    engines: dict[str, EngineTiming]  # by key, in the order shown
    speedups: list[Speedup]
    equivalences: list[Equivalence]
    details: Any  # the backend's own figures: its text lines (forecast.render), `to_json(profile)`
    forwards_unit: str = "Forwards"  # the table's column header for EngineTiming.forwards

    @property
    def speedup(self) -> float | None:
        """The headline: the first speed-up's median (None when nothing was compared)."""
        return self.speedups[0].ratio.median if self.speedups else None

    def to_json(self) -> dict[str, Any]:
        """The backend's JSON document (each keeps its own keys), tagged with the backend."""
        return {"backend": self.backend, **self.details.to_json(self)}


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """`1 call`, `1,400 calls`."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def seconds_text(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value:.4f} s"


def times_text(ratio: float) -> str:
    """12x, 1,568x; one decimal below 10x, where a whole number hides the difference."""
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"
