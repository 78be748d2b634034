"""Which files `migrate apply` looks at.

With no paths: every .py file under the root (the rules' trigger text decides
cheaply, before any parse, which of them can change; see engine.patch_source).
Paths on the command line are relative to the root, files or folders.

Never searched: version control and migrate's journal, virtualenvs (any folder
holding a pyvenv.cfg), installed packages, caches and build output, and a
folder that is a repository of its own (a `.git` inside it: a clone or
submodule of someone else's code, such as upstream's external/kronos). Name
such a folder on the command line to patch it anyway. Symlinked files are not
followed when discovering (their target may lie outside the root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from migrator.errors import BadInputError

BACKUP_SUFFIX = ".pre_speedup"  # the guide's script's backup of the original: never patched

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".migrate", "__pycache__", ".venv", "venv", ".tox", ".nox",
    "site-packages", "dist-packages", "node_modules", "build", ".eggs", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints",
})


def _skipped(parent: str, name: str) -> bool:
    if name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return True
    folder = os.path.join(parent, name)
    return os.path.exists(os.path.join(folder, "pyvenv.cfg")) \
        or os.path.lexists(os.path.join(folder, ".git"))


def python_files(folder: Path, *, follow_file_links: bool = True) -> Iterator[Path]:
    """The .py files below `folder`, sorted, skipping the folders above."""
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skipped(current, d))
        for name in sorted(files):
            if name.endswith(".py") and (follow_file_links
                                         or not os.path.islink(os.path.join(current, name))):
                yield Path(current, name)


def find_targets(root: Path, arguments: Sequence[Path]) -> list[Path]:
    """The named files and the .py files below the named folders (relative to `root`);
    with no arguments, every .py file under `root`."""
    if not arguments:
        found = list(python_files(root, follow_file_links=False))
        if not found:
            raise BadInputError(f"{root}: no Python files under the root (pass --root)")
        return found
    targets: list[Path] = []
    for argument in arguments:
        path = argument if argument.is_absolute() else root / argument
        if path.is_dir():
            targets.extend(python_files(path))
        elif path.name.endswith(BACKUP_SUFFIX):
            raise BadInputError(f"{argument}: a backup the speed-up guide's script left "
                                f"(migrate never patches it; name the backtest itself)")
        elif path.exists():
            targets.append(path)
        else:
            raise BadInputError(f"{argument}: no such file or directory under {root}")
    return list(dict.fromkeys(path.resolve() for path in targets))
