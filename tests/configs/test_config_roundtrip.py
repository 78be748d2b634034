"""Migrate then revert through the journal: byte-exact, on the real corpus and on random files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from migrator.configs.migrations import plan_and_apply, plan_migration
from migrator.configs.models.kronos import MODEL as KRONOS
from migrator.configs.models.toto import MODEL as TOTO
from migrator.journal import Journal


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted((root / "hyperparams").rglob("*")) if p.is_file()}


def test_corpus_round_trip(corpus_root):
    original = _files(corpus_root)
    for spec, key_paths in ((TOTO.spec(samples=32, batch=16), ("num_samples", "samples_per_batch")),
                            (KRONOS.spec(samples=64), ("sample_count",))):
        plan = plan_migration(corpus_root, corpus_root / "hyperparams", spec)
        migration_id = plan_and_apply(corpus_root, corpus_root / "hyperparams", plan.spec, (), ["migrate", spec.model.name], write=True, skip_invalid=False)[1]
        assert migration_id is not None
        migrated = _files(corpus_root)
        changed = {c.label for c in plan.changes}
        for label, before in original.items():
            after = migrated[label]
            if label not in changed:
                assert after == before, f"{label} was touched"  # other models, other folders
                continue
            old, new = json.loads(before), json.loads(after)
            assert old["model"] == spec.model.name
            for key in key_paths:
                assert new["config"][key] == {"num_samples": 32, "samples_per_batch": 16,
                                              "sample_count": 64}[key]
                old["config"].pop(key), new["config"].pop(key)
            old["config"].pop("name"), new["config"].pop("name")
            assert old == new, label
        result = Journal(corpus_root).revert(migration_id)
        assert set(result.restored) == {c.label for c in plan.changes}
        assert _files(corpus_root) == original


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_KNOWN = {"symbol", "model", "config", "validation", "name", "num_samples", "aggregate", "samples_per_batch"}
_extra = st.dictionaries(_text.filter(lambda key: key not in _KNOWN), st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                                          _text, st.none(), st.booleans()), max_size=3)


@st.composite
def toto_files(draw):
    num_samples = draw(st.sampled_from([64, 128, 512, 1024, 2048, 4096]))
    batch = draw(st.sampled_from([16, 32, 64, 128, 256, 512]).filter(lambda b: b <= num_samples))
    aggregate = draw(st.sampled_from(["mean", "median", "trimmed_mean_5", "trimmed_mean_20"]))
    config = {"name": f"toto_opt_{aggregate}_{num_samples}_spb{batch}", "num_samples": num_samples,
              "aggregate": aggregate, "samples_per_batch": batch, **draw(_extra)}
    document = {"symbol": draw(_text.filter(bool)), "model": "toto", "config": config,
                "validation": {"price_mae": draw(st.floats(0, 1e4)), "pct_return_mae": 0.0280,
                               "latency_s": draw(st.floats(0, 100))},
                **draw(_extra)}
    # Random key order at both levels.
    document = dict(draw(st.permutations(list(document.items()))))
    document["config"] = dict(draw(st.permutations(list(config.items()))))
    text = json.dumps(document, indent=draw(st.sampled_from([None, 1, 2, 4, "\t"])),
                      ensure_ascii=draw(st.booleans()))
    text = text.replace("0.028", "0.0280")  # a spelling json.dumps never writes
    if draw(st.booleans()):
        text += "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


# Values without "_", so no extra value can contain a name segment like "_s160_".
_kronos_extra = st.dictionaries(_text.filter(lambda key: key not in _KNOWN | {"sample_count"}),
                                _text.filter(lambda s: "_" not in s), max_size=3)


@st.composite
def kronos_files(draw):
    count = draw(st.sampled_from([160, 192, 224, 256, 320]))
    config = {"name": f"kronos_opt_temp0.150_p0.80_s{count}_k16_clip1.50_ctx192", "temperature": 0.15,
              "top_p": 0.8, "top_k": 16, "sample_count": count, "max_context": 192, "clip": 1.5,
              **draw(_kronos_extra)}
    document = {"symbol": draw(_text.filter(lambda s: s and "_" not in s)), "model": "kronos", "config": config,
                **draw(_kronos_extra)}
    document = dict(draw(st.permutations(list(document.items()))))
    document["config"] = dict(draw(st.permutations(list(config.items()))))
    text = json.dumps(document, indent=draw(st.sampled_from([None, 2, 4, "\t"])), ensure_ascii=draw(st.booleans()))
    text += "\n" if draw(st.booleans()) else ""
    return (text.replace("\n", "\r\n") if draw(st.booleans()) else text).encode("utf-8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(kronos_files(), min_size=1, max_size=3), st.sampled_from([32, 64, 160, 512]))
def test_random_kronos_files_round_trip_byte_exact(files, count):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        folder = root / "hyperparams" / "kronos"
        folder.mkdir(parents=True)
        for i, content in enumerate(files):
            (folder / f"S{i}.json").write_bytes(content)
        original = _files(root)
        plan = plan_migration(root, root / "hyperparams", KRONOS.spec(samples=count))
        assert not plan.invalid
        migration_id = plan_and_apply(root, root / "hyperparams", plan.spec, (), ["migrate", "kronos"], write=True, skip_invalid=False)[1]
        for i, content in enumerate(files):
            old_count = json.loads(content)["config"]["sample_count"]
            expected = content.replace(f'"sample_count": {old_count}'.encode(), f'"sample_count": {count}'.encode())
            expected = expected.replace(f"_s{old_count}_".encode(), f"_s{count}_".encode())
            assert (folder / f"S{i}.json").read_bytes() == expected
        if migration_id is not None:
            Journal(root).revert(migration_id)
        assert _files(root) == original


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(toto_files(), min_size=1, max_size=4),
       st.sampled_from([(32, 16), (64, 32), (256, 128), (4096, 512)]))
def test_random_files_round_trip_byte_exact(files, targets):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        folder = root / "hyperparams" / "toto"
        folder.mkdir(parents=True)
        for i, content in enumerate(files):
            (folder / f"S{i}.json").write_bytes(content)
        original = _files(root)
        plan = plan_migration(root, root / "hyperparams", TOTO.spec(samples=targets[0], batch=targets[1]))
        assert not plan.invalid
        migration_id = plan_and_apply(root, root / "hyperparams", plan.spec, (), ["migrate", "toto"], write=True, skip_invalid=False)[1]
        for i, content in enumerate(files):
            after = (folder / f"S{i}.json").read_bytes()
            old, new = json.loads(content), json.loads(after)
            assert (new["config"]["num_samples"], new["config"]["samples_per_batch"]) == targets
            new_name = f"toto_opt_{old['config']['aggregate']}_{targets[0]}_spb{targets[1]}"
            assert new["config"]["name"] == new_name
            for key in ("num_samples", "samples_per_batch", "name"):
                old["config"].pop(key), new["config"].pop(key)
            assert old == new
            # Byte level: exactly the three values' spellings differ.
            expected = content
            for before_text, after_text in (
                    (f'"num_samples": {json.loads(content)["config"]["num_samples"]}', f'"num_samples": {targets[0]}'),
                    (f'"samples_per_batch": {json.loads(content)["config"]["samples_per_batch"]}',
                     f'"samples_per_batch": {targets[1]}'),
                    (f'"name": "{json.loads(content)["config"]["name"]}"', f'"name": "{new_name}"')):
                assert expected.count(before_text.encode()) == 1
                expected = expected.replace(before_text.encode(), after_text.encode())
            assert after == expected
        if migration_id is not None:
            Journal(root).revert(migration_id)
        assert _files(root) == original
