"""The bundled JSON Schemas of the hyperparams files, and checking documents against them.

The schemas ship inside the package (migrator.schemas) and load through
importlib.resources, so an installed wheel finds them as an editable checkout does.

Validation is jsonschema's. To afford it on 10,000 files, the schema is split
at its plain object nodes (only "type": "object", "required", "properties" and
annotations): such a node holds exactly when the value is an object that has
the required keys and whose listed members hold. Every other subschema (the
leaves here) is checked by a jsonschema validator, its verdicts cached for
repeated values. This gives jsonschema's answer at a third of the cost of
walking the whole document through it (a test compares the two on random
documents). Any failure is reported by jsonschema itself, on the whole document.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources
from typing import Any, Callable, Iterable, Union

_MAX_MESSAGE = 160  # jsonschema quotes the whole offending value; keep error lines short
_PLAIN_OBJECT_KEYWORDS = {"$schema", "$id", "title", "description", "type", "required", "properties"}


def load_schema(name: str) -> dict[str, Any]:
    """The bundled schema schemas/<name>.schema.json (a model's `schema`), as a dict."""
    resource = resources.files("migrator.schemas").joinpath(f"{name}.schema.json")
    if "/" in name or not resource.is_file():
        raise ValueError(f"no bundled schema {name!r}")
    return json.loads(resource.read_text("utf-8"))


def schema_error(schema: str, document: Any) -> str | None:
    """None if `document` is valid, else "<JSON path>: <message>" for its most relevant error."""
    if _holds(_tree(schema), document):
        return None
    return _full_error(schema, document)


def edited_values_error(schema: str, document: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> str | None:
    """schema_error(schema, document), for a document that differs from a valid one only in
    the values at `paths` (object keys from the top; the objects on the way kept).

    Only the subschemas on those paths can change their verdict, so only they are checked.
    """
    for path in paths:
        node: _Node = _tree(schema)
        value: Any = document
        for key in path:
            if not isinstance(node, _PlainObject):
                break  # a whole subschema above the edited value: check it on its value
            if key not in node.properties:
                node = _ALWAYS  # an unlisted key is unconstrained
                break
            node, value = node.properties[key], value[key]
        if not _holds(node, value):
            return _full_error(schema, document)
    return None


@dataclasses.dataclass(frozen=True)
class _PlainObject:
    required: tuple[str, ...]
    properties: dict[str, "_Node"]


_Node = Union[_PlainObject, Callable[[Any], bool]]


def _ALWAYS(value: Any) -> bool:
    return True


def _holds(node: _Node, value: Any) -> bool:
    if isinstance(node, _PlainObject):
        if type(value) is not dict:
            return False
        for key in node.required:
            if key not in value:
                return False
        for key, member in node.properties.items():
            if key in value and not _holds(member, value[key]):
                return False
        return True
    return node(value)


@functools.cache
def _tree(schema: str) -> _Node:
    validator = _validator(schema)
    return _split(validator.schema, validator)  # the schema it loaded: read the file once


def _split(schema: Any, validator: Any) -> _Node:
    if (isinstance(schema, dict) and schema.get("type") == "object"
            and set(schema) <= _PLAIN_OBJECT_KEYWORDS):
        return _PlainObject(tuple(schema.get("required", ())),
                            {key: _split(sub, validator) for key, sub in schema.get("properties", {}).items()})
    return _scalar_check(schema) or _cached_verdicts(validator.evolve(schema=schema).is_valid)


# Leaf schemas made only of these keywords are checked in plain Python (most of the values in
# a file are such leaves: a jsonschema call costs ~20x more). Same verdicts as jsonschema's
# draft 2020-12 on JSON values (the property test compares the two): bounds and minLength apply
# only to numbers / strings, NaN passes bounds, 2.0 is an integer, booleans are not numbers.
_SCALAR_KEYWORDS = {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                    "const", "title", "description"}
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int, float), "number": (int, float), "boolean": (bool,),
    "null": (type(None),), "object": (dict,), "array": (list,),
}
_BOUND_FAILS: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": lambda v, bound: v < bound,
    "maximum": lambda v, bound: v > bound,
    "exclusiveMinimum": lambda v, bound: v <= bound,
    "exclusiveMaximum": lambda v, bound: v >= bound,
}


def _scalar_check(schema: Any) -> Callable[[Any], bool] | None:
    """A plain-Python check of a leaf schema of _SCALAR_KEYWORDS, or None for jsonschema to check."""
    if not isinstance(schema, dict) or not set(schema) <= _SCALAR_KEYWORDS:
        return None
    types = schema.get("type", list(_PYTHON_TYPES))
    types = [types] if isinstance(types, str) else types
    const = schema.get("const", "")
    if not (isinstance(types, list) and set(types) <= set(_PYTHON_TYPES) and type(const) is str
            and all(type(schema.get(k, 0)) in (int, float) for k in _BOUND_FAILS)
            and type(schema.get("minLength", 0)) is int):
        return None
    allowed = frozenset(t for name in types for t in _PYTHON_TYPES[name])
    whole_floats_only = "integer" in types and "number" not in types  # 2.0 is an integer, 2.5 is not
    bounds = [(_BOUND_FAILS[k], schema[k]) for k in _BOUND_FAILS if k in schema]
    min_length = schema.get("minLength", 0)
    has_const = "const" in schema

    def check(value: Any) -> bool:
        kind = type(value)
        if kind not in allowed:
            return False
        if kind is float:
            if whole_floats_only and not value.is_integer():
                return False
        elif kind is str:
            return len(value) >= min_length and (not has_const or value == const)
        if has_const:
            return False
        if kind is int or kind is float:
            for fails, bound in bounds:
                if fails(value, bound):
                    return False
        return True

    return check


def _cached_verdicts(is_valid: Callable[[Any], bool]) -> Callable[[Any], bool]:
    verdicts: dict[tuple[type, Any], bool] = {}

    def check(value: Any) -> bool:
        if type(value) in (dict, list, float):  # unhashable, or rarely repeated
            return is_valid(value)
        key = (type(value), value)  # the type: True == 1 == 1.0, but only 1 is an integer
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = is_valid(value)
        return verdict

    return check


@functools.cache
def _validator(schema: str) -> Any:
    # Imported here: jsonschema costs ~50 ms to import, and `migrate --help` needs none of it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(schema))


def _full_error(schema: str, document: Any) -> str | None:
    from jsonschema.exceptions import best_match

    error = best_match(_validator(schema).iter_errors(document))
    if error is None:
        return None
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{error.json_path}: {message}"
