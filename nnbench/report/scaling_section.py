"""The report's scaling section: per task, quality against training FLOPs and parameters over a
suite's named sizes (``size: [xs, s, m, l]``), a power-law fit per family and the compute-efficient
frontier.

A family is an architecture at every size: its label without the ``size=...`` option (``mlp size=s``
-> ``mlp``; ``mlp size=s (tuned)`` -> ``mlp (tuned)``, since a tuned family is a different treatment),
so variants that differ in other options stay apart. Each point is one (family, size): the mean
test score over seeds with its 95% bootstrap interval, at the median FLOPs or parameters of its
trials. Tuning trials never count (:func:`nnbench.report.tuning_section.competing`). The numbers
come from :func:`nnbench.stats.power_law_fit` and :func:`nnbench.stats.compute_frontier`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table, TaskView
from nnbench.report.tuning_section import FINAL, competing, stages

MIN_FIT_SIZES = 3  # a line through two points has no residual, so no interval
FIT_CURVE_POINTS = 40
# (column, axis title, figure id part, unit for the tables)
AXES = (
    ("total_train_flops", "total training FLOPs", "flops", "FLOP"),
    ("params", "parameters (count)", "params", ""),
)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def sized(trials: pd.DataFrame) -> pd.DataFrame:
    """The competing rows (no tuning trials) that ran at a named size."""
    if "size" not in trials or trials.empty:
        return trials.iloc[:0]
    rows = competing(trials)
    return rows[rows["size"].notna() & (rows["size"].astype(str) != "")]


def family_label(label: Any, size: Any, architecture: Any, stage: Any) -> str:
    """The family of one sized row: its label without ``size=<size>``; else the architecture."""
    token = f" size={size}"
    if isinstance(label, str) and token in label:
        return label.replace(token, "", 1)
    return f"{architecture} (tuned)" if stage == FINAL else str(architecture)


def families(trials: pd.DataFrame) -> pd.Series:
    """:func:`family_label` of each sized row."""
    if trials.empty:
        return pd.Series(dtype=object)
    return pd.Series(
        [
            family_label(label, size, arch, stage)
            for label, size, arch, stage in zip(
                trials["arch_label"], trials["size"], trials["architecture"], stages(trials), strict=True
            )
        ],
        index=trials.index,
        dtype=object,
    )


def size_points(trials: pd.DataFrame, x: str) -> pd.DataFrame:
    """One row per (family, size) of the sized trials that finished ok with a score and a positive ``x``.

    Columns: ``family``, ``size``, ``x`` (the median of column ``x`` over its trials), ``mean``,
    ``low``, ``high`` (95% bootstrap interval over seeds, NaN with one seed) and ``n`` (seeds).
    """
    columns = ["family", "size", "x", "mean", "low", "high", "n"]
    rows = sized(trials)
    rows = rows[rows["status"] == "ok"]
    score, spent = _numeric(rows, "test_score"), _numeric(rows, x)
    keep = np.isfinite(score) & np.isfinite(spent) & (spent > 0)
    rows = rows[keep].assign(_family=families(rows[keep]), _x=spent[keep], _score=score[keep])
    out = []
    for (family, size), group in rows.groupby(["_family", rows["size"].astype(str)], sort=True):
        quality = stats.mean_interval(group["_score"])
        out.append(
            [family, size, float(group["_x"].median()), quality.mean, quality.low, quality.high, quality.n]
        )
    return pd.DataFrame(out, columns=columns)


def fit_target(scores: pd.Series, higher_is_better: bool) -> tuple[str | None, str]:
    """What a power law is fitted to, from the task's scores: ``(kind, why)``.

    ``"error"`` (1 - metric) for a higher-is-better metric whose values all lie in [0, 1] (an
    accuracy); ``"metric"`` for a lower-is-better metric whose values are all positive (a loss);
    otherwise None, with the reason.
    """
    values = pd.to_numeric(scores, errors="coerce").dropna().to_numpy(dtype=float)
    if higher_is_better:
        if len(values) and (values >= 0).all() and (values <= 1).all():
            return "error", "fitted to the error, 1 - metric"  # the caller names the metric
        return None, "no fit: a higher-is-better metric outside [0, 1] has no error (1 - metric) to fit"
    if len(values) and (values > 0).all():
        return "metric", "fitted to the metric"
    return None, "no fit: a lower-is-better metric with values of 0 or below has no logarithm"


def family_fit(points: pd.DataFrame, kind: str | None, reason: str) -> tuple[stats.PowerLawFit | None, str]:
    """The power law of one family's (size) points, or None and why not."""
    if kind is None:
        return None, reason
    if points["size"].nunique() < MIN_FIT_SIZES:
        return None, f"no fit: {len(points)} size(s) with a value on this axis, {MIN_FIT_SIZES} needed"
    y = (
        1.0 - points["mean"].to_numpy(dtype=float)
        if kind == "error"
        else points["mean"].to_numpy(dtype=float)
    )
    if not (y > 0).all():
        return None, "no fit: the error reaches 0 at some size (a perfect score has no logarithm)"
    try:
        return stats.power_law_fit(points["x"].to_numpy(dtype=float), y), reason
    except ValueError as exc:
        return None, f"no fit: {exc}"


def fit_curve(fit: stats.PowerLawFit, kind: str) -> tuple[list[float], list[float]]:
    """The fitted power law as (x, metric) points over the family's x range, to draw."""
    xs = np.geomspace(fit.x_min, fit.x_max, FIT_CURVE_POINTS)
    ys = fit.predict(xs)
    return xs.tolist(), (1.0 - ys if kind == "error" else ys).tolist()


