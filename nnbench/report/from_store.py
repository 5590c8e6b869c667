"""Read a results store and write its report: the glue between :mod:`nnbench.store` and the page."""

from __future__ import annotations

from pathlib import Path

from nnbench.errors import NnbenchError
from nnbench.report.load import StoreData, load_store

__all__ = ["StoreData", "build_report", "check_output", "default_title", "load_store", "plugin_sections"]


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
    data = load_store(db, run_id, curves="primary")  # the page draws no other points
    return write_report(
        data.results,
        data.curves,
        data.runs,
        output,
        title=title if title is not None else default_title(data.runs),
        sections=plugin_sections(data.results),
        benchmarks=bench,
    )
