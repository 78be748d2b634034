"""Planning: byte-exact edits, config.name in files, invalid files (model tables: tests/configs/models/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from migrator.configs import migrations
from migrator.configs.migrations import plan_migration
from migrator.configs.models import get as get_model
from migrator.configs.models.kronos import MODEL as KRONOS
from migrator.configs.models.toto import MODEL as TOTO

TOTO_TEXT = ('{\n  "symbol": "AAPL",\n  "model": "toto",\n  "config": {\n'
             '    "name": "toto_opt_trimmed_mean_5_1024_spb128",\n    "num_samples": 1024,\n'
             '    "aggregate": "trimmed_mean_5",\n    "samples_per_batch": 128\n  },\n'
             '  "validation": {"price_mae": 0.0280, "pct_return_mae": 1e-3, "latency_s": 2.50}\n}')


def _root(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = tmp_path / "hyperparams" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


def _plan(root: Path, spec, symbols=()):
    return plan_migration(root, root / "hyperparams", spec, symbols)


def test_only_the_changed_values_bytes_differ(tmp_path):
    root = _root(tmp_path, {"toto/AAPL.json": TOTO_TEXT})
    plan = _plan(root, TOTO.spec(samples=32, batch=16))
    [change] = plan.changes
    expected = (TOTO_TEXT.replace("_1024_spb128", "_32_spb16").replace(": 1024,", ": 32,")
                .replace('"samples_per_batch": 128', '"samples_per_batch": 16'))
    assert change.after == expected.encode()
    assert [(e.json_path, e.before, e.after) for e in change.edits] == [
        ("$.config.num_samples", 1024, 32), ("$.config.samples_per_batch", 128, 16),
        ("$.config.name", "toto_opt_trimmed_mean_5_1024_spb128", "toto_opt_trimmed_mean_5_32_spb16")]
    assert (root / "hyperparams/toto/AAPL.json").read_text() == TOTO_TEXT  # planning writes nothing


@pytest.mark.parametrize("transform", [
    lambda t: t.replace("\n", "\r\n"),
    lambda t: t + "\n",
    lambda t: t.replace("  ", "    ").replace("AAPL", "AAPL \u00e9\u6f22\U0001F680"),
    lambda t: t.replace('"symbol": "AAPL",', '"symbol": "AAPL", "note": "\\u00e9 caf\u00e9 \\"q\\"",'),
])
def test_formatting_survives(tmp_path, transform):
    before = transform(TOTO_TEXT)
    root = _root(tmp_path, {"toto/AAPL.json": before})
    [change] = _plan(root, TOTO.spec(samples=64, batch=32)).changes
    expected = (before.replace("_1024_spb128", "_64_spb32").replace(": 1024,", ": 64,")
                .replace('"samples_per_batch": 128', '"samples_per_batch": 32'))
    assert change.after.decode() == expected


@pytest.mark.parametrize("name, expected", [
    ("toto_opt_mean_1024_spb128", "toto_opt_mean_32_spb16"),
    ("toto_opt_trimmed_mean_20_1024_spb128", "toto_opt_trimmed_mean_20_32_spb16"),
    ("toto_opt_mean_2048_spb128", None),  # spells other values: leave it
    ("toto_opt_mean_1024_spb128_v2", None),  # not the known pattern
    ("my_toto_1024_spb128", None),
    ("toto_opt_mean_01024_spb128", None),
])
def test_toto_name_rewritten_only_when_it_spells_the_old_values(tmp_path, name, expected):
    root = _root(tmp_path, {"toto/AAPL.json": TOTO_TEXT.replace("toto_opt_trimmed_mean_5_1024_spb128", name)})
    [change] = _plan(root, TOTO.spec(samples=32, batch=16)).changes
    after = json.loads(change.after)["config"]["name"]
    assert after == (expected or name)
    assert ("$.config.name" in [e.json_path for e in change.edits]) == (expected is not None)


def test_name_spelled_with_escapes_is_left_alone(tmp_path):
    text = TOTO_TEXT.replace('"toto_opt_trimmed_mean_5_1024_spb128"', '"toto\\u005fopt_mean_1024_spb128"')
    root = _root(tmp_path, {"toto/AAPL.json": text})
    [change] = _plan(root, TOTO.spec(samples=32, batch=16)).changes
    assert b'"toto\\u005fopt_mean_1024_spb128"' in change.after


@pytest.mark.parametrize("name, expected", [
    ("kronos_opt_temp0.300_p0.90_s320_k24_clip1.60_ctx192", "kronos_opt_temp0.300_p0.90_s64_k24_clip1.60_ctx192"),
    ("kronos_opt_temp0.300_p0.90_s256_k24_clip1.60_ctx192", None),
    ("kronos_s320_s320", None),
])
def test_kronos_name(tmp_path, name, expected):
    document = {"symbol": "X", "model": "kronos", "config": {
        "name": name, "temperature": 0.3, "top_p": 0.9, "top_k": 24, "sample_count": 320,
        "max_context": 192, "clip": 1.6}}
    root = _root(tmp_path, {"kronos/X.json": json.dumps(document, indent=2)})
    [change] = _plan(root, KRONOS.spec(samples=64)).changes
    after = json.loads(change.after)["config"]
    assert after["sample_count"] == 64 and after["name"] == (expected or name)


def test_corpus_plan_changes_only_the_targets(corpus_root):
    plan = _plan(corpus_root, TOTO.spec(samples=32, batch=16))
    assert not plan.invalid and not plan.warnings
    assert len(plan.changes) == 44  # 22 toto configs + their 22 selections
    assert sorted(s.label for s in plan.skipped) == [
        "hyperparams/best/AAVEUSD.json", "hyperparams/best/ABBV.json", "hyperparams/best/ABT.json",
        "hyperparams/best/GOOGL.json", "hyperparams/best/UNIUSD.json"]
    for change in plan.changes:
        before, after = json.loads(change.before), json.loads(change.after)
        assert after["config"]["num_samples"] == 32 and after["config"]["samples_per_batch"] == 16
        for key in ("num_samples", "samples_per_batch", "name"):
            before["config"].pop(key), after["config"].pop(key)
        assert before == after, change.label
        # Byte level: the files differ only on the lines of the changed values.
        old_lines, new_lines = change.before.split(b"\n"), change.after.split(b"\n")
        assert len(old_lines) == len(new_lines)
        assert {i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b} <= {
            i for i, line in enumerate(old_lines)
            if line.strip().startswith((b'"num_samples"', b'"samples_per_batch"', b'"name"'))}
    kronos = _plan(corpus_root, KRONOS.spec(samples=64))
    assert len(kronos.changes) == 26 and not kronos.invalid
    assert {s.reason for s in kronos.skipped} == {"model is 'toto'", "model is 'chronos2'"}


def test_already_at_target(tmp_path):
    text = TOTO_TEXT.replace("1024", "32").replace(": 128", ": 16")
    root = _root(tmp_path, {"toto/AAPL.json": text})
    plan = _plan(root, TOTO.spec(samples=32, batch=16))
    assert plan.changes == [] and plan.at_target == ["hyperparams/toto/AAPL.json"]


def test_a_float_spelling_of_the_target_is_rewritten_as_an_integer(tmp_path):
    root = _root(tmp_path, {"toto/AAPL.json": TOTO_TEXT.replace(": 1024,", ": 32.0,").replace(": 128\n", ": 16\n")})
    [change] = _plan(root, TOTO.spec(samples=32, batch=16)).changes
    assert [e.json_path for e in change.edits] == ["$.config.num_samples"]
    assert b'"num_samples": 32,' in change.after


@pytest.mark.parametrize("content, error", [
    (b'{"symbol": "AAPL",\n  "model": "toto" "config": {}}',
     "hyperparams/toto/AAPL.json:2:19: malformed JSON: Expecting ',' delimiter"),
    (b"", "hyperparams/toto/AAPL.json:1:1: malformed JSON: Expecting value"),
    (b'{"symbol": "caf\xe9"}', "hyperparams/toto/AAPL.json: not UTF-8 text (byte 0xe9 at offset 15)"),
    (b"[1, 2]", "hyperparams/toto/AAPL.json: $: not a JSON object (found an array)"),
    (TOTO_TEXT.replace(": 1024,", ': "many",').encode(),
     "hyperparams/toto/AAPL.json: $.config.num_samples: 'many' is not of type 'integer'"),
    (b"\xef\xbb\xbf" + TOTO_TEXT.encode(),
     "hyperparams/toto/AAPL.json:1:1: malformed JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)"),
])
def test_invalid_files_are_reported_with_file_and_place(tmp_path, content, error):
    root = _root(tmp_path, {"toto/AAPL.json": content, "toto/MSFT.json": TOTO_TEXT})
    plan = _plan(root, TOTO.spec(samples=32, batch=16))
    assert plan.invalid == [error]
    assert [c.label for c in plan.changes] == ["hyperparams/toto/MSFT.json"]


def test_unreadable_file_is_invalid(tmp_path, monkeypatch):
    root = _root(tmp_path, {"toto/AAPL.json": TOTO_TEXT})
    # Running as root, chmod cannot make a file unreadable: fail the reader's os.open() instead.
    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        if str(path).endswith("AAPL.json"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    assert _plan(root, TOTO.spec(samples=32, batch=16)).invalid == ["hyperparams/toto/AAPL.json: cannot read: Permission denied"]


def test_selection_without_model_is_skipped(tmp_path):
    root = _root(tmp_path, {"best/AAPL.json": '{"symbol": "AAPL", "config": {}}'})
    plan = _plan(root, TOTO.spec(samples=32, batch=16))
    assert [(s.label, s.reason) for s in plan.skipped] == [("hyperparams/best/AAPL.json", 'no "model" key')]


def test_a_recursion_error_after_parsing_is_an_invalid_file(tmp_path, monkeypatch):
    root = _root(tmp_path, {"toto/AAPL.json": TOTO_TEXT, "toto/MSFT.json": TOTO_TEXT.replace("AAPL", "MSFT")})

    def too_deep(schema, document):  # what jsonschema raises on a document deep enough
        if document["symbol"] == "AAPL":
            raise RecursionError("maximum recursion depth exceeded")
        return None

    monkeypatch.setattr(migrations, "schema_error", too_deep)
    plan = _plan(root, TOTO.spec(samples=32, batch=16))
    [line] = plan.invalid
    assert line.startswith("hyperparams/toto/AAPL.json:4:13: arrays/objects nested 2 deep")
    assert len(plan.changes) == 1


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
              st.sampled_from(["toto", "kronos", "chronos2", "cuda", 32, 16, 1024, 1.5, -1])),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["symbol", "model", "config", "name", "num_samples", "samples_per_batch",
                                         "aggregate", "sample_count", "device_map", "batch_size",
                                         "context_length", "model_id", "x"]), children, max_size=5)),
    max_leaves=12)


@st.composite
def _hostile_bytes(draw):
    """A real-shaped file with random byte edits, or any JSON value at all."""
    if draw(st.booleans()):
        return json.dumps(draw(_json_values)).encode()
    data = bytearray(TOTO_TEXT.encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        data[at:at + draw(st.integers(0, 3))] = draw(st.binary(max_size=3))
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_hostile_bytes(), model=st.sampled_from(["toto", "kronos", "chronos2"]))
def test_planning_never_raises_whatever_the_bytes(tmp_path_factory, content, model):
    root = tmp_path_factory.mktemp("hostile")
    spec = {"toto": lambda: TOTO.spec(samples=32, batch=16), "kronos": lambda: KRONOS.spec(samples=64),
            "chronos2": lambda: get_model("chronos2").spec(device_map="cpu", batch_size=16)}[model]()
    _root(root, {f"{model}/X.json": content, "best/X.json": content})
    plan = _plan(root, spec)  # any exception fails the test: a traceback for the user
    outcomes = ([c.label for c in plan.changes] + plan.at_target + [s.label for s in plan.skipped]
                + [line.split(":")[0] for line in plan.invalid])
    assert sorted(outcomes) == ["hyperparams/best/X.json", f"hyperparams/{model}/X.json"]
    assert all("\n" not in line for line in plan.invalid)


def test_a_selection_of_a_huge_model_value_is_skipped_with_a_short_reason(tmp_path):
    root = _root(tmp_path, {"best/X.json": json.dumps({"symbol": "X", "model": "m" * 10_000, "config": {}})})
    [skipped] = _plan(root, TOTO.spec(samples=32, batch=16)).skipped
    assert skipped.reason == "model is '" + "m" * 76 + "..."  # the repr cut at 80 characters
