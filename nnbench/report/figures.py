"""Plotly figure builders for the report: pure functions from DataFrames to a figure.

Each builder takes the rows it should draw (the caller filters, e.g. to one task) and returns a
plotly figure as a plain dict (``{"data": [...], "layout": {...}}``, what plotly.js takes); none of
them writes files or reads the store, and the numbers they draw come from :mod:`nnbench.stats`.
Figures are dicts, not ``plotly.graph_objects.Figure``, because validating thousands of points
through graph objects costs seconds on a large store; ``go.Figure(fig)`` validates one in tests.
The shared look (:func:`template`, plotly's "plotly_white") travels once per page, not per figure.
Names from the data go through :func:`plotly_text`, because plotly.js reads a small subset of HTML in
titles, legends and hover labels and a name should show as written, never as markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from plotly.colors import qualitative

from nnbench import stats

# A fixed palette, so one architecture keeps its colour in every figure of a page.
PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.Dark24)

# Above this ratio of largest to smallest value, an x axis of seconds or dollars is logarithmic.
LOG_AXIS_RATIO = 20.0
# Above this many trials in one figure, per-trial markers are left out (the summaries stay).
MAX_TRIAL_MARKERS = 3000
HEIGHT = 440
MARGIN = {"l": 60, "r": 20, "t": 50, "b": 60}


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


Figure = dict[str, Any]


@lru_cache(maxsize=1)
def template() -> dict:
    """plotly's "plotly_white" template as JSON-ready data: the page applies it to every figure."""
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def clean(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and NaN/infinity as None, ready for strict JSON."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _figure(data: list[dict], title: str, *, legend_title: str = "architecture", **layout: Any) -> Figure:
    base = {
        "title": {"text": title},
        "height": HEIGHT,
        "margin": dict(MARGIN),
        "legend": {"title": {"text": legend_title}, "orientation": "h", "yanchor": "top", "y": -0.22},
    }
    return {"data": data, "layout": base | layout}


def _axis(title: str, **options: Any) -> dict:
    return {"title": {"text": title}, **options}


def _rgba(color: str | None, alpha: float) -> str | None:
    """``#rrggbb`` as ``rgba(r, g, b, alpha)``."""
    if not color or not color.startswith("#") or len(color) != 7:
        return color
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _labels(trials: pd.DataFrame) -> pd.Series:
    if "arch_label" in trials:
        return trials["arch_label"].where(trials["arch_label"].notna(), trials["architecture"]).astype(str)
    return trials["architecture"].astype(str)


def _positions(labels: pd.Series) -> list[tuple[str, np.ndarray]]:
    """``(label, positions of its rows)`` for each distinct label, sorted by label: one grouping
    instead of one comparison of every row per label (50 labels x 5,000 trials a figure)."""
    keys = labels.astype(str).to_numpy()
    return sorted(pd.Series(keys).groupby(keys).indices.items())


def plottable_trials(trials: pd.DataFrame, x: str = "train_s") -> pd.DataFrame:
    """The rows a quality figure can draw: status ``ok``, a finite test score, a positive ``x``."""
    score = stats.numeric_column(trials, "test_score")
    spent = stats.numeric_column(trials, x)
    keep = (trials["status"] == "ok") & np.isfinite(score) & np.isfinite(spent) & (spent > 0)
    return trials[keep]


def _log_axis(values: Iterable[float]) -> bool:
    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > LOG_AXIS_RATIO


def quality_against(
    trials: pd.DataFrame,
    *,
    x: str = "train_s",
    x_title: str = "training time (s)",
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    title: str | None = None,
    pareto: bool = True,
) -> Figure:
    """Test score against what it cost (column ``x``: seconds, dollars), with the Pareto front.

    ``pareto=False`` leaves the front out: where every trial ran to the same time cap, its x values
    differ by timer noise only, and a front picked from that noise would mislead.

    Per architecture: one small marker per trial that finished ok (left out above
    ``MAX_TRIAL_MARKERS`` trials), and a large marker at the median ``x`` and the mean score with
    error bars (x: interquartile range; y: 95% t-interval of the mean over seeds). The dashed line joins
    the architectures on the Pareto front: none of the others is both cheaper and better. The x axis
    turns logarithmic when its largest value is more than ``LOG_AXIS_RATIO`` times its smallest.
    """
    usable = plottable_trials(trials, x)
    labels = _labels(usable)
    colors = colors or architecture_colors(labels)
    spent_all = stats.numeric_column(usable, x).to_numpy()
    score_all = stats.numeric_column(usable, "test_score").to_numpy()
    seeds_all = usable["seed"].to_numpy() if "seed" in usable else np.full(len(usable), "")
    per_trial = len(usable) <= MAX_TRIAL_MARKERS
    data, summary = [], []
    for label, mask in _positions(labels):
        spent, score = spent_all[mask], score_all[mask]
        color = colors.get(label)
        name = plotly_text(label)
        if per_trial:
            data.append(
                {
                    "type": "scatter",
                    "x": spent.tolist(),
                    "y": score.tolist(),
                    "mode": "markers",
                    "name": name,
                    "legendgroup": name,
                    "showlegend": False,
                    "marker": {"size": 6, "color": _rgba(color, 0.45)},
                    "text": [f"seed {plotly_text(s)}" for s in seeds_all[mask]],
                    "hovertemplate": f"{name}<br>%{{text}}<br>x %{{x:.3g}}<br>score %{{y:.4g}}<extra></extra>",
                }
            )
        quality = stats.mean_interval(score)
        spread = stats.median_iqr(spent)
        summary.append((spread.median, quality.mean))
        two = quality.n > 1
        data.append(
            {
                "type": "scatter",
                "x": [spread.median],
                "y": [quality.mean],
                "mode": "markers",
                "name": name,
                "legendgroup": name,
                "marker": {"size": 13, "color": color, "line": {"width": 1.5, "color": "white"}},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [spread.q3 - spread.median],
                    "arrayminus": [spread.median - spread.q1],
                    "color": color,
                    "thickness": 1,
                },
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [quality.high - quality.mean if two else 0.0],
                    "arrayminus": [quality.mean - quality.low if two else 0.0],
                    "color": color,
                    "thickness": 1,
                },
                "hovertemplate": f"{name}<br>median x %{{x:.3g}}<br>mean score %{{y:.4g}}"
                f"<br>{quality.n} seed(s)<extra></extra>",
            }
        )
    if summary and pareto:
        xs = np.array([s[0] for s in summary])
        ys = np.array([s[1] for s in summary])
        front = stats.pareto_front(xs, ys, higher_is_better=higher_is_better)
        order = np.argsort(xs[front])
        data.append(
            {
                "type": "scatter",
                "x": xs[front][order].tolist(),
                "y": ys[front][order].tolist(),
                "mode": "lines+markers",
                "name": "Pareto front",
                "line": {"dash": "dash", "color": "#59636e", "width": 1.5},
                "marker": {"symbol": "diamond-open", "size": 20, "color": "#59636e"},
                "hoverinfo": "skip",
            }
        )
    log_axis = _log_axis(spent_all)
    return _figure(
        data,
        plotly_text(title) if title else "Quality against cost",
        xaxis=_axis(
            f"{x_title}, log scale" if log_axis else x_title,
            type="log" if log_axis else "linear",
            exponentformat="e" if x == "cost_usd" else "B",  # never "3p" for picodollars
        ),
        yaxis=_axis(metric_axis_title(metric, higher_is_better)),
    )


