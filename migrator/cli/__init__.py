"""Command line: parses arguments, calls one module per concern, prints.

No logic lives here beyond turning arguments into calls and results into text or JSON.
One module per command group; `common` holds the option groups and Settings, `group` the
`migrate` group and its error edge. Heavy modules (libcst, torch) are imported inside the
commands that need them so `migrate --help` stays fast. Every command ends through
`Settings.finish` (migrator.output.finish): one meaning for --json, -q and --check.
"""

from migrator.cli.group import main
from migrator.cli import codemod, configs, explain, journal, profile  # noqa: F401  (they register their commands)

__all__ = ["main"]