def frontier_points(points: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """The (family, size) points on the compute-efficient frontier, cheapest first."""
    if points.empty:
        return points
    order = stats.compute_frontier(points["x"], points["mean"], higher_is_better=higher_is_better)
    return points.iloc[order].reset_index(drop=True)


def _amount(value: float, unit: str) -> str:
    return f.si(value, unit) if unit else f.si(value)


def _missing_flops_note(trials: pd.DataFrame) -> str:
    """Which families have sized trials without a FLOPs count, so cannot sit on the FLOPs axis."""
    rows = sized(trials)
    rows = rows[(rows["status"] == "ok") & np.isfinite(_numeric(rows, "test_score"))]
    flops = _numeric(rows, "total_train_flops")
    lacking = rows[~(np.isfinite(flops) & (flops > 0))]
    if lacking.empty:
        return ""
    counts = families(lacking).value_counts().sort_index()
    who = ", ".join(f"{family} ({n} trial{'s' if n != 1 else ''})" for family, n in counts.items())
    return f"Not on the FLOPs axis, because their training FLOPs were not counted: {who}."


# ---------------------------------------------------------------------------------------------
# the section


def task_scaling(
    index: int,
    task_name: str,
    task_trials: pd.DataFrame,
    *,
    metric: str,
    higher_is_better: bool,
    colors: Mapping[str, str],
) -> tuple[dict | None, dict]:
    """One task's part of the scaling section and its figures; ``(None, {})`` without sized trials."""
    rows = sized(task_trials)
    if rows.empty:
        return None, {}
    kind, reason = fit_target(_numeric(rows[rows["status"] == "ok"], "test_score"), higher_is_better)
    fit_of = f"1 - {metric}" if kind == "error" else metric
    name = str(task_name)
    section: dict[str, Any] = {
        "task": name,
        "anchor": f"scaling-{index}",
        "metric": metric,
        "figures": [],
        "fits": [],
        "frontier": [],
        "flops_note": _missing_flops_note(task_trials),
        "fit_of": fit_of,
    }
    plots: dict[str, Any] = {}
    for column, x_title, part, unit in AXES:
        points = size_points(task_trials, column)
        fits, curves = _fits(points, kind, reason if kind is None else f"fitted to {fit_of}", x_title, unit)
        section["fits"] += fits
        frontier = frontier_points(points, higher_is_better) if column == "total_train_flops" else None
        if frontier is not None:
            section["frontier"] = [_frontier_row(row, unit) for row in frontier.to_dict("records")]
        fig_id = f"fig-{index}-scaling-{part}"
        section["figures"].append({"id": fig_id if len(points) else None, "axis": x_title})
        if len(points):
            plots[fig_id] = figures.scaling(
                points,
                x_title=x_title,
                metric=metric,
                higher_is_better=higher_is_better,
                colors=dict(colors),
                fits=curves,
                frontier=frontier,
                title=f"{name}: test {metric} against {x_title.split(' (')[0]}",
            )
    section["fits_table"] = Table(
        "scaling-fits",
        [
            Column("family", "family", "name"),
            Column("axis", "against"),
            Column("points", "sizes", "num"),
            Column("exponent", "exponent b", "num"),
            Column("interval", "95% interval", "num"),
            Column("range", "x range", "num"),
            Column("note", "note"),
        ],
        section["fits"],
    )
    section["frontier_table"] = Table(
        "frontier",
        [
            Column("from", "from (training FLOPs)", "num"),
            Column("family", "best family", "name"),
            Column("size", "size"),
            Column("score", f"test {metric} (mean)", "num"),
        ],
        section["frontier"],
    )
    return section, plots


def build(view: TaskView) -> tuple[dict | None, dict]:
    """The scaling section's part for one task (see :mod:`nnbench.report.sections`)."""
    return task_scaling(
        view.index, view.name, view.competing, metric=view.metric, higher_is_better=view.higher_is_better,
        colors=view.family_colors,
    )  # fmt: skip


def _fits(points: pd.DataFrame, kind, reason: str, x_title: str, unit: str) -> tuple[list[dict], dict]:
    """The fit table's rows for one axis and the fitted curves to draw, per family; ``reason`` is
    the note of a family fitted (what y is), or why none can be."""
    rows, curves = [], {}
    axis = x_title.split(" (")[0]
    for family, group in points.groupby("family", sort=True):
        fit, why = family_fit(group, kind, reason)
        row = {
            "family": family,
            "axis": axis,
            "points": str(len(group)),
            "exponent": f.BLANK,
            "interval": f.BLANK,
            "range": f"{_amount(group['x'].min(), unit)} – {_amount(group['x'].max(), unit)}",
            "note": why,
        }
        if fit is not None:
            curves[family] = fit_curve(fit, kind)
            row |= {"exponent": f.num(fit.exponent, 3), "interval": _interval(fit)}
        rows.append(row)
    return rows, curves


def _interval(fit: stats.PowerLawFit) -> str:
    if not (math.isfinite(fit.low) and math.isfinite(fit.high)):
        return f.BLANK
    return f"[{f.num(fit.low, 3)}, {f.num(fit.high, 3)}]"


def _frontier_row(row: dict, unit: str) -> dict:
    return {
        "from": _amount(row["x"], unit),
        "family": row["family"],
        "size": row["size"],
        "score": f.num(row["mean"]),
    }
