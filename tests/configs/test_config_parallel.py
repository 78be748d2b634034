"""fork_map: same results as a plain map, with or without a working child."""

from __future__ import annotations

import os

import pytest

from migrator.configs import parallel
from migrator.configs.migrations import plan_migration
from migrator.configs.models.toto import MODEL as TOTO
from migrator.configs.parallel import fork_map


def test_small_inputs_stay_in_process():
    parent = os.getpid()
    assert fork_map(lambda _: os.getpid(), list(range(10))) == [parent] * 10


def test_large_inputs_use_a_child_and_keep_order(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ITEMS", 4)
    parent = os.getpid()
    pids = fork_map(lambda _: os.getpid(), list(range(10)))
    assert pids[:5] == [parent] * 5 and parent not in pids[5:]
    assert fork_map(lambda x: x * x, list(range(1001))) == [x * x for x in range(1001)]


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
    assert forked == serial and len(forked.changes) == 44


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
