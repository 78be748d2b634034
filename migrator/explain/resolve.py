"""Per symbol: what the backtest will run with, and why.

Toto: FAST_TESTING's values when it is on, else HYPERPARAMS/toto/SYMBOL.json's
config (a key the file lacks, or no file: the module's default), then the
module's clamp. Kronos: DEFAULT_KRONOS_PARAMS updated from
HYPERPARAMS/kronos/SYMBOL.json, then MARKETSIM_KRONOS_SAMPLE_COUNT. HYPERPARAMS
is resolved like the backtest: $HYPERPARAM_ROOT, else the module's default,
relative to ROOT (the directory the backtest runs in). Files are untrusted: an
unreadable one makes that symbol's values Unknown with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

from migrator.errors import BadInputError
from migrator.files import CONFIG, UnreadableFile, read_user_file
from migrator.names import printable
from migrator.backtest import (
    HYPERPARAM_ROOT_ENV, KRONOS_SAMPLE_COUNT_ENV, TOTO_KEYS, BacktestFacts, HookEffect, Resolved, Unknown,
    budget_seconds, effective_toto, hook_effects, read_backtest_facts, to_json, toto_bounds,
)

MODEL_FOLDERS = ("toto", "kronos", "best")


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    path: Path
    state: str  # "loaded", "missing" or "invalid"
    config: dict[str, Any] | Unknown  # the file's `config` object (empty when missing)
    model: Any = None  # the record's `model` (best/ selections)
    config_path: Any = None  # the record's `config_path`: the config file a selection names

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"path": str(self.path), "state": self.state}
        if isinstance(self.config, Unknown):
            document["reason"] = self.config.reason
        return document


@dataclasses.dataclass(frozen=True)
class Explanation:
    facts: BacktestFacts
    hyperparams: Resolved  # the folder (Path) or Unknown
    bounds: dict[str, Resolved]
    fast_testing: Resolved
    symbols: dict[str, dict[str, Any]]
    hooks: list[HookEffect]

    def as_json(self) -> dict[str, Any]:
        return {
            "backtest": str(self.facts.path),
            "hyperparams": {"path": to_json(_path_text(self.hyperparams.value)), "why": self.hyperparams.why},
            "fast_testing": self.fast_testing.as_json(),
            "toto_bounds": {name: b.as_json() for name, b in self.bounds.items()},
            "settings": self.facts.as_json(),
            "symbols": {symbol: to_json(parts) for symbol, parts in self.symbols.items()},
            "hooks": [hook.as_json() for hook in self.hooks],
        }


def _path_text(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def explain(root: Path, backtest: Path, env: Mapping[str, str], symbols: tuple[str, ...] = ()) -> Explanation:
    """Everything `migrate explain` shows. Raises BadInputError for an unreadable backtest
    or a symbol that is not a plain file name."""
    for symbol in symbols:
        if not symbol or symbol.startswith(".") or "/" in symbol or "\\" in symbol or "\0" in symbol:
            raise BadInputError(f"--symbol {symbol!r}: not a symbol name")
    facts = read_backtest_facts(backtest, budget_seconds(env))
    hyperparams = _hyperparams(facts, root, env)
    if not symbols:
        symbols = _discover(hyperparams.value)
    fast = facts.resolved(facts.fast_testing, env)
    return Explanation(
        facts=facts,
        hyperparams=hyperparams,
        bounds=toto_bounds(facts, env),
        fast_testing=fast,
        symbols={symbol: _symbol(facts, root, hyperparams.value, fast, symbol, env) for symbol in symbols},
        hooks=hook_effects(facts.tree, facts.env_reads, env, facts.evaluator(env)),
    )


def _hyperparams(facts: BacktestFacts, root: Path, env: Mapping[str, str]) -> Resolved:
    resolved = facts.resolved(facts.hyperparam_root, env)
    if isinstance(resolved.value, Unknown):
        return resolved
    if not isinstance(resolved.value, str) or not resolved.value:
        return Resolved(Unknown(f"{HYPERPARAM_ROOT_ENV} resolves to {resolved.value!r}, not a folder"),
                        resolved.why)
    folder = Path(resolved.value)
    return Resolved(folder if folder.is_absolute() else root / folder, resolved.why + f"; relative to {root}")


def _discover(folder: Any) -> tuple[str, ...]:
    if not isinstance(folder, Path):
        return ()
    found = set()
    for model in MODEL_FOLDERS:
        try:
            found.update(path.stem for path in (folder / model).glob("*.json") if path.is_file())
        except OSError:
            continue
    return tuple(sorted(found))


def read_config(path: Path) -> ConfigFile:
    """A hyperparams record: its `config` object, or why it cannot be used. Never raises."""
    try:
        text = read_user_file(path, CONFIG).decode("utf-8")
    except UnreadableFile as exc:
        if exc.missing:
            return ConfigFile(path, "missing", {})
        return ConfigFile(path, "invalid", Unknown(f"{printable(str(path))}: cannot read: {exc.reason}"))
    except UnicodeDecodeError as exc:
        return ConfigFile(path, "invalid", Unknown(f"{printable(str(path))}: cannot read: {exc}"))
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return ConfigFile(path, "invalid", Unknown(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"))
    except ValueError:  # an integer past Python's int-digits limit (json.load fails in the backtest too)
        return ConfigFile(path, "invalid", Unknown(f"{path}: an integer with more digits than Python's limit "
                                                   f"of {sys.get_int_max_str_digits()}"))
    except RecursionError:
        return ConfigFile(path, "invalid", Unknown(f"{path}: JSON nested too deeply"))
    if not isinstance(record, dict):
        return ConfigFile(path, "invalid", Unknown(f"{path}: the top level is not an object"))
    config = record.get("config")
    if not isinstance(config, dict):
        return ConfigFile(path, "invalid", Unknown(f"{path}: $.config is not an object"), record.get("model"))
    return ConfigFile(path, "loaded", config, record.get("model"), record.get("config_path"))


def _file_value(file: ConfigFile, key: str, kind: str) -> Resolved | None:
    """The file's config[key] if it is of `kind` ("integer", "number" or "string"), Unknown
    if it is not, None when the file does not set it."""
    if isinstance(file.config, Unknown):
        return Resolved(file.config, file.config.reason)
    if key not in file.config:
        return None
    value = file.config[key]
    fits = {"integer": isinstance(value, int), "number": isinstance(value, (int, float)),
            "string": isinstance(value, str)}[kind]
    if not fits or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        reason = f"{file.path}: $.config.{key} is {json.dumps(value)[:60]}, not a finite {kind}"
        return Resolved(Unknown(reason), reason)
    return Resolved(value, f"$.config.{key} in {file.path}")


def _symbol(facts: BacktestFacts, root: Path, folder: Any, fast: Resolved, symbol: str,
            env: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(folder, Path):
        reason = f"the hyperparams folder is unknown: {folder.reason}" if isinstance(folder, Unknown) else "no folder"
        return {"toto": {"unknown": reason}, "kronos": {"unknown": reason}, "best": {"unknown": reason},
                "notes": []}
    best = read_config(folder / "best" / f"{symbol}.json")
    toto = _toto(facts, folder / "toto" / f"{symbol}.json", fast, env)
    kronos = _kronos(facts, folder / "kronos" / f"{symbol}.json", env)
    notes = []
    if best.state == "loaded" and best.model == "toto" and toto["file"]["state"] == "missing" \
            and toto["source"] == "module defaults":
        notes.append(f"best/{symbol}.json selects toto, but {toto['file']['path']} does not exist: the backtest "
                     "runs the module's defaults, and editing best/ changes nothing at run time")
    document = {"toto": toto, "kronos": kronos,
                "best": {**best.as_json(), "model": best.model if best.state == "loaded" else None,
                         "runs": _best_model(facts, best, symbol, env).as_json()},
                "notes": notes}
    if best.state == "loaded" and isinstance(best.model, str) and best.model.lower() == "chronos2":
        document["chronos2"] = _chronos2(root, folder, best, symbol)
    return document


def _best_model(facts: BacktestFacts, best: ConfigFile, symbol: str, env: Mapping[str, str]) -> Resolved:
    """The model the backtest's own selection function picks for the symbol: its guards (a test
    mode, a forced model) evaluated under `env`, then the best/ selection's model."""
    selection = facts.best_model
    if isinstance(selection, Unknown):
        return Resolved(selection, selection.reason)
    for guard in selection.guards:
        test = facts.guard_value(guard, symbol, env)
        if isinstance(test, Unknown):
            return Resolved(test, f"{guard.text} ({guard.location}): {test.reason}")
        if test:
            return Resolved(guard.returns, f"{guard.text} ({guard.location}) holds: returns {guard.returns!r}")
    guards = f"none of its {len(selection.guards)} guards holds; " if selection.guards else ""
    if best.state == "missing":
        if selection.missing is None:
            reason = f"{best.path} is missing and what {selection.name} then picks is not known"
            return Resolved(Unknown(reason), reason)
        return Resolved(selection.missing, f"{guards}{best.path} is missing: {selection.name} defaults to "
                                           f"{selection.missing!r}")
    if best.state != "loaded":
        reason = best.config.reason if isinstance(best.config, Unknown) else f"{best.path} cannot be used"
        return Resolved(Unknown(reason), reason)
    model = best.model if best.model is not None else selection.default
    if not isinstance(model, str):
        reason = f"{best.path}: $.model is {json.dumps(model)[:60]}, not a string"
        return Resolved(Unknown(reason), reason)
    return Resolved(model.lower(), f"{guards}$.model in {best.path}")


