"""Helpers for the codemod tests: literal sources in several styles, and a runner."""

from __future__ import annotations

import textwrap

from migrator.codemod.engine import FileResult, patch_source
from migrator.codemod.rule import RuleOptions
from migrator.codemod.rules import BY_NAME


def code(text: str) -> bytes:
    """Dedented source bytes; tables read like the files they stand for."""
    return textwrap.dedent(text).lstrip("\n").encode()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def tabs(data: bytes) -> bytes:
    """4-space indentation levels -> tabs (only leading whitespace)."""
    out = []
    for line in data.split(b"\n"):
        stripped = line.lstrip(b" ")
        out.append(b"\t" * ((len(line) - len(stripped)) // 4) + stripped)
    return b"\n".join(out)


def run(source: bytes, *rule_names: str, **options: int) -> FileResult:
    """Run only the named rules (all when none is named) over `source`."""
    rules = [BY_NAME[name] for name in rule_names] if rule_names else list(BY_NAME.values())
    return patch_source(source, "example.py", rules, RuleOptions(**options))


def after(source: bytes, *rule_names: str, **options: int) -> bytes:
    """The patched bytes (the input itself when nothing changes)."""
    result = run(source, *rule_names, **options)
    return source if result.after is None else result.after


def status(result: FileResult, rule: str) -> str:
    return next(step.status.value for step in result.steps if step.rule == rule)
