"""kill -9 a real `migrate toto` mid-apply on thousands of files.

Whatever the moment of the kill: every file is whole (its old bytes or its new
bytes), the next command reports the unfinished migration, and `migrate revert`
gives back every original byte. Kill points, by a handshake (no test hook in
migrate, no timing): the child wraps one os function, and right after the call
the test names it says "paused" and waits on stdin until the test kills it -9.
The points: the pack of originals opened (before the migration exists), a
temp file opened (pending, nothing renamed yet), the first file replaced
(mid-rename), and a random file replaced (printed seed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.hints import root_option

FILES = 2000
MIGRATE = [sys.executable, "-m", "migrator"]
TOTO = ["toto", "--samples", "32", "--batch", "16", "-q"]


def _config(index: int) -> bytes:
    """A real-shaped Toto config; formatting varies (2/4-space indent, CRLF, final newline)."""
    indent = " " * (2 + 2 * (index % 2))
    text = (f'{{\n{indent}"symbol": "S{index:05d}",\n{indent}"model": "toto",\n{indent}"config": {{\n'
            f'{indent * 2}"name": "toto_opt_mean_1024_spb128",\n{indent * 2}"num_samples": 1024,\n'
            f'{indent * 2}"aggregate": "mean",\n{indent * 2}"samples_per_batch": 128\n{indent}}},\n'
            f'{indent}"validation": {{"price_mae": {index}.0280, "pct_return_mae": 0.0133, '
            f'"latency_s": 5.9}}\n}}')
    if index % 3 == 0:
        text = text.replace("\n", "\r\n")
    return (text + ("\n" if index % 5 == 0 else "")).encode()


def _make_root(root: Path) -> dict[Path, bytes]:
    folder = root / "hyperparams" / "toto"
    folder.mkdir(parents=True)
    originals = {}
    for index in range(FILES):
        path = folder / f"S{index:05d}.json"
        path.write_bytes(_config(index))
        originals[path] = _config(index)
    return originals


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HYPERPARAM_ROOT"}


def _migrate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MIGRATE, *args, "--root", str(root)], env=_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """New bytes per file name, from a run left to finish."""
    root = tmp_path_factory.mktemp("reference")
    originals = _make_root(root)
    done = _migrate(root, *TOTO)
    assert done.returncode == 0, done.stderr
    new = {path.name: path.read_bytes() for path in originals}
    assert all(new[p.name] != old for p, old in originals.items())
    return new


# The child: `migrate ARGS...` with os.FUNCTION wrapped; right after the first call whose
# argument INDEX matches the pattern MATCH (fnmatch) it prints "paused" and blocks on stdin (the test kills it there).
PAUSING_CHILD = """
import fnmatch, os, sys
function, index, match = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real = getattr(os, function)

def paused(*args, **kwargs):
    result = real(*args, **kwargs)
    if fnmatch.fnmatchcase(os.fsdecode(args[index]), match):
        setattr(os, function, real)
        print("paused", flush=True)
        sys.stdin.readline()
    return result

