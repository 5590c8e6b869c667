"""``nnbench data list`` and ``nnbench data fetch NAME``: the public datasets, fetched and verified.

``nnbench.cli`` registers the ``data`` group with ``cli.add_command``. Only click is imported at module
level. The work is :mod:`nnbench.datasets`; this module shows it: a rich progress bar on a terminal,
plain lines anywhere else (a pipe, a file, CI), so a log never fills with redraws.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nnbench.cli_options import debug_option


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


class PlainReporter:
    """Progress as lines: where a file starts (or resumes), each quarter, and its end."""

    def __init__(self, echo=None):
        self.echo = echo or (lambda text: click.echo(text, err=True))
        self.name, self.total, self.done, self.quarter = "", 0, 0, 0

    def line(self, text: str) -> None:
        """A message on its own line."""
        self.echo(text)

    def start(self, name: str, total: int, done: int) -> None:
        """Say which file starts, and from where when it resumes."""
        self.name, self.total, self.done = name, total, done
        self.quarter = 4 * done // total if total else 0
        resumed = f", resuming at {_megabytes(done)}" if done else ""
        self.echo(f"{name}: downloading {_megabytes(total)}{resumed}")

    def advance(self, count: int) -> None:
        """One line at each quarter of the file."""
        self.done += count
        quarter = 4 * self.done // self.total if self.total else 0
        if quarter > self.quarter and quarter < 4:
            self.echo(f"{self.name}: {25 * quarter}% ({_megabytes(self.done)} of {_megabytes(self.total)})")
        self.quarter = max(self.quarter, quarter)

    def finish(self) -> None:
        """Say how much arrived."""
        self.echo(f"{self.name}: {_megabytes(self.done)} of {_megabytes(self.total)} downloaded")


class RichReporter(PlainReporter):
    """Progress as a rich bar with bytes, speed and time left (on a terminal)."""

    def __init__(self, console=None):
        from rich.console import Console

        super().__init__()
        self.console = console or Console(stderr=True)
        self.progress = None
        self.task = None

    def line(self, text: str) -> None:
        """A message above the bar."""
        self.console.print(text, markup=False, highlight=False)

    def start(self, name: str, total: int, done: int) -> None:
        """A new bar for the file, filled up to what a resumed download already has."""
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(name, total=total, completed=done)

    def advance(self, count: int) -> None:
        """Move the bar."""
        self.progress.update(self.task, advance=count)

    def finish(self) -> None:
        """Stop the bar."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def reporter_for_stream(stream=None):
    """A rich bar on a terminal, plain lines elsewhere."""
    stream = stream or sys.stderr
    return RichReporter() if stream.isatty() else PlainReporter()


@click.group("data")
def data() -> None:
    """The public datasets the image tasks read: list them, fetch and verify them.

    \b
    The cache is $NNBENCH_DATA, default ~/.cache/nnbench. A task with no data_dir reads it:
      nnbench data fetch mnist        # then tasks: [mnist] in a suite works
    """


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@debug_option
def list_(as_json) -> None:
    """List the fetchable datasets, their download size and whether they are in the cache."""
    from nnbench import datasets
    from nnbench.tables import print_table

    rows = datasets.describe()
    if as_json:
        click.echo(json.dumps({"cache": str(datasets.cache_root()), "datasets": rows}, indent=2))
        return
    table = [
        [
            row["name"],
            _megabytes(row["download_bytes"]),
            "fetched" if row["verified"] else "files present" if row["fetched"] else "not fetched",
            row["folder"],
            row["title"],
        ]
        for row in rows
    ]
    print_table("datasets", ["name", "download", "state", "folder", "what"], table)
    click.echo(f"cache: {datasets.cache_root()} (set NNBENCH_DATA to move it)", err=True)


@data.command("fetch")
@click.argument("name")
@click.option(
    "--mirror", default=None, metavar="URL", help="Fetch the same files from this base URL instead."
)
@click.option(
    "--dir",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache folder to fetch into (default: $NNBENCH_DATA or ~/.cache/nnbench).",
)
@debug_option
def fetch(name, mirror, root) -> None:
    """Download a dataset, verify every file's SHA-256, and put it in the cache.

    \b
    Example:
      nnbench data fetch mnist
      nnbench data fetch cifar10 --mirror https://example.org/cifar/ --dir /data/nnbench
    A file that does not match its pinned checksum is refused (exit 2) and nothing is kept;
    an interrupted download resumes when the command is run again.
    """
    from nnbench import datasets

    if mirror is not None and not mirror.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"expected an http:// or https:// URL, got {mirror!r}", param_hint="--mirror"
        )
    folder = datasets.fetch(name, mirror=mirror, root=root, reporter=reporter_for_stream())
    click.echo(str(folder))
    if root is not None:
        click.echo(f"tasks read it with data_dir: {folder}, or with NNBENCH_DATA={root}", err=True)
