"""Results in a notebook or a script: the report's figures by name, and its first screen as HTML.

``nnbench.results(db)`` returns a :class:`Results`: Jupyter shows it as the report's summary (who
leads each task, by how much, how sure), and its :meth:`~Results.figure` and
:meth:`~Results.figures` give the report's plotly figures, ready for ``.show()``.
``nnbench.figures(db)`` is the dict of figures alone.
"""

from __future__ import annotations

import difflib
import pathlib
from functools import cached_property
from typing import Any

from nnbench.errors import NnbenchError


class Results:
    """One results store (or one run of it), as the report sees it."""

    def __init__(self, db: str | pathlib.Path | None = None, run: str | None = None):
        from nnbench.report.load import load_store

        data = load_store(db, run)
        self.db = db
        self.run = run
        self.trials = data.results  # one row per trial (pandas)
        self.curves = data.curves  # one row per evaluation point
        self.runs = data.runs  # one row per `nnbench run`

    @cached_property
    def page(self):
        """The report's page, built once: sections, figures and overview."""
        from nnbench.report.page import build_page

        return build_page(self.trials, self.curves, self.runs)

    def figures(self) -> dict[str, Any]:
        """Every figure of the report by name (``mnist1d/quality-time``, ``across/heatmap``, ...), as
        ``plotly.graph_objects.Figure`` objects."""
        import plotly.graph_objects as go

        from nnbench.report import figures as figure_builders

        template = figure_builders.template()
        names = self.page.figure_names()
        out = {}
        for div_id, figure in self.page.plots.items():
            spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
            spec = figure_builders.clean(spec)
            layout = {**spec.get("layout", {}), "template": spec.get("layout", {}).get("template", template)}
            out[names[div_id]] = go.Figure({"data": spec.get("data", []), "layout": layout})
        return out

    def figure(self, name: str) -> Any:
        """One figure by name; an unknown name is an error listing the names there are."""
        found = self.figures()
        if name not in found:
            close = difflib.get_close_matches(name, list(found), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise NnbenchError(f"no figure {name!r}{hint} (figures: {', '.join(sorted(found)) or 'none'})")
        return found[name]

    def summary(self):
        """The report's summary as a DataFrame: per task, the leader, the verdict, the score, the runner-up."""
        import pandas as pd

        for section in self.page.sections:
            if section.id == "summary":
                table = section.data["table"]
                return pd.DataFrame([{c.title: row[c.key] for c in table.columns} for row in table.rows])
        return pd.DataFrame()

    def _repr_html_(self) -> str:
        from nnbench.report.html import template

        summary = next((s for s in self.page.sections if s.id == "summary"), None)
        return template("notebook.html").render(section=summary, overview=self.page.overview)

    def write_report(
        self, path: str | pathlib.Path = "report.html", title: str = "nnbench report"
    ) -> pathlib.Path:
        """Write the full HTML report (self-contained) and return its path."""
        from nnbench.report.page import write_report

        return write_report(self.trials, self.curves, self.runs, path, title=title)

    def __repr__(self) -> str:
        overview = self.page.overview
        return (
            f"<nnbench.Results {overview['n_trials']} trials ({overview['n_ok']} ok) on "
            f"{overview['n_tasks']} tasks, {overview['n_architectures']} architectures>"
        )
