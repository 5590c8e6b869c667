"""Reports: read the store's DataFrames and write a self-contained HTML page (plotly, Jinja2).

``write_report(results, curves, runs, path)`` writes one page that works offline; the figures it
draws are built by the pure functions in :mod:`nnbench.report.figures`.
"""

from nnbench.report.page import write_report

__all__ = ["write_report"]
