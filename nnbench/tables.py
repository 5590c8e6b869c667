"""Tables the commands print: a rich table on a terminal, tab-separated lines anywhere else.

Off a terminal (a pipe, a file, CI) a rich table would truncate or wrap its cells to an assumed
width, which breaks ``grep`` and ``cut``; there each row is one line of tab-separated cells, header
first, nothing cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell_text(value: Any) -> str:
    """A cell as text: lists joined with commas, None as empty; tabs and newlines become spaces."""
    if value is None:
        text = ""
    elif isinstance(value, (list, tuple, set, frozenset)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return " ".join(text.replace("\t", " ").splitlines())


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    styles: dict[str, dict[str, str]] | None = None,
    console=None,
) -> None:
    """Print ``rows`` under ``columns``: rich on a terminal (cells fold, never cut), TSV elsewhere.

    ``styles`` maps a column to ``{cell text: rich style}`` for the terminal (e.g. a red FAIL).
    """
    from rich.console import Console

    console = console or Console()
    texts = [[cell_text(v) for v in row] for row in rows]
    if not console.is_terminal:
        import click

        click.echo("\t".join(columns))
        for row in texts:
            click.echo("\t".join(row))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in texts:
        cells = []
        for column, text in zip(columns, row):
            style = (styles or {}).get(column, {}).get(text, "")
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    console.print(table)
