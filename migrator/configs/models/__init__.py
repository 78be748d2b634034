"""The config models `migrate` can migrate: one module each, registered here.

Adding a model: a module beside these declaring MODEL (see base.ConfigModel), its
schema in schemas/<name>.schema.json, its entry below, and a test table in
tests/configs/models/. The CLI makes its subcommand from the declaration.
"""

from __future__ import annotations

from migrator.configs.models import chronos2, kronos, toto
from migrator.configs.models.base import ConfigModel

MODELS: tuple[ConfigModel, ...] = (toto.MODEL, kronos.MODEL, chronos2.MODEL)


def get(name: str) -> ConfigModel:
    """The registered model called `name`; KeyError if none."""
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(name)
