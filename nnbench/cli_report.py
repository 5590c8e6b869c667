"""The reporting commands of the ``nnbench`` group: ``compare``, ``publish`` and ``export``.

``nnbench.cli`` registers them with ``cli.add_command``. Only click is imported here at module level,
so ``nnbench --help`` stays fast; bad input raises :class:`nnbench.errors.NnbenchError`, which the
group prints as one line with a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path

import click

from nnbench.cli_options import db_option, debug_option


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("compare.html"),
    show_default=True,
    help="Write the comparison page (HTML) here.",
)
@click.option("--title", default=None, help="Page title.")
@debug_option
def compare(a, b, output, title) -> None:
    """Put two runs side by side: ratios of medians, and "same" where the difference is noise.

    A and B are results stores, optionally with a run: STORE.db or STORE.db:RUN_ID.
    Trials are matched on their id, or on architecture, configs, task and seed when the
    ids differ (e.g. another device).

    \b
    Example:
      nnbench compare cpu.db gpu.db -o compare.html
      nnbench compare nnbench.db:20250101-120000-ab12cd nnbench.db:20250102-090000-ef34ab
    """
    from nnbench.report.compare import compare_runs, text_table, write_comparison
    from nnbench.report.from_store import check_output

    output = check_output(output)
    result = compare_runs(a, b)
    click.echo(text_table(result))
    path = write_comparison(result, output, title=title or f"nnbench comparison: {a} vs {b}")
    click.echo(f"wrote {path}")


@click.command()
@db_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of the site (created if missing): index.html, runs/RUN_ID.html and history/*.html.",
)
@click.option("--title", default=None, help="Title of the index page.")
@debug_option
def publish(db, out, title) -> None:
    """Write a static site: an index of runs and one self-contained report per run.

    With more than one run in the store, also a history page per architecture and task: quality
    and step time in every run, and the runs where compare decides a change against the previous one.
    Links are relative: open index.html from disk or copy the folder to any static host.

    \b
    Example:
      nnbench publish --db nnbench.db --out site
      python -m http.server -d site      # or upload site/ to GitHub Pages, S3, ...
    """
    from nnbench.report.publish import publish_site

    index = publish_site(db, out, title=title)
    pages = len(list((index.parent / "runs").glob("*.html")))
    histories = len(list((index.parent / "history").glob("*.html")))
    also = f", {histories} history page{'s' if histories != 1 else ''}" if histories else ""
    click.echo(f"wrote {index} ({pages} run page{'s' if pages != 1 else ''}{also})")


@click.command()
@db_option
@click.option("--run", "run_id", default=None, help="Only this run's trials (default: every trial).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "json"]),
    default=None,
    help="File format (default: from the file name's suffix).",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="File to write.")
@debug_option
def export(db, run_id, fmt, output) -> None:
    """Export one row per trial as CSV, Parquet or JSON.

    Dict columns (e.g. test_metrics) become JSON text in CSV and Parquet.

    \b
    Example:
      nnbench export --db nnbench.db --format csv -o results.csv
    """
    from nnbench.report.export import export_results

    path, rows = export_results(db, run_id, output, fmt)
    click.echo(f"wrote {path} ({rows} trial{'s' if rows != 1 else ''})")


COMMANDS = (compare, publish, export)
