"""Side-by-side checks that each engine forecasts its family's baseline distribution.

Each family's check lives beside its engines (toto/equivalence.py, kronos/equivalence.py); a
registry entry names the check that applies to its engine. `check_engines` runs every check
the registry names for a family; the tolerances and the family-wise alpha are shared here.
"""

from __future__ import annotations

from typing import Any

from migrator.forecast.registry import engines_of, label

PARAM_TOLERANCE = 1e-5
LOGIT_TOLERANCE = 1e-5
FAMILY_ALPHA = 0.01


def rel_diff(candidate: Any, reference: Any) -> float:
    """max|candidate - reference| / max|reference| of two tensors, in float64."""
    return ((candidate.double() - reference.double()).abs().max() / reference.double().abs().max()).item()


def check_engines(family: str, model: Any, data: Any, workload: Any, *, pairs: int, seed: int = 0
                  ) -> dict[str, dict]:
    """{engine label: its check's result} for every engine of `family` whose registry entry
    names a check, in registry order; `data` and `workload` are the family's, as Engine.run takes them."""
    return {label(engine): engine.check_equivalence(model, data, workload, pairs=pairs, seed=seed)
            for engine in engines_of(family) if engine.check is not None}
