"""Unified diffs of planned changes, for --dry-run output."""

from __future__ import annotations

import difflib

_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_RESET = "\x1b[0m"


def unified_diff(label: str, before: bytes, after: bytes, *, color: bool = False) -> str:
    """A unified diff of two versions of one file, labelled a/LABEL and b/LABEL.

    Bytes are decoded leniently (the diff is for people; the files are written
    from the exact bytes). Line endings are kept so a CRLF file diffs cleanly.
    """
    old = before.decode("utf-8", errors="replace").splitlines(keepends=True)
    new = after.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(old, new, f"a/{label}", f"b/{label}"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        else:
            line = line.rstrip("\r\n") + "\n"
        if color and line[0] in _COLORS and not line.startswith(("+++", "---")):
            line = f"{_COLORS[line[0]]}{line[:-1]}{_RESET}\n"
        lines.append(line)
    return "".join(lines)
