"""Run the rules over files: read, check, parse once, transform, compile, report.

Nothing here writes a file; `migrator.codemod.apply` hands the results to the
journal. Each file is checked before anything is parsed (readable, not binary,
decodable, compiles) and its result is compiled before it is offered, so a
rule can never hand back code that does not compile.
"""

from __future__ import annotations

import contextlib
import ast
import dataclasses
import hashlib
import io
import sys
import time
import tokenize
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from migrator.codemod.rule import ModuleContext, PatchError, Rule, RuleOptions, Status
from migrator.codemod.rules import BY_NAME
from migrator.files import MODULE, UnreadableFile, read_user_file


@dataclasses.dataclass(frozen=True)
class RuleStep:
    """What one rule found in one file; the bytes around it when steps were asked for."""

    rule: str
    status: Status
    before: bytes | None = None
    after: bytes | None = None


@dataclasses.dataclass(frozen=True)
class FileResult:
    """One file's outcome. `after` is None when nothing changes (or on error)."""

    path: Path
    steps: tuple[RuleStep, ...] = ()
    before: bytes | None = None
    after: bytes | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()  # what the user must know about the patch (see ModuleContext)
    parse_s: float = 0.0  # libcst parse time, 0 when the file was not parsed
    # No rule's trigger text in the file: no rule can apply, nothing was parsed.
    untriggered: bool = False
    transform_s: float = 0.0  # rules plus code generation
    read_sha256: bytes | None = None  # of the bytes patched (None: unreadable), to tell a change since

    @property
    def changed(self) -> bool:
        return self.after is not None


class _PieceNotReproduced(Exception):
    """libcst did not print a parsed piece back byte for byte."""


