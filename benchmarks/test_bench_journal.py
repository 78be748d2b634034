"""The journal's share of `migrate toto` on 10,000 files (pytest-benchmark).

write_migration on 10,000 small files (planned before it): re-read and check each file, keep the
originals (copies, one pack, one fsync), record, durable "pending", batched
atomic replacement (one syncfs; per file: re-check the bytes, link the replaced
inode so the rename frees nothing, rename; one fsync per folder), "applied".
Target on the 2-core reference box: <= ~1.2 s, so the whole process stays <= 3.0 s.

Side by side (`-m slow`): the same apply with one fsync per file, the
straightforward way the batch replaces (~0.4 ms per fsync here); and revert.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrator import atomic
from migrator.journal import FileChange, Journal, write_migration

N_FILES = 10_000


def _config(index: int) -> bytes:
    return (b'{\n  "symbol": "S%05d",\n  "model": "toto",\n  "config": {\n'
            b'    "name": "toto_opt_mean_1024_spb128",\n    "num_samples": 1024,\n'
            b'    "aggregate": "mean",\n    "samples_per_batch": 128\n  },\n'
            b'  "validation": {"price_mae": 470.00309687499976, "pct_return_mae": 0.0133, '
            b'"latency_s": 5.9}\n}' % index) + b" " * 700  # ~1 KB, like the real files


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pristine") / "hyperparams" / "toto"
    folder.mkdir(parents=True)
    for index in range(N_FILES):
        (folder / f"S{index:05d}.json").write_bytes(_config(index))
    return folder.parent.parent


def _changes(root: Path) -> list[FileChange]:
    folder = root / "hyperparams" / "toto"
    return [FileChange(folder / f"S{i:05d}.json", _config(i),
                       _config(i).replace(b"1024", b"32").replace(b"128", b"16"))
            for i in range(N_FILES)]


def _bench_apply(benchmark, pristine: Path, tmp_path: Path) -> None:
    roots: list[Path] = []

    def fresh_tree():
        # A new copy per round, none deleted while timing matters: freeing 10,000
        # inodes is slow and erratic on this box's shared disk.
        roots.append(tmp_path / f"root{len(roots)}")
        shutil.copytree(pristine, roots[-1])
        return (roots[-1], _changes(roots[-1])), {}

    def apply(root: Path, changes: list[FileChange]) -> None:
        write_migration(root, "toto", ["migrate", "toto"], lambda: changes)

    benchmark.pedantic(apply, setup=fresh_tree, rounds=3, iterations=1)
    for root in roots:
        assert all(c.path.read_bytes() == c.after for c in _changes(root)[::97])
        assert Journal(root).history()[0].state == "applied"


@pytest.mark.benchmark(group="journal-apply-10k")
def test_journal_apply_10k(benchmark, pristine, tmp_path):
    _bench_apply(benchmark, pristine, tmp_path)


@pytest.mark.slow
@pytest.mark.benchmark(group="journal-apply-10k")
def test_journal_apply_10k_one_fsync_per_file(benchmark, pristine, tmp_path,
                                               monkeypatch):
    monkeypatch.setattr(atomic, "BATCH_MIN_FILES", N_FILES + 1)
    _bench_apply(benchmark, pristine, tmp_path)


@pytest.mark.slow
@pytest.mark.benchmark(group="journal-revert-10k")
def test_journal_revert_10k(benchmark, pristine, tmp_path):
    roots: list[Path] = []

    def applied_tree():
        roots.append(tmp_path / f"root{len(roots)}")
        shutil.copytree(pristine, roots[-1])
        write_migration(roots[-1], "toto", ["migrate", "toto"], lambda: _changes(roots[-1]))
        return (roots[-1],), {}

    benchmark.pedantic(lambda root: Journal(root).revert(), setup=applied_tree, rounds=3, iterations=1)
    for root in roots:
        assert all(c.path.read_bytes() == c.before for c in _changes(root)[::97])