setattr(os, function, paused)
from migrator.cli import main
main(sys.argv[4:], prog_name="migrate")
"""


def _kill_and_check(root: Path, originals: dict[Path, bytes], new: dict[str, bytes],
                    kill_at: str, rng: random.Random) -> str:
    """Start `migrate toto`, kill -9 it at `kill_at`, check the invariants, revert; the state found."""
    first = min(originals)
    migrations = root / ".migrate" / "migrations"
    started = sorted(migrations.glob("*.state")) if migrations.is_dir() else []
    next_id = f"{len(started) + 1:04d}"
    if kill_at == "keeping originals":
        pause = ("open", 0, f"*/{next_id}.pack")
    elif kill_at == "writing temp files":
        pause = ("open", 0, "*/hyperparams/toto/*.tmp")  # a user's file's temp, not the journal's
    elif kill_at == "first file replaced":
        pause = ("replace", 1, f"*/hyperparams/toto/{first.name}")
    else:  # a random file (printed seed): anywhere in the renames, the last one included
        pause = ("replace", 1, f"*/hyperparams/toto/{rng.choice(sorted(originals)).name}")
    process = subprocess.Popen([sys.executable, "-c", PAUSING_CHILD, *map(str, pause), *TOTO, "--root", str(root)],
                               env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "paused\n", f"migrate ended before {kill_at}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)

    holding_new = 0
    for path, old in originals.items():
        data = path.read_bytes()
        assert data in (old, new[path.name]), f"{path.name} is torn after the kill at {kill_at}"
        holding_new += data == new[path.name]

    history = _migrate(root, "history", "--json")
    assert history.returncode == 0, history.stderr
    unfinished = [m for m in json.loads(history.stdout) if m["unfinished"]]
    if 0 < holding_new < len(originals):
        assert len(unfinished) == 1, "files were replaced without a pending migration"
    if unfinished:
        migration = unfinished[0]
        assert len(migration["files"]) == FILES
        notice = (f"migrate: warning: migration {migration['id']} (toto) did not finish; "
                  f"`migrate revert{root_option(root)}` rolls it back")
        assert notice in history.stderr
        if kill_at == "first file replaced":  # any other command says so too, and apply refuses
            assert _migrate(root, *TOTO[:-1], "--dry-run").stderr.startswith(notice + "\n")
            again = _migrate(root, *TOTO)
            assert again.returncode == 3 and again.stderr.startswith(notice + "\n")
            assert "did not finish" in again.stderr.splitlines()[-1]
        state = f"pending, {holding_new} of {FILES} files replaced"
    else:
        state = "applied" if holding_new else "not started"

    revert = _migrate(root, "revert")
    assert revert.returncode == 0, revert.stderr
    for path, old in originals.items():
        assert path.read_bytes() == old, f"{path.name} not restored byte-exact"
    assert sorted(p.name for p in (root / "hyperparams" / "toto").iterdir()) == sorted(
        p.name for p in originals), "temp files left behind"
    assert "did not finish" not in _migrate(root, "history").stderr
    return state


def test_kill_9_mid_apply_leaves_whole_files_and_revert_restores_all(
        tmp_path: Path, expected: dict[str, bytes]) -> None:
    root = tmp_path / "project"
    originals = _make_root(root)
    seed = random.randrange(1 << 30)
    print(f"fault injection: seed {seed}")
    rng = random.Random(seed)
    found = {}
    for kill_at in ("keeping originals", "writing temp files", "first file replaced",
                    "a random file replaced"):
        found[kill_at] = _kill_and_check(root, originals, expected, kill_at, rng)
    print("fault injection: state found after each kill:", found)
    assert found["keeping originals"] == "not started" or found["keeping originals"].startswith("pending")
    assert found["writing temp files"] == f"pending, 0 of {FILES} files replaced"
    assert found["first file replaced"].startswith("pending")
    assert found["a random file replaced"].startswith("pending")


def test_ctrl_c_mid_apply_rolls_back_and_exits_130_with_one_line(
        tmp_path: Path, expected: dict[str, bytes]) -> None:
    """Before: click printed "Aborted!" and exited 1, leaving the migration pending."""
    root = tmp_path / "project"
    originals = _make_root(root)
    first = min(originals)
    process = subprocess.Popen([sys.executable, "-c", PAUSING_CHILD, "replace", "1",
                                f"*/hyperparams/toto/{first.name}", *TOTO, "--root", str(root)],
                               env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "paused\n"
    assert first.read_bytes() != originals[first]  # mid-rename: the first file holds its new bytes
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, "migrate: interrupted\n")
    for path, old in originals.items():  # rolled back at once
        assert path.read_bytes() == old, f"{path.name} not rolled back"
    history = _migrate(root, "history", "--json")
    assert [m["state"] for m in json.loads(history.stdout)] == ["reverted"] and history.stderr == ""