def quality_vs_train_time(trials: pd.DataFrame, **options) -> Figure:
    """Test score against training seconds, with the Pareto front (see :func:`quality_against`)."""
    options.setdefault("title", "Quality against training time")
    return quality_against(trials, x="train_s", x_title="training time (s)", **options)


def quality_vs_cost(trials: pd.DataFrame, **options) -> Figure:
    """Test score against training cost in US dollars, with the Pareto front."""
    options.setdefault("title", "Quality against cost")
    return quality_against(trials, x="cost_usd", x_title="training cost (USD)", **options)


def learning_curves(
    band: pd.DataFrame,
    *,
    x: str = "train_s",
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Validation metric against training seconds (``x="train_s"``) or steps (``x="step"``).

    ``band`` is :func:`nnbench.stats.curve_band` output: per architecture and evaluation step the
    mean over seeds (the line) and the lowest and highest seed (the shaded band).
    """
    colors = colors or architecture_colors(band["arch_label"] if len(band) else [])
    data = []
    band = band.sort_values(["arch_label", "step"], kind="stable")
    column = {name: band[name].to_numpy() for name in (x, "high", "low", "mean", "n")}
    for label, index in _positions(band["arch_label"]):
        rows = {name: values[index] for name, values in column.items()}
        xs = rows[x].astype(float).tolist()
        color = colors.get(str(label), "#59636e")
        name = plotly_text(label)
        if (rows["n"] > 1).any():
            data.append(
                {
                    "type": "scatter",
                    "x": xs + xs[::-1],
                    "y": rows["high"].astype(float).tolist() + rows["low"].astype(float).tolist()[::-1],
                    "fill": "toself",
                    "fillcolor": _rgba(color, 0.18),
                    "line": {"width": 0},
                    "name": name,
                    "legendgroup": name,
                    "showlegend": False,
                    "hoverinfo": "skip",
                }
            )
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": rows["mean"].astype(float).tolist(),
                "mode": "lines+markers" if len(xs) < 30 else "lines",
                "name": name,
                "legendgroup": name,
                "line": {"color": color, "width": 2},
                "marker": {"size": 5},
                "customdata": rows["n"].astype(int).tolist(),
                "hovertemplate": f"{name}<br>{'step' if x == 'step' else 'seconds'} %{{x:.4g}}"
                "<br>mean %{y:.4g} over %{customdata} seed(s)<extra></extra>",
            }
        )
    x_title, log_axis = ("training step", False) if x == "step" else ("training time (s)", False)
    if x == "train_s" and len(band) and _log_axis(band["train_s"]):
        x_title, log_axis = x_title + ", log scale", True
    return _figure(
        data,
        plotly_text(title) if title else "Learning curves",
        xaxis=_axis(x_title, type="log" if log_axis else "linear"),
        yaxis=_axis(f"validation {metric_axis_title(metric, higher_is_better)}"),
    )


def score_heatmap(normalized: pd.DataFrame, cell_text: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Architectures (rows) x tasks (columns) coloured by normalised score, 1 = the task's best.

    ``cell_text`` holds what each cell says (the mean score, ``n/a`` for a pair not run, ``failed``);
    a cell without a normalised score is left uncoloured.
    """
    z = [
        [round(float(v), 4) if math.isfinite(v) else None for v in row]
        for row in normalized.to_numpy(dtype=float)
    ]
    rows = [str(r) for r in normalized.index]
    columns = [str(c) for c in normalized.columns]
    # categories by position, so two long names cut to the same text stay two rows; full names on hover
    heatmap = {
        "type": "heatmap",
        "z": z,
        "x": list(range(len(columns))),
        "y": list(range(len(rows))),
        "text": [[plotly_text(v) for v in row] for row in cell_text.to_numpy()],
        "customdata": [[[plotly_text(r), plotly_text(c)] for c in columns] for r in rows],
        "texttemplate": "%{text}",
        "colorscale": "Viridis",
        "zmin": 0,
        "zmax": 1,
        "xgap": 2,
        "ygap": 2,
        "colorbar": {"title": {"text": "normalised<br>score"}, "thickness": 12},
        "hovertemplate": "%{customdata[0]} on %{customdata[1]}<br>%{text}<br>normalised %{z:.2f}<extra></extra>",
    }
    return _figure(
        [heatmap],
        plotly_text(title) if title else "Normalised score per architecture and task",
        height=max(280, 140 + 36 * len(rows)),
        margin={"l": 20, "r": 20, "t": 50, "b": 40},
        xaxis=_axis(
            "task",
            side="bottom",
            automargin=True,
            tickmode="array",
            tickvals=list(range(len(columns))),
            ticktext=[plotly_text(_short(c)) for c in columns],
        ),
        yaxis=_axis(
            "architecture",
            autorange="reversed",
            automargin=True,
            tickmode="array",
            tickvals=list(range(len(rows))),
            ticktext=[plotly_text(_short(r)) for r in rows],
        ),
    )


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def performance_profile(
    profile: pd.DataFrame, *, colors: dict[str, str] | None = None, n_tasks: int | None = None
) -> Figure:
    """The performance profile: per architecture, the share of tasks within tau of the fastest.

    ``profile`` is :func:`nnbench.stats.performance_profile` output (architectures x taus).
    """
    colors = colors or architecture_colors(profile.index)
    taus = [float(t) for t in profile.columns]
    data = []
    for label, shares in profile.iterrows():
        name = plotly_text(label)
        data.append(
            {
                "type": "scatter",
                "x": taus,
                "y": [round(float(v), 6) for v in shares],
                "mode": "lines",
                "line": {"shape": "hv", "width": 2, "color": colors.get(str(label))},
                "name": name,
                "hovertemplate": f"{name}<br>within %{{x:.2f}}x of the fastest<br>on %{{y:.0%}} of tasks<extra></extra>",
            }
        )
    suffix = f" ({n_tasks} task{'s' if n_tasks != 1 else ''} with a target reached)" if n_tasks else ""
    return _figure(
        data,
        "Performance profile: time to target across tasks" + suffix,
        xaxis=_axis("tau: time to target / fastest architecture's time (×)", range=[1, 4]),
        yaxis=_axis("share of tasks within tau", range=[-0.02, 1.02], tickformat=".0%"),
    )


def score_profiles(
    profiles: dict, *, colors: dict[str, str] | None = None, n_tasks: int | None = None
) -> Figure:
    """Score distributions across tasks (Agarwal et al. 2021): per entry, the share of its runs whose
    anchor-normalised score exceeds tau, each task weighing the same, with a stratified-bootstrap band.

    ``profiles`` maps entry labels to :class:`nnbench.across_tasks.Profile` on shared thresholds.
    """
    colors = colors or architecture_colors(profiles)
    data = []
    for label, profile in profiles.items():
        name = plotly_text(label)
        color = colors.get(str(label))
        taus = [round(float(t), 6) for t in profile.taus]
        data.append(
            {
                "type": "scatter",
                "x": taus + taus[::-1],
                "y": [round(float(v), 6) for v in profile.high]
                + [round(float(v), 6) for v in profile.low[::-1]],
                "fill": "toself",
                "fillcolor": _rgba(color, 0.15),
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
                "legendgroup": name,
                "name": name,
            }
        )
        data.append(
            {
                "type": "scatter",
                "x": taus,
                "y": [round(float(v), 6) for v in profile.share],
                "mode": "lines",
                "line": {"width": 2, "color": color},
                "name": name,
                "legendgroup": name,
                "hovertemplate": f"{name}<br>%{{y:.0%}} of runs score above %{{x:.2f}}<extra></extra>",
            }
        )
    suffix = f" ({n_tasks} task{'s' if n_tasks != 1 else ''} with anchors)" if n_tasks else ""
    return _figure(
        data,
        "Score distributions across tasks" + suffix,
        xaxis=_axis("tau: normalised score (0 = chance or untrained, 1 = the task's target)"),
        yaxis=_axis("share of runs scoring above tau", range=[-0.02, 1.02], tickformat=".0%"),
    )


# ---------------------------------------------------------------------------------------------
# tuning studies


def tuning_curves(
    studies: list[dict],
    *,
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Per study, the best validation score so far against tuning trials spent (1..N).

    ``studies`` are :func:`nnbench.report.tuning_section.study_rows` dicts (``label``, ``order``,
    ``values``). Faint dots are each trial's own validation score; a failed trial has none and the
    line carries the best so far across it.
    """
    colors = colors or architecture_colors(s["label"] for s in studies)
    data = []
    for study in studies:
        name = plotly_text(study["label"])
        color = colors.get(study["label"], "#59636e")
        best = stats.best_so_far(study["values"], higher_is_better=higher_is_better)
        data.append(
            {
                "type": "scatter",
                "x": study["order"],
                "y": study["values"],
                "mode": "markers",
                "name": name,
                "legendgroup": name,
                "showlegend": False,
                "marker": {"size": 6, "color": _rgba(color, 0.4)},
                "hovertemplate": f"{name}<br>tuning trial %{{x}}<br>validation %{{y:.4g}}<extra></extra>",
            }
        )
        data.append(
            {
                "type": "scatter",
                "x": study["order"],
                "y": best.tolist(),
                "mode": "lines",
                "line": {"shape": "hv", "width": 2, "color": color},
                "name": name,
                "legendgroup": name,
                "hovertemplate": f"{name}<br>after %{{x}} trial(s)<br>best so far %{{y:.4g}}<extra></extra>",
            }
        )
    return _figure(
        data,
        plotly_text(title) if title else "Tuning curves",
        xaxis=_axis("tuning trials spent (count)", rangemode="tozero", dtick=_count_tick(studies)),
        yaxis=_axis(f"best validation {metric_axis_title(metric, higher_is_better)} so far"),
    )


def _count_tick(studies: list[dict]) -> int | None:
    """Whole-number ticks on a short count axis; plotly's own choice past 20."""
    longest = max((len(s["order"]) for s in studies), default=0)
    return 1 if longest <= 20 else None


def tuning_spread(
    studies: list[dict],
    *,
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """A box per study over the validation scores of its tuning trials, every trial drawn as a dot.

    A narrow box means the architecture scores about the same wherever the sampler looked (it is
    not sensitive to its hyper-parameters); a tall one means tuning mattered.
    """
    colors = colors or architecture_colors(s["label"] for s in studies)
    data = []
    for position, study in enumerate(studies):
        name = plotly_text(study["label"])
        values = [v for v in study["values"] if v is not None and math.isfinite(v)]
        data.append(
            {
                "type": "box",
                "x": [position] * len(values),
                "y": values,
                "name": name,
                "boxpoints": "all",
                "jitter": 0.4,
                "pointpos": 0,
                "marker": {"color": colors.get(study["label"], "#59636e"), "size": 5},
                "line": {"width": 1.5},
                "hoverinfo": "y+name",
            }
        )
    return _figure(
        data,
        plotly_text(title) if title else "Validation scores across each tuning study",
        xaxis=_axis(
            "architecture (one box per tuning study)",
            tickmode="array",
            tickvals=list(range(len(studies))),
            ticktext=[plotly_text(_short(s["label"])) for s in studies],
        ),
        yaxis=_axis(f"validation {metric_axis_title(metric, higher_is_better)} per tuning trial"),
        showlegend=False,
    )


# ---------------------------------------------------------------------------------------------
# scaling sweeps


def scaling(
    points: pd.DataFrame,
    *,
    x_title: str,
    metric: object = None,
    higher_is_better: bool = True,
    colors: dict[str, str] | None = None,
    fits: dict[str, Any] | None = None,
    frontier: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Test score against a measure of scale (training FLOPs, parameters) on a log x axis.

    ``points`` holds one row per (``family``, ``size``) with ``x``, ``mean``, ``low``, ``high`` and
    ``n`` (see :func:`nnbench.report.scaling_section.size_points`): a line per family through its
    sizes, each point labelled with its size and with error bars of the 95% t-interval of the mean over
    seeds. ``fits`` maps a family to its fitted curve ``(xs, ys)``, drawn dashed; ``frontier`` (rows
    of ``points``, cheapest first) is drawn as the compute-efficient frontier.
    """
    colors = colors or architecture_colors(points["family"] if len(points) else [])
    data = []
    for family, rows in points.groupby("family", sort=True):
        rows = rows.sort_values("x")
        color = colors.get(str(family), "#59636e")
        name = plotly_text(family)
        two = rows["n"].to_numpy() > 1
        mean = rows["mean"].to_numpy(dtype=float)
        data.append(
            {
                "type": "scatter",
                "x": rows["x"].astype(float).tolist(),
                "y": mean.tolist(),
                "mode": "lines+markers+text",
                "text": [plotly_text(s) for s in rows["size"]],
                "textposition": "top center",
                "name": name,
                "legendgroup": name,
                "line": {"color": color, "width": 2},
                "marker": {"size": 9, "color": color},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": np.where(two, rows["high"].to_numpy(dtype=float) - mean, 0.0).tolist(),
                    "arrayminus": np.where(two, mean - rows["low"].to_numpy(dtype=float), 0.0).tolist(),
                    "color": color,
                    "thickness": 1,
                },
                "customdata": rows["n"].astype(int).tolist(),
                "hovertemplate": f"{name} %{{text}}<br>x %{{x:.3g}}<br>mean %{{y:.4g}} over %{{customdata}} seed(s)"
                "<extra></extra>",
            }
        )
        if fits and family in fits:
            xs, ys = fits[family]
            data.append(
                {
                    "type": "scatter",
                    "x": list(xs),
                    "y": list(ys),
                    "mode": "lines",
                    "name": f"{name} power-law fit",
                    "legendgroup": name,
                    "showlegend": False,
                    "line": {"color": color, "width": 1.5, "dash": "dot"},
                    "hoverinfo": "skip",
                }
            )
    if frontier is not None and len(frontier):
        data.append(
            {
                "type": "scatter",
                "x": frontier["x"].astype(float).tolist(),
                "y": frontier["mean"].astype(float).tolist(),
                "mode": "lines+markers",
                "name": "compute-efficient frontier",
                "line": {"dash": "dash", "color": "#59636e", "width": 1.5, "shape": "hv"},
                "marker": {"symbol": "diamond-open", "size": 18, "color": "#59636e"},
                "hoverinfo": "skip",
            }
        )
    return _figure(
        data,
        plotly_text(title) if title else "Quality against scale",
        legend_title="family",
        xaxis=_axis(f"{x_title}, log scale", type="log", exponentformat="SI"),
        yaxis=_axis(f"test {metric_axis_title(metric, higher_is_better)}"),
    )
