"""The bundled JSON Schemas of the hyperparams files, and checking documents against them.

The schemas ship inside the package (migrator.schemas) and load through
importlib.resources, so an installed wheel finds them as an editable checkout does.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Iterable

MODELS = ("toto", "kronos")
_MAX_MESSAGE = 160  # jsonschema quotes the whole offending value; keep error lines short


def load_schema(model: str) -> dict[str, Any]:
    """The schema of `model`'s files ("toto" or "kronos"), as a dict."""
    if model not in MODELS:
        raise ValueError(f"no schema for model {model!r}")
    text = resources.files("migrator.schemas").joinpath(f"{model}.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator(model: str) -> Any:
    # Imported here: jsonschema costs ~50 ms to import, and `migrate --help` needs none of it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(model))


# Keywords under which an object's validity is the AND of its members' validity against
# their `properties` subschemas (type and required cannot change when only leaf values do).
_MEMBERWISE_KEYWORDS = {"$schema", "$id", "title", "description", "type", "required", "properties"}


@functools.cache
def _value_validator(model: str, path: tuple[str, ...]) -> Any:
    """A validator for the value at `path`, or None if its validity is not memberwise."""
    node = load_schema(model)
    for key in path:
        if not set(node) <= _MEMBERWISE_KEYWORDS:
            return None
        node = node.get("properties", {}).get(key, True)  # an unlisted key is unconstrained
    return _validator(model).evolve(schema=node)


def edited_values_error(model: str, document: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> str | None:
    """schema_error(model, document), for a document that differs from a valid one only in
    the values at `paths` (objects on the way unchanged but for those values).

    When every object on the way is validated memberwise, that is the validity of the
    new values alone: a few microseconds instead of a whole-document validation.
    """
    for path in paths:
        validator = _value_validator(model, path)
        value: Any = document
        for key in path:
            value = value[key]
        if validator is None or not validator.is_valid(value):
            return schema_error(model, document)
    return None


def schema_error(model: str, document: Any) -> str | None:
    """None if `document` is valid, else "<JSON path>: <message>" for its most relevant error."""
    validator = _validator(model)
    if validator.is_valid(document):
        return None
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(document))
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{error.json_path}: {message}"
