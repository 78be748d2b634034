"""`migrate history` and `migrate revert` (migrator.journal)."""

from __future__ import annotations

import click

from migrator.cli.common import EXIT_CODES_HELP, OUTPUT, ROOT, WRITING_MODE, Settings, takes
from migrator.cli.group import main
from migrator.output import Outcome


@main.command("history", epilog=EXIT_CODES_HELP,
              short_help="List recorded migrations: id, time, kind, files, state, command.")
@click.option("--prune", is_flag=True,
              help="Drop the original bytes reverted migrations keep (and, with --keep, older "
                   "applied ones'); report the bytes freed.")
@click.option("--keep", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --prune: also drop the originals of applied migrations older than the N "
                   "newest (N >= 1); those can no longer be reverted [default: keep every applied one's].")
@takes(ROOT, OUTPUT)
def history(settings: Settings, prune: bool, keep: int | None) -> None:
    """List the migrations recorded under ROOT/.migrate, oldest first:
    id, time (UTC), kind, files, state, command. --json gives a list of
    objects with each file's path and sha256 before and after.
    """
    from migrator.journal import (Journal, history_table, migration_document, prune_document, prune_summary,
                                  unfinished_notice)

    if keep is not None and not prune:
        raise click.UsageError("--keep N goes with --prune")
    journal = Journal(settings.root)
    if prune:
        result = journal.prune(keep)
        settings.finish(Outcome(prune_document(result), text=prune_summary(result)))
        return
    migrations = journal.history()
    unfinished = journal.unfinished(migrations)
    unfinished_id = unfinished.id if unfinished else None
    settings.finish(Outcome(
        [migration_document(m, unfinished_id) for m in migrations],
        text=history_table(migrations, unfinished_id) if migrations else
        f"no migrations recorded under {settings.root / '.migrate'}\n",
        warnings=[unfinished_notice(unfinished, settings.root)] if unfinished is not None else ()))


@main.command("revert", epilog=EXIT_CODES_HELP,
              short_help="Undo migrations, newest first, restoring the exact original bytes.")
@click.argument("migration_id", required=False, metavar="[ID]")
@click.option("--all", "everything", is_flag=True, help="Undo every applied migration, newest first.")
@click.option("--to", "to", default=None, metavar="ID",
              help="Undo every applied migration after ID, newest first.")
@click.option("--force", is_flag=True,
              help="Also restore files changed since the migration (their current bytes are "
                   "kept under ROOT/.migrate/overwritten/ID/).")
@takes(ROOT, WRITING_MODE, OUTPUT)
def revert(settings: Settings, migration_id: str | None, everything: bool, to: str | None,
           force: bool) -> None:
    """Give back the exact original bytes of migrations and mark them reverted.

    \b
    Without ID: the unfinished migration a killed run left, else the newest
    applied one (run again: the one before; nothing left: exit 0). --all:
    every applied one; --to ID: every one after ID. Naming an older ID whose
    files a newer applied migration changed is refused (exit 3), with the
    command that works. A file changed since the migration: refused (exit 3),
    nothing written; --force restores anyway and keeps its bytes. An unknown
    or already reverted ID is exit 2. --dry-run shows the diffs.
    """
    from migrator.journal import Journal, NothingToRevert, revert_diffs, revert_document, revert_summary

    if sum((migration_id is not None, everything, to is not None)) > 1:
        raise click.UsageError("give at most one of ID, --all, --to ID")
    mode = settings.mode
    try:
        results = Journal(settings.root).revert_many(migration_id, everything=everything, to=to,
                                                     force=force, dry_run=mode != "apply")
    except NothingToRevert as exc:
        settings.finish(Outcome(revert_document(None, mode, str(exc)), text=f"{exc}\n"))
        return
    documents = [revert_document(result, mode) for result in results]
    settings.finish(Outcome(
        documents[0] if len(documents) == 1 and not (everything or to) else documents,
        text="".join((revert_diffs(result, color=settings.color) if mode != "apply" else "")
                     + revert_summary(result) for result in results),
        pending=any(result.restored for result in results)))


