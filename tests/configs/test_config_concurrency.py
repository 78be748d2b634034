"""Two `migrate toto` on the same files at once end as if one ran after the other (issue #17).

Run A migrates every file; run B starts at a chosen point of A's run: after A's n-th
event, an event being a file read (while A plans, or re-checks its plan under the lock)
or a file replaced. Points are spread over A's whole run. No sleeps: A's thread stops at
the point until B has planned (B's plan is made without the lock, as a second process's
would be); B then waits until A is done before it takes the lock. So B's plan may have
been made on files A was replacing meanwhile: under the lock it must be made again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from migrator import atomic
from migrator.configs import migrations
from migrator.configs.models.toto import MODEL as TOTO
from migrator.errors import MigrateError

REPO = Path(__file__).resolve().parents[2]
FILES = atomic.BATCH_MIN_FILES + 6  # enough for the batched replacement, as on a large tree
WAIT_S = 60  # a handshake that never comes fails the test instead of hanging it
ORIGINAL = TOTO.spec(samples=2048, batch=256)  # what the example AAPL.json holds
A_TARGET = TOTO.spec(samples=32, batch=16)
B_THIRD = TOTO.spec(samples=64, batch=16)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    text = (REPO / "hyperparams" / "toto" / "AAPL.json").read_text()
    assert '"num_samples": 2048' in text and '"samples_per_batch": 256' in text
    folder = tmp_path / "project" / "hyperparams" / "toto"
    folder.mkdir(parents=True)
    for index in range(FILES):
        (folder / f"S{index:03d}.json").write_text(text.replace('"AAPL"', f'"S{index:03d}"'))
    return tmp_path / "project"


def _values(root: Path) -> set[tuple[int, int]]:
    values = set()
    for path in (root / "hyperparams" / "toto").glob("*.json"):
        config = json.loads(path.read_bytes())["config"]
        values.add((config["num_samples"], config["samples_per_batch"]))
    return values


def _run(root: Path, spec: Any) -> str | MigrateError | None:
    try:
        _, migration_id = migrations.plan_and_apply(root, root / "hyperparams", spec, (), ["migrate", "toto"],
                                                    write=True, skip_invalid=False)
        return migration_id
    except MigrateError as exc:
        return exc


def _race(root: Path, monkeypatch: pytest.MonkeyPatch, point: int, b_spec: Any, *,
          b_waits_for_a: bool) -> tuple[Any, Any, int]:
    """Run A, starting B after A's `point`-th event; (A's result, B's result, A's event count)."""
    import migrator.journal as journal

    a_thread = threading.get_ident()
    b_thread: list[int] = []
    b_planned, a_done = threading.Event(), threading.Event()
    results: dict[str, Any] = {}
    events = 0

    def run_b() -> None:
        b_thread.append(threading.get_ident())
        try:
            results["B"] = _run(root, b_spec)
        finally:
            b_planned.set()  # also when B found nothing to do (it never reaches the lock)

    def start_b() -> threading.Thread:
        thread = threading.Thread(target=run_b)
        thread.start()
        return thread

    started: list[threading.Thread] = []

    def event() -> None:
        nonlocal events
        if threading.get_ident() != a_thread:
            return
        events += 1
        if events == point:
            started.append(start_b())
            if b_waits_for_a:
                assert b_planned.wait(WAIT_S), "B never finished planning"
            else:
                started[0].join(WAIT_S)

    real_read, real_publish, real_write = migrations._read, atomic._publish, journal.write_migration

    def read(label: str, path: str) -> bytes:
        event()
        return real_read(label, path)

    def publish(temp: str, replacement: atomic.Replacement, *args: Any) -> None:
        if "hyperparams" in str(replacement.path):  # a config, not one of the journal's own files
            event()
        real_publish(temp, replacement, *args)

    def write_migration(*args: Any) -> Any:
        if b_thread and threading.get_ident() == b_thread[0] and b_waits_for_a:
            b_planned.set()  # planned without the lock; now wait for A to let go of it
            assert a_done.wait(WAIT_S), "A never finished"
        return real_write(*args)

    monkeypatch.setattr(migrations, "_read", read)
    monkeypatch.setattr(atomic, "_publish", publish)
    monkeypatch.setattr(journal, "write_migration", write_migration)
    try:
        results["A"] = _run(root, A_TARGET)
    finally:
        a_done.set()
    if not started:  # past A's last event: B runs after A
        started.append(start_b())
    started[0].join(WAIT_S)
    assert not started[0].is_alive(), "B did not finish"
    monkeypatch.undo()
    return results["A"], results["B"], events


# A's events: FILES reads to plan, FILES reads to re-check under the lock, FILES replacements.
SPREAD = [1, FILES // 2, FILES, FILES + FILES // 2, 2 * FILES, 2 * FILES + 1, 2 * FILES + FILES // 3,
          2 * FILES + 2 * FILES // 3, 3 * FILES, 3 * FILES + 1]


@pytest.mark.parametrize("point", SPREAD)
def test_b_back_to_the_original_started_anywhere_in_as_run_ends_as_if_serial(
        root: Path, monkeypatch: pytest.MonkeyPatch, point: int) -> None:
    original = {p.name: p.read_bytes() for p in (root / "hyperparams" / "toto").iterdir()}
    a, b, events = _race(root, monkeypatch, point, ORIGINAL, b_waits_for_a=True)
    assert events == 3 * FILES  # the points above do spread over A's whole run
    assert isinstance(a, str), a  # A wrote
    assert not isinstance(b, MigrateError), b  # both exit 0
    if b is None:  # B planned before A replaced anything: nothing to do, as if B then A
        assert _values(root) == {(32, 16)}
    else:  # B wrote after A: every file back, byte for byte (before: 1 of A's, the rest B's)
        assert _values(root) == {(2048, 256)}
        assert {p.name: p.read_bytes() for p in (root / "hyperparams" / "toto").iterdir()} == original


@pytest.mark.parametrize("point", [1, FILES // 3, FILES - 1])
def test_b_finishing_while_a_plans_makes_a_plan_again(
        root: Path, monkeypatch: pytest.MonkeyPatch, point: int) -> None:
    a, b, _ = _race(root, monkeypatch, point, B_THIRD, b_waits_for_a=False)
    assert isinstance(b, str) and isinstance(a, str)  # B then A, both wrote
    assert _values(root) == {(32, 16)}