def _check_encoding(data: bytes, label: str) -> str:
    """Refuse binary and undecodable files; the encoding ("utf-8-sig" with a BOM)."""
    if b"\0" in data:
        raise PatchError(f"{label}: binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # Raised too when the first two lines are not UTF-8; say which byte is wrong.
        encoding = "utf-8"
        if _undecodable_line(data, encoding) is None:
            raise PatchError(f"{label}: {exc.msg}") from None
    line = _undecodable_line(data, encoding)
    if line is not None:
        declared = "UTF-8 and no encoding declaration" if encoding == "utf-8" \
            else f"{encoding} (its encoding declaration)"
        raise PatchError(f"{label}:{line}: not valid {declared}")
    return encoding


def _undecodable_line(data: bytes, encoding: str) -> int | None:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data[:exc.start].count(b"\n") + 1
    return None


def _compile(data: bytes | ast.Module, label: str, flags: int = 0) -> Any:
    """compile(), with a SyntaxError as PatchError `label:line: message`."""
    try:
        with warnings.catch_warnings():  # SyntaxWarnings are the file's business, not ours
            warnings.simplefilter("ignore")
            # dont_inherit: this module's own `from __future__` flags must not leak in.
            return compile(data, label, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:
        raise PatchError(f"{label}:{exc.lineno or 0}: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes on older Pythons
        raise PatchError(f"{label}: {exc}") from None
    except (RecursionError, MemoryError):  # CPython's own parser: a 1,000-term expression
        raise PatchError(f"{label}: nested too deeply for Python's parser; file left alone") from None


# libcst recurses once per nesting level (a long implicit string concatenation
# nests deeply, e.g. pydoc_data/topics.py); CPython 3.11+ keeps Python-to-Python
# calls off the C stack, so a higher limit is safe while the codemod runs.
_RECURSION_LIMIT = 20_000


@contextlib.contextmanager
def _deep_recursion(label: str) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _RECURSION_LIMIT))
    try:
        yield
    except RecursionError:
        raise PatchError(f"{label}: nested too deeply for the codemod; file left alone") from None
    finally:
        sys.setrecursionlimit(previous)


def patch_source(data: bytes, label: str, rules: Sequence[Rule], options: RuleOptions,
                 *, steps: bool = False, whole: bool = False, named: bool = True) -> FileResult:
    """Run `rules` over one file's bytes. Raises PatchError for bad input or bad output.

    `whole` parses the entire file as one piece instead of only the pieces the
    rules can touch (see pieces.py); the two give the same bytes, and the tests
    check that they do. A file the user named (`named`) must be valid input even
    when no rule's trigger text is in it; a discovered one without any trigger
    text is passed over unchecked (a tree may hold files that are not Python 3).
    """
    ctx = ModuleContext(source=data, options=options, label=label)
    triggered = any(rule.wants(ctx) for rule in rules)
    untriggered = FileResult(path=Path(label), untriggered=True,
                             steps=tuple(RuleStep(rule.name, Status.NOT_APPLICABLE) for rule in rules))
    if not triggered and not named:
        return untriggered
    encoding = _check_encoding(data, label)
    if not triggered:
        _compile(data, label)  # what no rule touches must still be valid input
        return untriggered
    # One parse serves as the syntax check and as the rules' module-wide facts.
    ctx.tree = _compile(data, label, ast.PyCF_ONLY_AST)
    whole = whole or any(rule.wants(ctx) and rule.whole_module(ctx) for rule in rules)
    with _deep_recursion(label):
        try:
            result = _patch_checked(data, encoding, label, rules, ctx, steps, whole)
        except _PieceNotReproduced:
            tree, ctx = ctx.tree, ModuleContext(source=data, options=options, label=label)
            ctx.tree = tree
            result = _patch_checked(data, encoding, label, rules, ctx, steps, whole=True)
    if result.after is None:
        _compile(ctx.tree, label)  # errors the parser does not see ('return' outside function)
    return result


def _patch_checked(data: bytes, encoding: str, label: str, rules: Sequence[Rule],
                   ctx: ModuleContext, steps: bool, whole: bool) -> FileResult:
    import libcst as cst

    from migrator.codemod import pieces as cut

    started = time.perf_counter()
    text = data.decode(encoding)
    tree = ctx.tree
    parts = [cut.Piece(text, head=True)] if whole else cut.split(text, tree)
    triggers = {rule.name: tuple(t.decode() for t in rule.triggers) for rule in rules}
    indent, newline = cut.file_style(text, tree)
    parsed: dict[int, cst.Module] = {}
    first_line = 1
    for index, piece in enumerate(parts):
        piece_line, first_line = first_line, first_line + len(cut.lines(piece.text))
        if piece.head or any(t in piece.text for ts in triggers.values() for t in ts):
            try:
                parsed[index] = cut.parse(piece, indent, newline)
            except cst.ParserSyntaxError as exc:
                # CPython compiled it (checked above); libcst's grammar is narrower in rare corners.
                message = exc.message.splitlines()[0] if exc.message else "syntax error"
                raise PatchError(f"{label}:{piece_line + exc.raw_line - 1}: libcst cannot parse "
                                 f"this file (Python can): {message}; file left alone") from None
    parse_done = time.perf_counter()
    originals = dict(parsed)
    done: list[tuple[Rule, Status, dict[int, cst.Module]]] = []
    for rule in rules:
        statuses = []
        # Asked in turn: `imports` wants what the earlier rules needed.
        if rule.wants(ctx):
            for index, module in parsed.items():
                piece = parts[index]
                if piece.head or (not rule.head_only
                                  and any(t in piece.text for t in triggers[rule.name])):
                    parsed[index], status = rule.transform(module, ctx)
                    statuses.append(status)
        done.append((rule, _overall(statuses), dict(parsed)))

    # Bytes outside the changed statements are promised unchanged: a changed piece is
    # written from its tree, so its untouched tree must print back as the original
    # text (libcst drops the newline after a final `# ...\\` comment, for one).
    for index, module in parsed.items():
        if module is not originals[index] and originals[index].code != parts[index].text:
            if not whole:
                raise _PieceNotReproduced  # may be an edge of the piece: try the whole file
            line = sum(len(cut.lines(piece.text)) for piece in parts[:index]) + 1
            raise PatchError(f"{label}:{line}: libcst does not reproduce this part of the file "
                             f"byte for byte; file left alone")

    def render(state: dict[int, cst.Module]) -> bytes:
        return "".join(state[i].code if i in state and state[i] is not originals[i] else piece.text
                       for i, piece in enumerate(parts)).encode(encoding)

    after = render(parsed) if any(s is Status.APPLIED for _, s, _ in done) else data
    finished = time.perf_counter()
    if after != data:
        try:
            _compile(after, label)
        except PatchError as exc:
            _compile(ctx.tree, label)  # the input's own error, if it has one
            culprit = next((rule.name for rule, status, state in done if status is Status.APPLIED
                            and not _compiles(render(state), label)), done[-1][0].name)
            raise PatchError(f"{exc} (in the code rule {culprit} produced; file left alone, "
                             f"please report this)") from None
    result_steps: list[RuleStep] = []
    previous = data
    for rule, status, state in done:
        if steps and status is Status.APPLIED:
            current = render(state)
            result_steps.append(RuleStep(rule.name, status, previous, current))
            previous = current
        else:
            result_steps.append(RuleStep(rule.name, status))
    return FileResult(path=Path(label), steps=tuple(result_steps),
                      before=data if after != data else None,
                      after=after if after != data else None,
                      notes=tuple(ctx.notes),
                      parse_s=parse_done - started, transform_s=finished - parse_done)


def _overall(statuses: Sequence[Status]) -> Status:
    """A rule's status for the file from its status in each piece."""
    for status in (Status.APPLIED, Status.ALREADY_APPLIED):
        if status in statuses:
            return status
    return Status.NOT_APPLICABLE


def _compiles(data: bytes, label: str) -> bool:
    try:
        _compile(data, label)
    except PatchError:
        return False
    return True


def patch_file(path: Path, rule_names: Sequence[str], options: RuleOptions,
               label: str, steps: bool = False, named: bool = True) -> FileResult:
    """Read and patch one file; errors become FileResult.error (safe across processes)."""
    try:
        data = read_user_file(path, MODULE)
    except UnreadableFile as exc:
        return FileResult(path=path, error=f"{label}: cannot read: {exc.reason}")
    digest = hashlib.sha256(data).digest()
    try:
        result = patch_source(data, label, [BY_NAME[name] for name in rule_names], options,
                              steps=steps, named=named)
    except PatchError as exc:
        return FileResult(path=path, error=str(exc), read_sha256=digest)
    return dataclasses.replace(result, path=path, read_sha256=digest)


def still_as_read(result: FileResult) -> bool:
    """Whether the file of `result` holds now the bytes it was patched from."""
    try:
        return hashlib.sha256(read_user_file(result.path, MODULE)).digest() == result.read_sha256
    except UnreadableFile:
        return result.read_sha256 is None


def _patch_task(task: tuple[Path, str, tuple[str, ...], RuleOptions, bool, bool]) -> FileResult:
    path, label, rule_names, options, steps, named = task
    return patch_file(path, rule_names, options, label, steps, named)


def patch_files(paths: Sequence[Path], labels: Sequence[str], rules: Sequence[Rule],
                options: RuleOptions, *, jobs: int = 1, steps: bool = False, named: bool = True,
                on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Patch many files, in `jobs` processes when more than one; results in input order.
    `named`: see patch_source."""
    names = tuple(rule.name for rule in rules)
    tasks = [(path, label, names, options, steps, named) for path, label in zip(paths, labels)]
    results: Iterable[FileResult]
    if jobs <= 1 or len(tasks) <= 1:
        results = map(_patch_task, tasks)
        return _collect(results, on_done)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunk = max(1, min(32, len(tasks) // (jobs * 8)))
        return _collect(pool.map(_patch_task, tasks, chunksize=chunk), on_done)


def _collect(results: Iterable[FileResult],
             on_done: Callable[[FileResult], None] | None) -> list[FileResult]:
    collected = []
    for result in results:
        collected.append(result)
        if on_done is not None:
            on_done(result)
    return collected
