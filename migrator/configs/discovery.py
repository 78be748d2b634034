"""Which files a config migration may touch.

A model's migration looks at HYPERPARAMS/<its folder>/*.json (e.g. toto/, the
configs the backtest loads) and HYPERPARAMS/best/*.json (model selections, which
carry a copy of the winning model's config). Nothing else is listed, and nothing
that resolves outside the root is ever returned.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from migrator.errors import BadInputError
from migrator.names import printable

SELECTION_FOLDER = "best"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A file that may be migrated."""

    label: str  # the path as found, relative to the root, POSIX separators
    path: str  # the real file (symlinks resolved), inside the root; a str: cheap to pass between processes
    is_selection: bool  # in best/: migrate only if its "model" matches
    symbol: str = ""  # the file name without .json, as on disk (the label may be escaped for printing)


@dataclasses.dataclass(frozen=True)
class Discovery:
    candidates: tuple[Candidate, ...]
    warnings: tuple[str, ...]


def discover(root: Path, hyperparams: Path, model_folder: str, symbols: Sequence[str] = ()) -> Discovery:
    """The candidate files of `model_folder` and of best/ under `hyperparams`, narrowed to `symbols` if given.

    `root` and `hyperparams` must be resolved paths. BadInputError if the
    hyperparams folder is missing or outside the root, or a symbol has no file.
    """
    root_str = str(root)
    if not _inside(str(hyperparams), root_str):
        raise BadInputError(
            f"{hyperparams}: the hyperparams folder is outside the root {root}; "
            "pass --root with a folder that contains it")
    if not hyperparams.is_dir():
        raise BadInputError(
            f"{hyperparams}: no hyperparams folder (pass --root, or --hyperparams DIR)")
    hp_label = hyperparams.relative_to(root).as_posix()
    wanted = set(symbols)
    found_symbols: set[str] = set()
    seen: set[str] = set()
    candidates: list[Candidate] = []
    warnings: list[str] = []
    for folder in (model_folder, SELECTION_FOLDER):
        folder_label = label_of(root, hyperparams, folder)
        folder_path = os.path.join(hyperparams, folder)
        if not os.path.isdir(folder_path):
            continue
        folder_real = os.path.realpath(folder_path)
        if not _inside(folder_real, root_str):
            warnings.append(printable(f"{folder_label}: skipped: it leads outside the root (to {folder_real})"))
            continue
        try:
            with os.scandir(folder_real) as entries:
                listed = [(entry.name, entry.is_symlink(), _kind(entry))
                          for entry in entries if entry.name.endswith(".json")]
        except OSError as exc:
            raise BadInputError(f"{folder_label}: cannot list the folder: {exc.strerror or exc}") from None
        # Anything but a broken symlink is a candidate: a folder, a symlink loop or a FIFO
        # named *.json fails to read later and is reported as an invalid file, never skipped unseen.
        names = sorted((name, is_link) for name, is_link, kind in listed if kind != "missing")
        warnings += sorted(printable(f"{folder_label}/{name}: skipped: broken symlink")
                           for name, is_link, kind in listed if kind == "missing")
        for name, is_link in names:
            symbol = name[:-5]
            if wanted and symbol not in wanted:
                continue
            found_symbols.add(symbol)
            label = printable(f"{folder_label}/{name}")
            real = os.path.join(folder_real, name)
            if is_link:
                real = os.path.realpath(real)
                if not _inside(real, root_str):
                    warnings.append(f"{label}: skipped: symlink leads outside the root (to {printable(real)})")
                    continue
            if real in seen:  # two links to one file: migrate it once
                continue
            seen.add(real)
            candidates.append(Candidate(label, real, folder == SELECTION_FOLDER, symbol))
    if not candidates and not wanted:
        warnings.append(printable(
            f"no .json files in {hp_label}/{model_folder}/ or {hp_label}/{SELECTION_FOLDER}/"))
    unknown = sorted(wanted - found_symbols)
    if unknown:
        raise BadInputError(printable(
            f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: no such file "
            f"in {hp_label}/{model_folder}/ or {hp_label}/{SELECTION_FOLDER}/"))
    return Discovery(tuple(candidates), tuple(warnings))


def label_of(root: Path, hyperparams: Path, folder: str) -> str:
    """HYPERPARAMS/<folder> as labels name it: relative to the root, POSIX separators."""
    hp_label = hyperparams.relative_to(root).as_posix()
    return folder if hp_label == "." else f"{hp_label}/{folder}"


def _kind(entry: os.DirEntry) -> str:
    """"file", "missing" (a symlink to nothing) or "other" (a folder, a symlink loop, a FIFO...)."""
    try:
        if entry.is_file():
            return "file"
        if entry.is_symlink():
            os.stat(entry.path)
    except FileNotFoundError:
        return "missing"
    except OSError:  # ELOOP and the like: reading the file will say what is wrong
        pass
    return "other"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
