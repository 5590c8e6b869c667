"""Options shared by the ``nnbench`` commands (cli.py, cli_report.py, cli_plugins.py).

Only click is imported: every command module can import this without importing the others.
"""

from __future__ import annotations

from pathlib import Path

import click

# Set by --debug on any command; the command group shows tracebacks instead of one-line errors.
DEBUG = {"on": False}


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        DEBUG["on"] = True
    return value


debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True, help="Show tracebacks."
)
db_option = click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    envvar="NNBENCH_DB",
    help="Results store (SQLite). Default: $NNBENCH_DB or ./nnbench.db.",
)
plugin_option = click.option(
    "--plugin",
    "plugin_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Load a plugin file (repeatable).",
)
