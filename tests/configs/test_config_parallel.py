"""fork_map: same results as a plain map, with or without a working child."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from migrator.configs import parallel
from migrator.configs.migrations import plan_migration
from migrator.configs.models.toto import MODEL as TOTO
from migrator.configs.parallel import fork_map

# fork_map forks only on a machine with a second core; on one core every test that
# expects a child would test nothing.
needs_two_cpus = pytest.mark.skipif((os.cpu_count() or 1) < 2,
                                    reason="fork_map runs in-process on a single CPU")


def test_small_inputs_stay_in_process():
    parent = os.getpid()
    assert fork_map(lambda _: os.getpid(), list(range(10))) == [parent] * 10


@needs_two_cpus
def test_large_inputs_use_a_child_and_keep_order(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ITEMS", 4)
    parent = os.getpid()
    pids = fork_map(lambda _: os.getpid(), list(range(10)))
    assert pids[:5] == [parent] * 5 and parent not in pids[5:]
    assert fork_map(lambda x: x * x, list(range(1001))) == [x * x for x in range(1001)]


@needs_two_cpus
def test_a_failing_child_is_recomputed_in_the_parent(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ITEMS", 4)
    parent = os.getpid()

    def only_in_parent(x):
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return x + 1

    assert fork_map(only_in_parent, list(range(8))) == list(range(1, 9))


def test_parallel_plan_equals_serial_plan(corpus_root, monkeypatch):
    serial = plan_migration(corpus_root, corpus_root / "hyperparams", TOTO.spec(samples=32, batch=16))
    monkeypatch.setattr(parallel, "MIN_ITEMS", 4)
    forked = plan_migration(corpus_root, corpus_root / "hyperparams", TOTO.spec(samples=32, batch=16))
    assert forked == serial
    # Which files a 32/16 migration changes, worked out from the files themselves: every
    # toto/ config and every best/ selection of model "toto" not already at those values.
    expected = set()
    for path in (corpus_root / "hyperparams").glob("*/*.json"):
        record = json.loads(path.read_bytes())
        is_toto = path.parent.name == "toto" or (path.parent.name == "best" and record.get("model") == "toto")
        config = record.get("config", {})
        if is_toto and (config.get("num_samples"), config.get("samples_per_batch")) != (32, 16):
            expected.add(path.resolve())
    assert expected and {Path(change.path).resolve() for change in forked.changes} == expected


def test_an_error_in_the_parent_reaps_the_child(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ITEMS", 4)
    parent = os.getpid()

    def fails_in_parent(x):
        if os.getpid() == parent:
            raise ValueError("parent failure")
        return x

    children = []
    real_fork = os.fork

    def recording_fork():
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    with pytest.raises(ValueError, match="parent failure"):
        fork_map(fails_in_parent, list(range(8)))
    [child] = children
    with pytest.raises(ChildProcessError):  # already killed and reaped
        os.waitpid(child, os.WNOHANG)
