"""``nnbench verdict``: who wins each task, by how much and how sure; with ``--baseline``, a regression gate.

``nnbench.cli`` registers it with ``cli.add_command``. Only click is imported here at module level, so
``nnbench --help`` stays fast; bad input raises :class:`nnbench.errors.NnbenchError`, which the group
prints as one line with exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nnbench.cli_options import db_option, debug_option


@click.command()
@db_option
@click.option("--run", "run_id", default=None, help="Only this run's trials (default: every trial).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON (VERDICTS.md's form).")
@click.option(
    "--baseline",
    default=None,
    metavar="OLD.db[:RUN_ID]",
    help="Regression gate: compare with an older store; exit 1 when an entry is decidedly worse on quality.",
)
@debug_option
def verdict(db, run_id, as_json, baseline) -> None:
    """Say who wins each task, by how much and how sure (paired t-intervals, Bonferroni, margins).

    Per task: the leader, every other entry worse, equivalent or undecided against it, with the
    difference, its interval, the seeds, and for an undecided entry about how many seeds would
    decide it; then scores across tasks on each task's fixed anchors. With --baseline, each
    (architecture, task) in both stores is better, worse, equivalent or undecided on quality and
    step time, and the exit status is 1 when any entry is decidedly worse on quality, 0 otherwise
    (2 on bad input).

    \b
    Example:
      nnbench verdict --db nnbench.db
      nnbench verdict --db new.db --baseline old.db --json > verdict.json
    """
    from nnbench.errors import NnbenchError
    from nnbench.report.compare import compare_sides, load_side
    from nnbench.report.load import load_store
    from nnbench.report.verdicts import regressions, store_verdicts, text, to_json
    from nnbench.store import default_db_path

    db = Path(db) if db is not None else default_db_path()
    data = load_store(db, run_id)
    if data.results.empty:
        where = f"run {run_id} of {db}" if run_id else str(db)
        raise NnbenchError(f"--db {where}: no trial to judge (run a suite first)")
    comparison = None
    if baseline is not None:
        old = load_side(baseline, what="--baseline")
        new = load_side(str(db), run_id=run_id, what="--db")
        comparison = compare_sides(old, new)
        if not comparison.rows:
            raise NnbenchError(
                f"--baseline {baseline}: no trial matches one of {db}"
                f"{' run ' + run_id if run_id else ''} (same architecture, configs, task and seed)"
            )
    result = store_verdicts(data.results)
    if as_json:
        click.echo(json.dumps(to_json(result, comparison), indent=2))
    else:
        click.echo(text(result, comparison))
    if comparison is not None and regressions(comparison):
        sys.exit(1)


COMMANDS = (verdict,)