_CHRONOS2_KEYS = ("device_map", "batch_size", "context_length")


def _chronos2(root: Path, folder: Path, best: ConfigFile, symbol: str) -> dict[str, Any]:
    """A Chronos-2 selection: the config file it names (its `config_path`, relative to the root,
    else chronos2/SYMBOL.json) and that config's device / batch / context."""
    named = best.config_path
    if isinstance(named, str) and named and not Path(named).is_absolute() and ".." not in Path(named).parts \
            and "\0" not in named:
        path, why = root / named, f"$.config_path in {best.path}"
    elif named is None:
        path, why = folder / "chronos2" / f"{symbol}.json", f"{best.path} names no config_path: the model folder"
    else:
        reason = f"{best.path}: $.config_path {json.dumps(named)[:80]} is not a path inside the root"
        return {"config": {"path": None, "state": "invalid", "reason": reason},
                "values": {key: Resolved(Unknown(reason), reason).as_json() for key in _CHRONOS2_KEYS}}
    file = read_config(path)
    values = {}
    for key in _CHRONOS2_KEYS:
        found = _file_value(file, key, "string" if key == "device_map" else "integer")
        if found is None:
            reason = f"{path.name} {'is missing' if file.state == 'missing' else 'has no config.' + key}; " \
                     f"the selection's own value is {json.dumps(_selection_value(best, key))}"
            found = Resolved(Unknown(reason), reason)
        values[key] = found.as_json()
    return {"config": {**file.as_json(), "named_by": why}, "values": values}


