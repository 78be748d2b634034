"""How file names are shown: control characters escaped, so a name can neither split a
line of output nor drive the terminal (a newline, an ESC sequence in a file name)."""

from __future__ import annotations

from typing import Any


def printable(text: str) -> str:
    """`text` with each non-printable character escaped as repr() escapes it (\\n, \\x1b, \\udcff)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def printable_document(value: Any) -> Any:
    """A JSON-ready document with every string in it (keys too) made printable()."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_document(key): printable_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_document(item) for item in value]
    return value
