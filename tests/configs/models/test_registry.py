"""The registry: every model is a subcommand made from its declaration, with a bundled schema."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from migrator.cli import main
from migrator.configs.models import MODELS, get
from migrator.configs.schemas import load_schema


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_each_model_is_a_subcommand_with_its_declared_options(model):
    command = main.commands[model.name]
    options = {opt: param for param in command.params for opt in param.opts}
    for option in model.options:
        param = options[option.flag]
        assert param.name == option.dest and param.required == model.all_required
    assert {"--symbol", "--skip-invalid", "--root", "--dry-run", "--check", "--json"} <= set(options)
    assert command.short_help == model.summary


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_each_model_has_a_valid_bundled_schema_naming_it(model):
    schema = load_schema(model.schema)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["model"] == {"const": model.name}


def test_names_and_folders_are_unique_and_looked_up():
    assert len({m.name for m in MODELS}) == len({m.folder for m in MODELS}) == len(MODELS)
    assert all(get(m.name) is m for m in MODELS)
    with pytest.raises(KeyError):
        get("nope")
    with pytest.raises(ValueError, match="no bundled schema"):
        load_schema("../toto")


def test_an_unknown_option_name_is_a_programming_error():
    with pytest.raises(TypeError, match="toto has no option sample"):
        get("toto").spec(sample=32, batch=16)