def _selection_value(best: ConfigFile, key: str) -> Any:
    return best.config.get(key) if isinstance(best.config, dict) else None


def _toto(facts: BacktestFacts, path: Path, fast: Resolved, env: Mapping[str, str]) -> dict[str, Any]:
    file = read_config(path)
    values: dict[str, Resolved]
    if isinstance(fast.value, Unknown):
        values = {key: Resolved(fast.value, f"FAST_TESTING unknown: {fast.why}") for key in TOTO_KEYS}
        source = "unknown"
    elif fast.value:
        values = {key: facts.resolved(facts.fast_toto_params[key], env) for key in TOTO_KEYS}
        source = "FAST_TOTO_PARAMS (FAST_TESTING on)"
    else:
        values = {}
        for key, kind in zip(TOTO_KEYS, ("integer", "integer", "string")):
            from_file = _file_value(file, key, kind)
            if from_file is None:
                default = facts.resolved(facts.toto_defaults[key], env)
                values[key] = Resolved(default.value, f"{path.name} {'missing' if file.state == 'missing' else 'lacks ' + key}: "
                                                      f"module default {default.why}")
            else:
                values[key] = from_file
        source = "module defaults" if file.state == "missing" else "config file"
    clamped_by = facts.fast_clamped if source.startswith("FAST") else True
    if isinstance(clamped_by, Unknown):
        runtime = {"num_samples": clamped_by, "samples_per_batch": clamped_by, "clamped": False,
                   "why": [clamped_by.reason]}
    elif clamped_by:
        runtime = effective_toto(facts, values["num_samples"].value, values["samples_per_batch"].value,
                                 env, aggregate=values["aggregate"].value, symbol=path.stem).as_json()
    else:
        runtime = {"num_samples": values["num_samples"].value, "samples_per_batch": values["samples_per_batch"].value,
                   "clamped": False, "why": ["resolve_toto_params returns FAST_TOTO_PARAMS without the clamp"]}
    runtime["aggregate"] = values["aggregate"].value
    return {"file": file.as_json(), "source": source,
            "values": {key: r.as_json() for key, r in values.items()}, "runtime": to_json(runtime)}


