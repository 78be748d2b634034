"""What both probes do first: put upstream's TREE first on sys.path and record the warnings logged."""

import logging
import sys


def start(tree: str) -> list[str]:
    """sys.path[0] = tree; returns the list every WARNING (or worse) logged from now on goes to."""
    sys.path.insert(0, tree)
    logged: list[str] = []

    class _Record(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logging.getLogger().addHandler(_Record(level=logging.WARNING))
    return logged
