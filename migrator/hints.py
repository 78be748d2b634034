"""The `--root` a printed command needs to act on the same project.

A hint such as "undo: migrate revert" is run where it was printed; when the root
is not the current directory, the bare command would act on another project.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path


def root_option(root: Path | None) -> str:
    """` --root DIR` (shell-quoted) when `root` is not the current directory, else ''."""
    if root is None:
        return ""
    try:
        if os.path.samefile(root, os.getcwd()):
            return ""
    except OSError:  # the current directory is gone: always name the root
        pass
    return f" --root {shlex.quote(str(root))}"


def command(text: str, root: Path | None) -> str:
    """`text` (a migrate command line) with the root option when it needs one."""
    return f"{text}{root_option(root)}"
