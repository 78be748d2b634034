"""value_spans/splice: locating values in JSON text and replacing only their bytes."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from migrator.configs.jsonspans import splice, value_spans

NS = ("config", "num_samples")
SPB = ("config", "samples_per_batch")


def test_spans_cover_exactly_the_values():
    text = '{"a": {"x": 1}, "config": {"name": "t_1_spb2", "num_samples": 1024,\n "samples_per_batch" :128 }}'
    spans = value_spans(text, [NS, SPB, ("config", "name")])
    assert text[slice(*spans[NS])] == "1024"
    assert text[slice(*spans[SPB])] == "128"
    assert text[slice(*spans[("config", "name")])] == '"t_1_spb2"'


def test_same_key_elsewhere_is_not_matched():
    text = '{"metadata": {"num_samples": 7, "config": {"num_samples": 8}}, "config": {"num_samples": 9}}'
    spans = value_spans(text, [NS])
    assert text[slice(*spans[NS])] == "9"


def test_tricky_strings_and_escaped_keys():
    text = ('{"s": "}{\\"num_samples\\": 5", "config": {"q": ["{", {"num_samples": 1}], '
            '"num_\\u0073amples": 64}}')
    spans = value_spans(text, [NS])
    assert text[slice(*spans[NS])] == "64"
    assert json.loads(text)["config"]["num_samples"] == 64


def test_duplicate_keys_last_wins_like_json_loads():
    text = '{"config": {"num_samples": 1}, "config": {"other": 2, "num_samples": 3, "num_samples": 4}}'
    assert text[slice(*value_spans(text, [NS])[NS])] == "4"
    # A later "config" without the key hides the earlier one's, as in json.loads.
    text = '{"config": {"num_samples": 1}, "config": {"other": 2}}'
    assert value_spans(text, [NS]) == {}


def test_a_later_duplicate_is_found_however_it_is_spelled():
    escaped = '{"config": {"num_samples": 1}, "x": [], "\\u0063onfig": {"num_samples": 2}}'
    assert json.loads(escaped)["config"]["num_samples"] == 2
    assert escaped[slice(*value_spans(escaped, [NS])[NS])] == "2"
    as_value = '{"config": {"num_samples": 1}, "x": "config", "config": {"num_samples": 3}}'
    assert as_value[slice(*value_spans(as_value, [NS])[NS])] == "3"


def test_missing_paths_and_non_objects():
    assert value_spans('{"config": 5}', [NS]) == {}
    assert value_spans("[1, 2]", [NS]) == {}
    assert value_spans("{}", [NS]) == {}


def test_splice_replaces_only_the_spans():
    text = '{"config": {"num_samples": 1024, "samples_per_batch": 128}}'
    spans = value_spans(text, [NS, SPB])
    assert splice(text, {spans[NS]: "32", spans[SPB]: "16"}) == \
        '{"config": {"num_samples": 32, "samples_per_batch": 16}}'


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=5),
       st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       st.sampled_from([None, 0, 1, 2, 4, "\t"]), st.booleans(), st.data())
def test_every_top_level_and_nested_span_parses_to_its_value(top, config, indent, ascii_only, data):
    document = {**top, "config": config}
    # Odd but legal whitespace between items: json.dumps puts separators only between
    # items, never inside strings, so the text stays valid whatever the keys hold.
    separators = (" ,\r\n  ", " :\t") if indent is None and data.draw(st.booleans()) else None
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only, separators=separators)
    parsed = json.loads(text)
    paths = [(key,) for key in parsed if key != "config"]
    if isinstance(parsed["config"], dict):
        paths += [("config", key) for key in parsed["config"]]
    spans = value_spans(text, paths)
    assert set(spans) == set(paths)
    for path, (start, end) in spans.items():
        expected = parsed[path[0]] if len(path) == 1 else parsed["config"][path[1]]
        assert json.loads(text[start:end]) == expected
