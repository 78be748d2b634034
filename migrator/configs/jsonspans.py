"""Find where values sit in a JSON text, so they can be replaced without re-serialising.

Re-serialising (json.dump) would change indentation, key order, number
spellings and line endings; editing spans keeps every other byte. The walk
descends only into the objects on the requested paths and skips every other
value with json's C scanner, so it costs a few Python steps per key, not per
character.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from typing import Iterable

Path = tuple[str, ...]
Span = tuple[int, int]  # [start, end) in str indices

_skip_value = json.scanner.make_scanner(json.JSONDecoder())
_scan_key = json.decoder.scanstring
_skip_ws = json.decoder.WHITESPACE.match
_LEAF = None


def value_spans(text: str, paths: Iterable[Path]) -> dict[Path, Span]:
    """The spans of the values at `paths` (object keys from the top) in `text`.

    `text` must be valid JSON (parse it first). A path whose value is absent
    is missing from the result. With duplicate keys the last one wins, as in
    json.loads, which is what the backtest reads.
    """
    tree: dict = {}
    for path in paths:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _LEAF
    spans: dict[Path, Span] = {}
    start = _skip_ws(text, 0).end()
    if text.startswith("{", start):
        _walk_object(text, start, tree, (), spans, stop_early=True)
    return spans


def _walk_object(text: str, idx: int, tree: dict, prefix: Path, spans: dict[Path, Span],
                 stop_early: bool = False) -> int:
    """Walk the object starting at text[idx] == '{'; return the index after its '}'.

    With stop_early, return as soon as every key of `tree` has been seen and the rest of
    the text cannot hold another one (no backslash, no plain "key" spelling): skipping
    the remaining values is most of the cost, and only a duplicate key could matter.
    """
    spellings = [f'"{key}"' for key in tree]
    stop_early = stop_early and all(json.dumps(key) == s for key, s in zip(tree, spellings))
    unseen = set(tree)
    idx = _skip_ws(text, idx + 1).end()
    if text[idx] == "}":
        return idx + 1
    while True:
        key, idx = _scan_key(text, idx + 1)  # idx + 1: past the opening quote
        idx = _skip_ws(text, _skip_ws(text, idx).end() + 1).end()  # past ':'
        if key in tree:
            path = prefix + (key,)
            # A later duplicate replaces an earlier one, so forget the earlier spans.
            for stale in [p for p in spans if p[: len(path)] == path]:
                del spans[stale]
            subtree = tree[key]
            if subtree is _LEAF:
                _, end = _skip_value(text, idx)
                spans[path] = (idx, end)
                idx = end
            elif text[idx] == "{":
                idx = _walk_object(text, idx, subtree, path, spans)
            else:
                _, idx = _skip_value(text, idx)
        else:
            _, idx = _skip_value(text, idx)
        if stop_early:
            unseen.discard(key)
            if not unseen and text.find("\\", idx) < 0 and all(text.find(s, idx) < 0 for s in spellings):
                return len(text)
        idx = _skip_ws(text, idx).end()
        if text[idx] == "}":
            return idx + 1
        idx = _skip_ws(text, idx + 1).end()  # past ','


def splice(text: str, replacements: dict[Span, str]) -> str:
    """`text` with each span replaced by its new text; spans must not overlap."""
    parts = []
    pos = 0
    for (start, end), new in sorted(replacements.items()):
        parts.append(text[pos:start])
        parts.append(new)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
