"""Plotly figure builders for the report: pure functions from a results DataFrame to a Figure.

Each builder takes the trial rows it should draw (the caller filters, e.g. to one task) and
returns a :class:`plotly.graph_objects.Figure`; none of them writes files or reads the store.
Names from the data go through :func:`plotly_text`, because plotly.js reads a small subset of HTML
in titles, legends and hover labels and a name should show as written, never as markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

# A fixed palette, so one architecture keeps its colour in every figure of a page.
PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.Dark24)

# Above this ratio of longest to shortest training time, the time axis is logarithmic.
LOG_AXIS_RATIO = 20.0


def plotly_text(value: object) -> str:
    """Return ``value`` as text plotly.js shows literally (its ``<``, ``>`` and ``&`` as entities)."""
    return html.escape(str(value), quote=False)


def architecture_colors(labels: Iterable[str]) -> dict[str, str]:
    """Map each architecture label to a colour, in sorted order so the mapping is stable."""
    unique = sorted({str(label) for label in labels})
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(unique)}


def metric_axis_title(metric: object, higher_is_better: bool) -> str:
    """The axis title for a primary metric, with its direction: ``accuracy (higher is better)``."""
    name = "score" if metric is None or (isinstance(metric, float) and math.isnan(metric)) else metric
    direction = "higher is better" if higher_is_better else "lower is better"
    return f"{plotly_text(name)} ({direction})"


def _arch_labels(trials: pd.DataFrame) -> pd.Series:
    if "arch_label" in trials:
        return trials["arch_label"].where(trials["arch_label"].notna(), trials["architecture"]).astype(str)
    return trials["architecture"].astype(str)


def plottable_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows a quality/time figure can draw: status ``ok``, a finite test score, a positive time."""
    score = pd.to_numeric(trials["test_score"], errors="coerce").astype(float)
    train_s = pd.to_numeric(trials["train_s"], errors="coerce").astype(float)
    keep = (trials["status"] == "ok") & np.isfinite(score) & np.isfinite(train_s) & (train_s > 0)
    return trials[keep]


def quality_vs_train_time(
    trials: pd.DataFrame,
    *,
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Test score against training seconds: one marker per successful trial, coloured by architecture.

    ``trials`` holds result rows (usually one task's); rows without status ``ok`` or without a finite
    ``test_score`` and ``train_s`` are left out. The time axis turns logarithmic when the longest
    training time is more than ``LOG_AXIS_RATIO`` times the shortest.
    """
    usable = plottable_trials(trials)
    labels = _arch_labels(usable)
    colors = colors or architecture_colors(labels)
    fig = go.Figure()
    for label in sorted(labels.unique()):
        rows = usable[labels == label]
        train_s = pd.to_numeric(rows["train_s"]).astype(float)
        score = pd.to_numeric(rows["test_score"]).astype(float)
        hover = [
            f"{plotly_text(label)}<br>seed {plotly_text(seed)}<br>train {t:.3g} s<br>score {s:.4g}"
            for seed, t, s in zip(rows["seed"], train_s, score, strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=train_s.tolist(),
                y=score.tolist(),
                mode="markers",
                name=plotly_text(label),
                marker={"size": 10, "color": colors.get(label), "line": {"width": 1, "color": "white"}},
                hovertext=hover,
                hoverinfo="text",
            )
        )

    times = pd.to_numeric(usable["train_s"]).astype(float)
    log_axis = len(times) > 1 and times.max() / times.min() > LOG_AXIS_RATIO
    fig.update_layout(
        title={"text": plotly_text(title) if title else "Quality against training time"},
        template="plotly_white",
        height=440,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        legend={"title": {"text": "architecture"}, "orientation": "h", "yanchor": "top", "y": -0.22},
    )
    fig.update_xaxes(
        title_text="training time (s, log scale)" if log_axis else "training time (s)",
        type="log" if log_axis else "linear",
    )
    fig.update_yaxes(title_text=metric_axis_title(metric, higher_is_better))
    return fig
