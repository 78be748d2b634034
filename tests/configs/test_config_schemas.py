"""The bundled schemas: valid draft 2020-12, accept every real file, reject bad values with a JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from jsonschema import Draft202012Validator

from migrator.configs.models import MODELS as CONFIG_MODELS
from migrator.configs.schemas import load_schema, schema_error

MODELS = [model.schema for model in CONFIG_MODELS]

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

TOTO = {
    "symbol": "AAPL", "model": "toto",
    "config": {"name": "toto_opt_mean_1024_spb128", "num_samples": 1024, "aggregate": "mean",
               "samples_per_batch": 128},
    "validation": {"price_mae": 1.5, "pct_return_mae": 0.01, "latency_s": 2.0},
    "test": {"price_mae": 1.5, "pct_return_mae": 0.01, "latency_s": 2.0},
    "windows": {"val_window": 20, "test_window": 20, "forecast_horizon": 1},
    "metadata": {"source": "x", "kronos_pct_return_mae": None},
}
KRONOS = {
    "symbol": "AAPL", "model": "kronos",
    "config": {"name": "kronos_opt_temp0.150_p0.80_s192_k16_clip1.50_ctx192", "temperature": 0.15,
               "top_p": 0.8, "top_k": 16, "sample_count": 192, "max_context": 192, "clip": 1.5},
}
CHRONOS2 = {
    "symbol": "AAPL", "model": "chronos2",
    "config": {"name": "ctx512_bs128_median_uni", "model_id": "chronos2", "device_map": "cuda",
               "context_length": 512, "batch_size": 128, "quantile_levels": [0.1, 0.5, 0.9],
               "sample_count": 0, "use_multivariate": False, "predict_kwargs": {}},
    "metadata": {"source": "x", "context_length": 512, "toto_pct_return_mae": None},
}
DOCUMENTS = {"toto": TOTO, "kronos": KRONOS, "chronos2": CHRONOS2}


@pytest.mark.parametrize("model", MODELS)
def test_schema_is_valid_draft_2020_12_and_loads_from_the_package(model):
    schema = load_schema(model)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == json.loads((SCHEMAS_DIR / f"{model}.schema.json").read_text("utf-8"))


def test_every_real_file_is_valid_for_its_model_and_only_its_model(corpus):
    files = sorted(corpus.rglob("*.json"))
    assert files  # the corpus grows: count nothing, check every file it holds
    seen = set()
    for path in files:
        document = json.loads(path.read_bytes())
        model = document["model"]
        seen.add(model)
        for schema_model in MODELS:
            error = schema_error(schema_model, document)
            if schema_model == model:
                assert error is None, f"{path}: {error}"
            else:
                assert error is not None and error.startswith("$.model: "), (path, error)
    assert seen == {"toto", "kronos", "chronos2"}


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["config"].__setitem__("num_samples", "many"),
     "$.config.num_samples: 'many' is not of type 'integer'"),
    (lambda d: d["config"].__setitem__("num_samples", 0), "$.config.num_samples: 0 is less than the minimum of 1"),
    (lambda d: d["config"].__setitem__("samples_per_batch", True),
     "$.config.samples_per_batch: True is not of type 'integer'"),
    (lambda d: d["config"].__setitem__("samples_per_batch", 12.5),
     "$.config.samples_per_batch: 12.5 is not of type 'integer'"),
    (lambda d: d["config"].pop("aggregate"), "$.config: 'aggregate' is a required property"),
    (lambda d: d.pop("symbol"), "$: 'symbol' is a required property"),
    (lambda d: d.__setitem__("model", "kronos"), "$.model: 'toto' was expected"),
    (lambda d: d.__setitem__("config", []), "$.config: [] is not of type 'object'"),
    (lambda d: d["validation"].__setitem__("latency_s", -1), "$.validation.latency_s: -1 is less than the minimum of 0"),
    (lambda d: d["windows"].__setitem__("val_window", "20"), "$.windows.val_window: '20' is not of type 'integer'"),
    (lambda d: d["metadata"].__setitem__("toto_pct_return_mae", "n/a"),
     "$.metadata.toto_pct_return_mae: 'n/a' is not of type 'number', 'null'"),
])
def test_toto_errors_name_the_json_path(mutate, expected):
    document = copy.deepcopy(TOTO)
    assert schema_error("toto", document) is None
    mutate(document)
    assert schema_error("toto", document) == expected


@pytest.mark.parametrize("key, value, expected", [
    ("sample_count", 0, "$.config.sample_count: 0 is less than the minimum of 1"),
    ("sample_count", "320", "$.config.sample_count: '320' is not of type 'integer'"),
    ("top_p", 1.5, "$.config.top_p: 1.5 is greater than the maximum of 1"),
    ("temperature", 0, "$.config.temperature: 0 is less than or equal to the minimum of 0"),
    ("top_k", -1, "$.config.top_k: -1 is less than the minimum of 0"),
])
def test_kronos_errors_name_the_json_path(key, value, expected):
    document = copy.deepcopy(KRONOS)
    assert schema_error("kronos", document) is None
    document["config"][key] = value
    assert schema_error("kronos", document) == expected


def test_unknown_keys_are_allowed_everywhere():
    document = copy.deepcopy(TOTO)
    document["new_top"] = {"anything": [1, "x"]}
    for section in ("config", "validation", "test", "windows", "metadata"):
        document[section]["added_by_user"] = "x"
    assert schema_error("toto", document) is None


def test_long_offending_values_are_shortened():
    document = copy.deepcopy(TOTO)
    document["config"] = list(range(500))
    error = schema_error("toto", document)
    assert error.startswith("$.config: [0, 1, 2") and error.endswith("...") and len(error) < 200


_any_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=False),
              st.sampled_from([0, 1, 1.0, 0.0, -0.5, 1.5, 32, 2.0, "", "toto", "kronos", "mean"]), st.text(max_size=4)),
    lambda children: st.one_of(st.lists(children, max_size=2), st.dictionaries(st.text(max_size=3), children, max_size=2)),
    max_leaves=4)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, member in value.items():
            yield from _paths(member, prefix + (key,))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(MODELS), st.data())
def test_fast_verdict_equals_jsonschema_on_mutated_documents(model, data):
    document = copy.deepcopy(DOCUMENTS[model])
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(document))))
        if not path:
            document = data.draw(_any_value) if data.draw(st.integers(0, 9)) == 0 else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_any_value)
    expected = Draft202012Validator(load_schema(model)).is_valid(document)
    assert (schema_error(model, document) is None) == expected, document


def _leaves(schema):
    if isinstance(schema, dict):
        yield schema
        for sub in schema.get("properties", {}).values():
            yield from _leaves(sub)
        if isinstance(schema.get("items"), dict):
            yield from _leaves(schema["items"])


_VALUES = [None, True, False, 0, 1, -1, 7, 10**30, 2.0, 0.0, -0.0, 0.5, -0.5, 1.5, float("nan"), float("inf"),
           float("-inf"), "", "a", "toto", "chronos2", "\u00e9", [], [1], {}, {"a": 1}]


@pytest.mark.parametrize("model", MODELS)
def test_plain_python_leaf_checks_agree_with_jsonschema(model):
    from migrator.configs.schemas import _scalar_check

    checked = 0
    for leaf in _leaves(load_schema(model)):
        check = _scalar_check(leaf)
        if check is None:
            continue
        checked += 1
        validator = Draft202012Validator(leaf)
        for value in _VALUES:
            assert check(value) == validator.is_valid(value), (leaf, value)
    assert checked >= 10
