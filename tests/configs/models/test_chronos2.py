"""migrate chronos2: argument rules, config.name, the real files (byte-exact edits, revert), other shapes left alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from migrator.configs.migrations import plan_and_apply, plan_migration
from migrator.configs.models import get
from migrator.configs.models.chronos2 import MODEL as CHRONOS2, TORCH_DEVICE_TYPES
from migrator.configs.schemas import schema_error
from migrator.errors import BadInputError
from migrator.journal import Journal

EDITED_KEYS = ("device_map", "batch_size", "context_length", "name")
# Shapes of upstream's other Chronos-2 folders: no "model" key (UPSTREAM.md section 7).
OTHER_SHAPES = {
    "chronos2_v2/AAPL.json": '{\n  "symbol": "AAPL",\n  "context_length": 512,\n  "batch_size": 128,\n'
                             '  "device_map": "cuda"\n}',
    "crypto_lora_sweep/BTCUSD.json": '{"lora_rank": 8, "context_length": 1024, "batch_size": 64,\n'
                                     ' "device_map": "cuda", "results": [0.1, 0.2]}\n',
    "chronos2/NOMODEL.json": '{\n  "symbol": "NOMODEL",\n  "config": {"device_map": "cuda", "batch_size": 128}\n}',
}


def test_registered():
    assert get("chronos2") is CHRONOS2 and CHRONOS2.folder == "chronos2" and CHRONOS2.schema == "chronos2"


@pytest.mark.parametrize("values, message", [
    ({}, "give at least one of --device-map, --batch-size, --context-length"),
    ({"device_map": "gpu"}, "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got 'gpu'"),
    ({"device_map": "CUDA"}, "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got 'CUDA'"),
    ({"device_map": "cuda:"}, "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got 'cuda:'"),
    ({"device_map": "cpu\n"}, "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got 'cpu\\n'"),
    ({"device_map": ""}, "--device-map must be a torch device (cpu, cuda, cuda:N with N <= 127, mps, ...) or auto, got ''"),
    ({"batch_size": 0}, "--batch-size must be a positive integer, got 0"),
    ({"device_map": "cpu", "context_length": -512}, "--context-length must be a positive integer, got -512"),
])
def test_argument_rules(values, message):
    with pytest.raises(BadInputError) as error:
        CHRONOS2.spec(**values)
    assert str(error.value) == message


@pytest.mark.parametrize("values, targets", [
    ({"device_map": "cpu"}, {"device_map": "cpu"}),
    ({"device_map": "cuda:1", "batch_size": None}, {"device_map": "cuda:1"}),
    ({"device_map": "mps", "batch_size": 16, "context_length": 256},
     {"device_map": "mps", "batch_size": 16, "context_length": 256}),
    ({"context_length": 2048, "device_map": "auto"}, {"device_map": "auto", "context_length": 2048}),
])
def test_only_the_given_values_are_targets(values, targets):
    assert CHRONOS2.spec(**values).values == targets


@pytest.mark.parametrize("name, old, new, expected", [
    ("ctx512_bs128_median_uni", (512, 128), (512, 16), "ctx512_bs16_median_uni"),
    ("chronos2_ctx2048_bs2048_val20_test20", (2048, 2048), (1024, 2048), "chronos2_ctx1024_bs2048_val20_test20"),
    ("chronos2_ctx2048_bs2048_val20_test20", (2048, 2048), (256, 64), "chronos2_ctx256_bs64_val20_test20"),
    ("ctx512_bs128", (512, 128), (512, 64), "ctx512_bs64"),
    ("ctx512_bs128_median_uni", (512, 128), (512, 128), None),  # only device_map changed: nothing to spell
    ("chronos2_ctx512_bs2048_val20_test20", (1024, 2048), (256, 2048), None),  # spells other values
    ("ctx512_bs128_median_uni", (512, 256), (512, 16), None),
    ("direct_ctx1280_bs128_mean_minus_std_0.5_s512_eval2", (1280, 128), (640, 128), None),  # unknown pattern
    ("ctx0512_bs128_median", (512, 128), (256, 128), None),
    ("Chronos2_ctx512_bs128", (512, 128), (256, 128), None),
    ("my_chronos2_ctx512_bs128", (512, 128), (256, 128), None),
])
def test_name_rewritten_only_when_it_spells_the_old_values_in_a_known_pattern(name, old, new, expected):
    def config(values):
        return {"name": name, "context_length": values[0], "batch_size": values[1]}

    assert CHRONOS2.rename(name, config(old), config(new)) == expected


@pytest.fixture
def chronos2_root(corpus: Path, tmp_path: Path) -> Path:
    """A root with the real chronos2/ files, best/ (the real selections of every model),
    and folders of other shapes."""
    root = tmp_path / "project"
    hp = root / "hyperparams"
    shutil.copytree(corpus / "chronos2", hp / "chronos2")
    shutil.copytree(corpus / "hyperparams" / "best", hp / "best")
    for path in (corpus / "other-models" / "best").glob("*.json"):
        shutil.copy2(path, hp / "best" / path.name)
    for rel, text in OTHER_SHAPES.items():
        (hp / rel).parent.mkdir(parents=True, exist_ok=True)
        (hp / rel).write_text(text)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted((root / "hyperparams").rglob("*")) if p.is_file()}


def _assert_only_targets_differ(before: bytes, after: bytes, targets: dict) -> None:
    old, new = json.loads(before), json.loads(after)
    for key, value in targets.items():
        assert new["config"][key] == value and type(new["config"][key]) is type(value)
    for key in EDITED_KEYS:
        old["config"].pop(key, None), new["config"].pop(key, None)
    assert old == new  # metadata's own context_length / batch_size included
    old_lines, new_lines = before.split(b"\n"), after.split(b"\n")
    assert len(old_lines) == len(new_lines)
    for a, b in zip(old_lines, new_lines):
        if a != b:
            key = a.strip().split(b":")[0].strip(b'"')
            assert key.decode() in EDITED_KEYS and b.strip().startswith(f'"{key.decode()}":'.encode())
            assert a.endswith(b"\r") == b.endswith(b"\r") and a[: len(a) - len(a.lstrip())] == b[: len(b) - len(b.lstrip())]


@pytest.mark.parametrize("values", [
    {"device_map": "cpu"},
    {"batch_size": 32},
    {"context_length": 256},
    {"device_map": "cuda:0", "batch_size": 64, "context_length": 1024},
])
def test_every_real_file_migrates_byte_exact_and_reverts(chronos2_root, corpus, values):
    original = _files(chronos2_root)
    spec = CHRONOS2.spec(**values)
    plan = plan_migration(chronos2_root, chronos2_root / "hyperparams", spec)
    assert not plan.invalid and not plan.warnings
    real_chronos2 = sorted(f"hyperparams/chronos2/{p.name}" for p in (corpus / "chronos2").glob("*.json"))
    selections = sorted(f"hyperparams/best/{p.name}" for p in (corpus / "other-models" / "best").glob("*.json"))
    touched = sorted(c.label for c in plan.changes) + sorted(plan.at_target)
    assert sorted(touched) == sorted(real_chronos2 + selections)  # every real file, nothing else
    skipped = {s.label: s.reason for s in plan.skipped}
    assert skipped.pop("hyperparams/chronos2/NOMODEL.json") == 'no "model" key'
    for label, reason in skipped.items():  # the real best/ selections of the other models
        model = json.loads(original[label])["model"]
        assert model != "chronos2" and reason == f"model is {model!r}"
    assert skipped

    migration_id = plan_and_apply(chronos2_root, chronos2_root / "hyperparams", plan.spec, (), ["migrate", "chronos2"], write=True, skip_invalid=False)[1]
    assert migration_id is not None
    migrated = _files(chronos2_root)
    changed = {c.label for c in plan.changes}
    for label, before in original.items():
        if label in changed:
            _assert_only_targets_differ(before, migrated[label], values)
            assert schema_error("chronos2", json.loads(migrated[label])) is None
        else:
            assert migrated[label] == before, f"{label} was touched"
    for rel in OTHER_SHAPES:
        assert migrated[f"hyperparams/{rel}"] == OTHER_SHAPES[rel].encode()

    again = plan_migration(chronos2_root, chronos2_root / "hyperparams", spec)
    assert again.changes == []  # idempotent
    result = Journal(chronos2_root).revert(migration_id)
    assert set(result.restored) == changed
    assert _files(chronos2_root) == original


def test_real_names_follow_the_values(chronos2_root):
    plan = plan_migration(chronos2_root, chronos2_root / "hyperparams",
                          CHRONOS2.spec(batch_size=64, context_length=256))
    names = {c.label: json.loads(c.after)["config"]["name"] for c in plan.changes}
    assert names["hyperparams/chronos2/AAPL.json"] == "ctx256_bs64_median_uni"
    assert names["hyperparams/chronos2/ABBV.json"] == "chronos2_ctx256_bs64_val20_test20"
    assert names["hyperparams/best/ABT.json"] == "chronos2_ctx256_bs64_val20_test20"
    # Not a known pattern: left alone.
    assert names["hyperparams/chronos2/SKYUSD.json"] == "direct_ctx1280_bs128_mean_minus_std_0.5_s512_eval2"
    for change in plan.changes:
        edits = {e.json_path: (e.before, e.after) for e in change.edits}
        if "$.config.name" in edits:
            before = edits["$.config.name"][0]
            assert "ctx" in before and before != names[change.label]


@pytest.mark.parametrize("transform", [
    lambda b: b.replace(b"\n", b"\r\n"),
    lambda b: b.rstrip(b"\n"),
    lambda b: b.rstrip(b"\n") + b"\n",
    lambda b: b.replace(b"\n  ", b"\n    ").replace(b"\n    ", b"\n\t"),
    lambda b: b.replace(b'"symbol": "', b'"note": "caf\xc3\xa9 \\u00e9 \\"q\\"",\n  "symbol": "'),
    lambda b: b.replace(b'"batch_size": ', b'"batch_size":   '),
])
def test_formatting_of_real_files_survives(chronos2_root, transform):
    folder = chronos2_root / "hyperparams" / "chronos2"
    originals = {}
    for path in sorted(folder.glob("*.json")):
        if path.name != "NOMODEL.json":
            path.write_bytes(transform(path.read_bytes()))
            originals[path.name] = path.read_bytes()
    plan = plan_migration(chronos2_root, chronos2_root / "hyperparams",
                          CHRONOS2.spec(device_map="cpu", batch_size=32))
    assert not plan.invalid
    by_label = {c.label: c for c in plan.changes}
    for name, before in originals.items():
        change = by_label[f"hyperparams/chronos2/{name}"]
        assert change.before == before
        old = json.loads(before)["config"]
        expected = before
        for key, value in (("device_map", "cpu"), ("batch_size", 32)):
            spelled = json.dumps(old[key]).encode()
            start = expected.index(f'"{key}":'.encode())
            at = expected.index(spelled, start)
            expected = expected[:at] + json.dumps(value).encode() + expected[at + len(spelled):]
        new_name = CHRONOS2.rename(old["name"], old, {**old, "device_map": "cpu", "batch_size": 32})
        if new_name:
            expected = expected.replace(f'"{old["name"]}"'.encode(), f'"{new_name}"'.encode(), 1)
        assert change.after == expected


@pytest.mark.parametrize("mutate, error", [
    (lambda c: c.__setitem__("device_map", 5), "$.config.device_map: 5 is not of type 'string', 'object'"),
    (lambda c: c.__setitem__("batch_size", "128"), "$.config.batch_size: '128' is not of type 'integer'"),
    (lambda c: c.__setitem__("context_length", 0), "$.config.context_length: 0 is less than the minimum of 1"),
    (lambda c: c.pop("batch_size"), "$.config: 'batch_size' is a required property"),
    (lambda c: c.__setitem__("quantile_levels", [0.1, 1.5]),
     "$.config.quantile_levels[1]: 1.5 is greater than or equal to the maximum of 1"),
])
def test_invalid_files_stop_the_plan_with_a_json_path(chronos2_root, mutate, error):
    path = chronos2_root / "hyperparams" / "chronos2" / "GE.json"
    document = json.loads(path.read_bytes())
    mutate(document["config"])
    path.write_text(json.dumps(document, indent=2))
    plan = plan_migration(chronos2_root, chronos2_root / "hyperparams", CHRONOS2.spec(device_map="cpu"))
    assert plan.invalid == [f"hyperparams/chronos2/GE.json: {error}"]


def test_a_placement_map_device_map_is_replaced_whole(tmp_path):
    text = ('{"symbol": "X", "model": "chronos2", "config": {"name": "ctx64_bs8", "model_id": "m",\n'
            ' "device_map": {"encoder": 0, "decoder": "cpu"}, "context_length": 64, "batch_size": 8}}')
    (tmp_path / "hyperparams" / "chronos2").mkdir(parents=True)
    (tmp_path / "hyperparams" / "chronos2" / "X.json").write_text(text)
    [change] = plan_migration(tmp_path, tmp_path / "hyperparams", CHRONOS2.spec(device_map="cpu")).changes
    assert change.after == text.replace('{"encoder": 0, "decoder": "cpu"}', '"cpu"').encode()


_extra = st.dictionaries(st.text("abcxyz_", min_size=1, max_size=6).filter(
    lambda k: k not in {"symbol", "model", "config", *EDITED_KEYS}),
    st.one_of(st.integers(-5, 5000), st.text("ab_ctx0123", max_size=8), st.booleans(), st.none()), max_size=3)


def _render(document: dict, indent, final_newline: bool, crlf: bool) -> bytes:
    text = json.dumps(document, indent=indent) + ("\n" if final_newline else "")
    return (text.replace("\n", "\r\n") if crlf else text).encode()


@st.composite
def chronos2_files(draw):
    """(the file's bytes, a function giving the bytes expected with new config values)."""
    ctx = draw(st.sampled_from([512, 1024, 2048, 4096, 8192]))
    bs = draw(st.sampled_from([64, 128, 1024, 2048]))
    pattern = draw(st.sampled_from(["ctx{}_bs{}_median_uni", "chronos2_ctx{}_bs{}_val20_test20"]))
    config = {"name": pattern.format(ctx, bs), "model_id": "chronos2",
              "device_map": draw(st.sampled_from(["cuda", "cpu", "cuda:0"])),
              "context_length": ctx, "batch_size": bs, "quantile_levels": [0.1, 0.5, 0.9], **draw(_extra)}
    document = {"symbol": "SYM", "model": "chronos2", "config": config,
                "metadata": {"context_length": ctx, "batch_size": bs}, **draw(_extra)}
    document = dict(draw(st.permutations(list(document.items()))))
    document["config"] = dict(draw(st.permutations(list(config.items()))))
    layout = (draw(st.sampled_from([None, 2, 4, "\t"])), draw(st.booleans()), draw(st.booleans()))

    def expected(values: dict) -> bytes:
        new = json.loads(json.dumps(document))  # same key order
        new["config"].update(values)
        new["config"]["name"] = pattern.format(new["config"]["context_length"], new["config"]["batch_size"])
        return _render(new, *layout)

    return _render(document, *layout), expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(files=st.lists(chronos2_files(), min_size=1, max_size=3),
       values=st.fixed_dictionaries({}, optional={"device_map": st.sampled_from(["cpu", "mps", "cuda:1"]),
                                                  "batch_size": st.sampled_from([1, 16, 128]),
                                                  "context_length": st.sampled_from([64, 512, 8192])}).filter(bool))
def test_random_files_round_trip_byte_exact(tmp_path_factory, files, values):
    root = tmp_path_factory.mktemp("c2").resolve()
    folder = root / "hyperparams" / "chronos2"
    folder.mkdir(parents=True)
    for i, (content, _) in enumerate(files):
        (folder / f"S{i}.json").write_bytes(content)
    original = _files(root)
    plan = plan_migration(root, root / "hyperparams", CHRONOS2.spec(**values))
    assert not plan.invalid
    migration_id = plan_and_apply(root, root / "hyperparams", plan.spec, (), ["migrate", "chronos2"], write=True, skip_invalid=False)[1]
    for i, (_, expected) in enumerate(files):
        assert (folder / f"S{i}.json").read_bytes() == expected(values)
    if migration_id is not None:
        Journal(root).revert(migration_id)
    assert _files(root) == original


DEVICE_STRINGS = [
    "cuda", "cuda:0", "cuda:01", "cuda:00", "cuda:1", "cuda:-1", "cuda:+1", "cuda: 1", "cuda:1:2",
    "cuda:", " cuda", "cuda ", "CUDA", "Cuda", "cuda:0x1", "cuda:٣", "cpu", "cpu:0", "cpu\n", "",
    "mps", "mps:0", "meta", "meta:1", "gpu", "xla:0", "privateuseone:3", "cuda:127",
    "cuda:9999999999999999999", "auto", "auto:0", "balanced",
]


def _accepted(value: str) -> bool:
    try:
        CHRONOS2.spec(device_map=value)
    except BadInputError:
        return False
    return True


def _torch_takes(value: str) -> bool:
    """torch.device parses it to the same device (a wrapped index, cuda:128 -> cuda:-128, does not)."""
    import warnings

    torch = pytest.importorskip("torch")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'mkldnn' is deprecated, still accepted
            return str(torch.device(value)) == value
    except RuntimeError:
        return False


@pytest.mark.parametrize("value", DEVICE_STRINGS + [*TORCH_DEVICE_TYPES, *(f"{t}:2" for t in TORCH_DEVICE_TYPES)],
                         ids=repr)
def test_device_map_accepts_exactly_what_torch_device_accepts(value: str) -> None:
    """... plus "auto", accelerate's automatic placement, which from_pretrained(device_map=)
    takes and torch.device does not."""
    accepted = _accepted(value)
    assert accepted == (_torch_takes(value) or value == "auto"), value


@pytest.mark.parametrize("index", [127, 128, 255, 256, 2**31 - 1])
def test_an_index_torch_would_wrap_is_refused(index: int) -> None:
    torch = pytest.importorskip("torch")
    wrapped = str(torch.device(f"cuda:{index}")) != f"cuda:{index}"
    assert _accepted(f"cuda:{index}") == (not wrapped)
