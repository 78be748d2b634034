"""What a config model declares, and the migration spec built from a command's arguments.

A model module (toto.py, kronos.py, chronos2.py beside this one) builds one
ConfigModel: the folder it edits, its schema, the values it migrates with their
command-line options and argument rules, how `config.name` follows them, and
what the backtest does with them at run time. The CLI makes one subcommand per
model from these declarations; the planner (migrations.py) edits files from them.
Nothing here imports more than the standard library: `migrate --help` loads it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from migrator.errors import BadInputError

Config = Mapping[str, Any]  # a file's "config" object


class RuntimeNote(Protocol):
    """What the backtest does with the new values at run time (e.g. Toto's clamp)."""

    def warning(self) -> str | None:
        """The user-facing warning when the values would not take effect as written, else None."""

    def as_dict(self) -> dict[str, Any]:
        """The same facts for --json."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One command-line option and the config value it sets."""

    flag: str  # "--samples"
    key: str  # the key under $.config it sets, e.g. "num_samples"
    type: type  # int or str: what click parses
    metavar: str
    help: str
    # value -> None, or why it is refused ("must be a positive integer, got 0"); the flag is prefixed
    check: Callable[[Any], str | None]

    @property
    def dest(self) -> str:
        """The parameter name click passes the value as."""
        return self.flag.lstrip("-").replace("-", "_")


def positive_int(value: int) -> str | None:
    return None if value >= 1 else f"must be a positive integer, got {value}"


@dataclasses.dataclass(frozen=True)
class Target:
    path: tuple[str, ...]  # keys from the top, e.g. ("config", "num_samples")
    value: Any  # an int or a str


@dataclasses.dataclass(frozen=True)
class MigrationSpec:
    """A model and the new values one run sets."""

    model: "ConfigModel"
    targets: tuple[Target, ...]

    @property
    def values(self) -> dict[str, Any]:
        """The new values by config key."""
        return {target.path[-1]: target.value for target in self.targets}


@dataclasses.dataclass(frozen=True)
class ConfigModel:
    name: str  # the subcommand, and the `model` a best/ selection must name
    folder: str  # HYPERPARAMS/<folder>/*.json
    schema: str  # schemas/<schema>.schema.json
    summary: str  # one line for `migrate --help`
    help: str  # the subcommand's help text
    options: tuple[Option, ...]
    # (old config, new config) -> the new config.name, or None to leave it alone;
    # called only when config.name is a string
    rename: Callable[[str, Config, Config], str | None]
    # all options required (toto, kronos), or each optional with at least one given (chronos2)
    all_required: bool = True
    # rules across options: the values by dest -> None, or the one-line error
    check_arguments: Callable[[Mapping[str, Any]], str | None] = lambda values: None
    # (new values by config key, environment, the user's backtest module) -> what the backtest
    # makes of them, or None; the module is read (never imported) for its own rules
    runtime_note: Callable[[Mapping[str, Any], Mapping[str, str], Path], RuntimeNote | None] = (
        lambda values, environ, backtest: None)
    # a file in the model's own folder without a "model" key is another shape: skip it
    # (reported) instead of refusing it as invalid
    skip_without_model: bool = False

    def spec(self, **values: Any) -> MigrationSpec:
        """The spec for these option values (by dest; None: not given). BadInputError on a bad one."""
        unknown = set(values) - {option.dest for option in self.options}
        if unknown:  # a caller's mistake, not the user's
            raise TypeError(f"{self.name} has no option {', '.join(sorted(unknown))}")
        given = [(option, values.get(option.dest)) for option in self.options]
        missing = [option.flag for option, value in given if value is None]
        if self.all_required and missing:
            raise BadInputError(f"missing {', '.join(missing)}")
        given = [(option, value) for option, value in given if value is not None]
        if not given:
            raise BadInputError(f"give at least one of {', '.join(o.flag for o in self.options)}")
        for option, value in given:
            problem = option.check(value)
            if problem:
                raise BadInputError(f"{option.flag} {problem}")
        problem = self.check_arguments(values)
        if problem:
            raise BadInputError(problem)
        return MigrationSpec(self, tuple(Target(("config", option.key), value) for option, value in given))
