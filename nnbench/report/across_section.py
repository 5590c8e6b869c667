"""The report's view across tasks: the architecture x task heatmap, the performance profile and
the per-architecture table (tasks run, first places, normalised score, speed to target).

The numbers come from :mod:`nnbench.stats` (normalised scores, profile ratios); this module arranges
them and builds the two figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table

BLANK = f.BLANK


def build(tasks: list[dict], trials: pd.DataFrame, colors: dict[str, str]) -> tuple[dict, dict]:
    """The across-tasks section from each task's section (its leaderboard, target, n/a pairs)."""
    plots: dict[str, Any] = {}
    across: dict[str, Any] = {
        "heatmap": None,
        "profile": None,
        "table": None,
        "profile_tasks": 0,
        "target_tasks": 0,
        "n_tasks": len(tasks),
        "most_first": None,
        "fastest": None,
    }
    if not tasks:
        return across, plots
    labels = sorted({str(label) for label in trials["arch_label"]})
    names = [t["name"] for t in tasks]
    means = pd.DataFrame(np.nan, index=labels, columns=names)
    times = pd.DataFrame(np.nan, index=labels, columns=names)
    cells = pd.DataFrame("", index=labels, columns=names, dtype=object)
    first_places = dict.fromkeys(labels, 0)
    tasks_run = dict.fromkeys(labels, 0)
    with_target = []
    for task in tasks:
        name, board = task["name"], task["board"]
        for label in {str(r["label"]) for r in task["not_applicable"]}:
            cells.loc[label, name] = "n/a"
        for row in board.to_dict("records"):
            label = str(row["arch_label"])
            tasks_run[label] += 1
            means.loc[label, name] = row["mean"]
            cells.loc[label, name] = f.num(row["mean"], 3) if row["n"] else "failed"
            if row["rank"] == 1:
                first_places[label] += 1
        if task["target"] is not None and len(board):
            with_target.append(name)
            for row in board.to_dict("records"):
                times.loc[str(row["arch_label"]), name] = row["ttt_median"]
    normalized = stats.normalized_scores(means, {t["name"]: t["higher_is_better"] for t in tasks})
    if np.isfinite(normalized.to_numpy(dtype=float)).any():
        plots["fig-heatmap"] = figures.score_heatmap(normalized, cells)
        across["heatmap"] = "fig-heatmap"
    profile_times = times[with_target]
    profile = stats.performance_profile(profile_times)
    n_profile = stats.profile_ratios(profile_times).shape[1]
    across["profile_tasks"] = n_profile
    across["target_tasks"] = len(with_target)
    if n_profile:
        plots["fig-profile"] = figures.performance_profile(profile, colors=colors, n_tasks=n_profile)
        across["profile"] = "fig-profile"
    at = {tau: profile.get(tau) for tau in (1.0, 2.0)}
    rows = []
    for label in labels:
        score = normalized.loc[label].to_numpy(dtype=float)
        score = score[np.isfinite(score)]
        rows.append(
            {
                "label": label,
                "tasks_run": tasks_run[label],
                "first_places": first_places[label],
                "mean_normalized": f.num(score.mean(), 3) if len(score) else BLANK,
                "_sort": -score.mean() if len(score) else math.inf,
                "fastest": f.percent(at[1.0][label]) if n_profile else BLANK,
                "within_2x": f.percent(at[2.0][label]) if n_profile else BLANK,
            }
        )
    rows.sort(key=lambda r: (-r["first_places"], r["_sort"], r["label"]))
    across["table"] = Table(
        "across",
        [
            Column("label", "architecture", "name"),
            Column("tasks_run", "tasks run", "num"),
            Column("first_places", "first places", "num"),
            Column("mean_normalized", "mean normalised score", "num"),
            Column("fastest", "fastest to target", "num"),
            Column("within_2x", "within 2× of fastest", "num"),
        ],
        rows,
    )
    most = max((r["first_places"] for r in rows), default=0)
    across["most_first"] = {"labels": [r["label"] for r in rows if r["first_places"] == most], "count": most}
    if n_profile:
        fastest = profile[1.0]
        best = fastest.max()
        across["fastest"] = {
            "labels": sorted(str(label) for label in fastest.index[fastest == best]),
            "count": round(best * n_profile),
        }
    return across, plots