def _kronos(facts: BacktestFacts, path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    file = read_config(path)
    defaults = facts.kronos_defaults
    if isinstance(defaults, Unknown):
        return {"file": file.as_json(), "values": {}, "sample_count": Resolved(defaults, defaults.reason).as_json()}
    values: dict[str, Resolved] = {}
    for key, setting in defaults.items():
        from_file = _file_value(file, key, "integer" if key in ("sample_count", "top_k", "max_context") else "number")
        values[key] = from_file if from_file is not None else facts.resolved(setting, env)
    sample_count = values.get("sample_count") or Resolved(
        Unknown("DEFAULT_KRONOS_PARAMS has no sample_count"), "DEFAULT_KRONOS_PARAMS has no sample_count")
    final = _kronos_override(facts, sample_count, env)
    return {"file": file.as_json(), "values": {k: r.as_json() for k, r in values.items()},
            "sample_count": final.as_json()}


def _kronos_override(facts: BacktestFacts, sample_count: Resolved, env: Mapping[str, str]) -> Resolved:
    read = facts.kronos_sample_count_read
    if read is None:
        return Resolved(sample_count.value, sample_count.why + f"; the module never reads {KRONOS_SAMPLE_COUNT_ENV}")
    written = facts.evaluator(env).written
    where = written.get(KRONOS_SAMPLE_COUNT_ENV, written.get("*"))
    if where is not None:
        reason = f"the module itself sets {KRONOS_SAMPLE_COUNT_ENV} ({where}); when is not followed"
        return Resolved(Unknown(reason), reason)
    raw = env.get(KRONOS_SAMPLE_COUNT_ENV)
    if raw is None:
        return Resolved(sample_count.value, sample_count.why + f"; {KRONOS_SAMPLE_COUNT_ENV} unset ({read.location})")
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count > 0:
        return Resolved(count, f"{KRONOS_SAMPLE_COUNT_ENV}={raw!r} overrides it ({read.location})")
    reason = (f"{KRONOS_SAMPLE_COUNT_ENV}={raw!r} is not a positive integer; what the module does with it "
              f"({read.location}) is not modelled")
    return Resolved(Unknown(reason), reason)
