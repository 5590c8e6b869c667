"""Read a results store and write its report: the glue between :mod:`nnbench.store` and the page."""

from __future__ import annotations

from pathlib import Path

from nnbench.errors import NnbenchError


def build_report(
    db=None, run_id: str | None = None, output: str | Path = "report.html", title: str | None = None
) -> Path:
    """Write the HTML report of the store at ``db`` (one run's trials with ``run_id``) to ``output``."""
    from nnbench import plugins, store
    from nnbench.report.page import write_report

    results = store.load_results(db, run_id=run_id)
    runs = store.load_runs(db)
    if run_id is not None:
        if run_id not in set(runs["run_id"]):
            known = ", ".join(runs["run_id"].tail(5)) or "none"
            raise NnbenchError(f"--run {run_id}: no such run in the store (latest: {known})")
        runs = runs[runs["run_id"] == run_id]
    curves = store.load_curves(db)
    if not results.empty:
        curves = curves[curves["trial_id"].isin(set(results["trial_id"]))]
    if title is None:
        names = [n for n in runs["suite_name"].dropna().unique()] if not runs.empty else []
        title = "nnbench report" + (f": {', '.join(names)}" if names else "")
    plugins.load_plugins()
    sections = []
    for extra in plugins.pm.hook.report_sections(results=results):
        sections.extend(extra if isinstance(extra, list) else [extra])
    output = Path(output)
    if output.parent and not output.parent.exists():
        raise NnbenchError(f"-o {output}: folder {output.parent} does not exist")
    return write_report(results, curves, runs, output, title=title, sections=sections)
