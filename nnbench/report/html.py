"""HTML machinery shared by every page nnbench writes (report, comparison, site index).

Pages are Jinja2 templates rendered with autoescaping, so any text that comes from the data is
escaped. Figures travel as JSON in ``<script type="application/json">`` blocks, escaped for that
place, and are drawn by plotly.js: embedded once in a standalone page, or one shared file for a
published site.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from nnbench.report import figures

# Characters that could end a <script> element or open markup, as JSON escapes (valid only
# inside JSON strings, which is the only place JSON text can hold them).
_SCRIPT_SAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
PLOTLY_FILE = "plotly.min.js"  # the shared copy of plotly.js in a published site


def figures_json(plots: dict[str, Any]) -> Markup:
    """All figures as one JSON object ``{div id: figure}``, safe to place inside a <script> element.

    A figure is a dict (see :mod:`nnbench.report.figures`) or anything with ``to_plotly_json``
    (a ``plotly.graph_objects.Figure``). NaN and infinities become null, as JSON requires.
    """
    body = {
        div_id: figures.clean(fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig)
        for div_id, fig in plots.items()
    }
    return script_json(body)


def script_json(value: Any) -> Markup:
    """``value`` as strict JSON whose text cannot end a <script> element or open markup."""
    return Markup(json.dumps(value, allow_nan=False, separators=(",", ":")).translate(_SCRIPT_SAFE))


@lru_cache(maxsize=1)
def plotly_source() -> str:
    """plotly.js as installed with the plotly package (the same version the figures are built for)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def plotly_bundle() -> Markup:
    """plotly.js, to embed once in a page; a ``</script`` inside it could not end its element."""
    return Markup(plotly_source().replace("</script", "<\\/script"))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("nnbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(name: str) -> jinja2.Template:
    """A page template of ``nnbench/report/templates`` (autoescaped, strict about undefined names)."""
    return _environment().get_template(name)
