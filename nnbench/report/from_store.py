"""Read a results store and write its report: the glue between :mod:`nnbench.store` and the page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnbench.errors import NnbenchError


@dataclass
class StoreData:
    """One store's trials (of one run, or all), their curves and the matching run records."""

    results: object  # pandas.DataFrame
    curves: object
    runs: object


def load_store(db=None, run_id: str | None = None) -> StoreData:
    """Load the trials of ``run_id`` (default: every trial) with their curves and run records."""
    from nnbench import store

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
    elif run_id is not None:
        curves = curves.iloc[:0]
    return StoreData(results, curves, runs)


def default_title(runs) -> str:
    """``nnbench report: smoke`` from the runs' suite names."""
    names = [str(n) for n in runs["suite_name"].dropna().unique()] if len(runs) else []
    return "nnbench report" + (f": {', '.join(names)}" if names else "")


def plugin_sections(results) -> list[dict]:
    """Extra sections from the ``report_sections`` hook of every loaded plugin."""
    from nnbench import plugins

    plugins.load_plugins()
    sections: list[dict] = []
    for extra in plugins.pm.hook.report_sections(results=results):
        sections.extend(extra if isinstance(extra, list) else [extra])
    return sections


def check_output(output: str | Path) -> Path:
    """``output`` as a Path whose folder exists; a one-line error otherwise."""
    output = Path(output)
    if output.is_dir():
        raise NnbenchError(f"-o {output}: is a folder; give a file name such as {output / 'report.html'}")
    if output.parent and not output.parent.exists():
        raise NnbenchError(f"-o {output}: folder {output.parent} does not exist")
    return output


def build_report(
    db=None,
    run_id: str | None = None,
    output: str | Path = "report.html",
    title: str | None = None,
    *,
    benchmarks: str | Path | None = None,
) -> Path:
    """Write the HTML report of the store at ``db`` (one run's trials with ``run_id``) to ``output``.

    ``benchmarks`` is a pytest-benchmark JSON file (``pytest --benchmark-json=FILE``) whose results
    go into a micro-benchmark section.
    """
    from nnbench.report.microbench import load_benchmarks
    from nnbench.report.page import write_report

    output = check_output(output)
    bench = load_benchmarks(benchmarks) if benchmarks is not None else None
    data = load_store(db, run_id)
    return write_report(
        data.results,
        data.curves,
        data.runs,
        output,
        title=title if title is not None else default_title(data.runs),
        sections=plugin_sections(data.results),
        benchmarks=bench,
    )
