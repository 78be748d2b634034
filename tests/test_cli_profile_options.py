"""`migrate profile`: an option the chosen backend does not take is a usage error (exit 2),
checked before anything is imported or run; each backend declares the options it takes."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.cli.profile import PROFILE_BACKENDS
from migrator.errors import BadInputError


@pytest.mark.parametrize("args, named", [
    (["--kronos-samples", "8"], "--kronos-samples"),
    (["--no-kronos"], "--no-kronos"),
    (["--kronos-model", "base", "--engine", "baseline"], "--engine, --kronos-model"),
    (["--aggregate", "median"], "--aggregate"),
])
def test_an_option_toto_ts_does_not_take_is_a_usage_error(args: list[str], named: str) -> None:
    result = CliRunner().invoke(main, ["profile", "--backend", "toto-ts", *args, "--json"])
    assert result.exit_code == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert message.startswith(f"{named} do") and "not apply to --backend toto-ts" in message


def test_the_options_a_backend_takes_reach_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import migrator.forecast.toto_ts_profile as toto_ts

    reached: dict = {}

    def stand_in(**kwargs: object) -> None:
        reached.update(kwargs)
        raise BadInputError("reached the backend")

    monkeypatch.setattr(toto_ts, "run_toto_ts_profile", stand_in)
    result = CliRunner().invoke(main, ["profile", "--backend", "toto-ts", "--sims", "3", "--model", "base",
                                       "--rounds", "1", "--threads", "1", "-q"])
    assert result.exit_code == 2 and "reached the backend" in result.stderr
    assert reached["sims"] == 3 and reached["model"] == "base" and reached["rounds"] == 1


def test_every_declared_option_is_an_option_of_profile() -> None:
    command = main.commands["profile"]
    names = {param.name for param in command.params if isinstance(param, click.Option)}
    for backend, takes in PROFILE_BACKENDS.items():
        assert takes is None or takes <= names, (backend, takes - names)
