"""The report's view across tasks: every entry's scores on the tasks' fixed anchors (IQM and mean with
stratified-bootstrap intervals), first places counted only where an entry had a rival, the probability
that one entry beats another, the distribution of normalised scores with bands, the architecture x task
heatmap, and the time-to-target performance profile.

Scores are normalised against anchors each task declares (0 = chance or an untrained model, 1 = the
task's target), never against whoever happens to be in the suite, so adding an entry moves no one
(:mod:`nnbench.across_tasks`, through :func:`nnbench.report.verdicts.across`, which ``nnbench verdict``
calls too).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nnbench import across_tasks, stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table
from nnbench.report.verdicts import TaskResult, across, best_first

BLANK = f.BLANK
MAX_IMPROVEMENT_ENTRIES = 8  # the P(X > Y) matrix shows at most this many entries (the best by IQM)


def _estimate(estimate: across_tasks.Estimate | None) -> str:
    if estimate is None or not math.isfinite(estimate.value):
        return BLANK
    return f"{f.num(estimate.value, 3)} [{f.num(estimate.low, 3)}, {f.num(estimate.high, 3)}]"


def build(tasks: list[dict], trials: pd.DataFrame, colors: dict[str, str]) -> tuple[dict, dict]:
    """The across-tasks section from each task's section (its verdict, anchors, samples, leaderboard)."""
    plots: dict[str, Any] = {}
    section: dict[str, Any] = {
        "n_tasks": len(tasks),
        "anchored": [],
        "table": None,
        "improvement": None,
        "scores": None,
        "heatmap": None,
        "profile": None,
        "profile_tasks": 0,
        "target_tasks": 0,
        "most_first": None,
    }
    if not tasks:
        return section, plots
    result = across(
        [(TaskResult(t["name"], t["metric"], t["verdict"], t["anchors"]), t["samples"]) for t in tasks],
        improvement_entries=MAX_IMPROVEMENT_ENTRIES,
    )
    section["anchored"] = result.anchored
    labels = sorted({str(label) for label in trials["arch_label"]})
    rows = []
    for label in labels:
        places = result.places.get(label, across_tasks.Places())
        estimates = result.aggregates.get(label, {})
        iqm = estimates.get("iqm")
        rows.append(
            {
                "label": label,
                "competed": places.competed,
                "first": f"{places.first} ({places.sole} alone)" if places.competed else BLANK,
                "iqm": _estimate(iqm),
                "mean": _estimate(estimates.get("mean")),
                "anchored": len(result.runs.get(label, {})),
                "_first": places.first,
                "_iqm": iqm.value if iqm is not None and math.isfinite(iqm.value) else -math.inf,
            }
        )
    order = {label: i for i, label in enumerate(best_first(result, [r["label"] for r in rows]))}
    rows.sort(key=lambda r: order[r["label"]])
    section["table"] = Table(
        "across",
        [
            Column("label", "architecture", "name"),
            Column("competed", "tasks with a rival", "num"),
            Column("first", "first places (sole)", "num"),
            Column("anchored", "tasks normalised", "num"),
            Column("iqm", "IQM of normalised score [95%]", "num"),
            Column("mean", "mean normalised score [95%]", "num"),
        ],
        rows,
    )
    most = max((r["_first"] for r in rows), default=0)
    if most:
        section["most_first"] = {"labels": [r["label"] for r in rows if r["_first"] == most], "count": most}
    section["improvement"] = _improvement_table(result, [r["label"] for r in rows if r["_iqm"] > -math.inf])
    scores = _score_profiles(result.runs)
    if scores:
        plots["fig-scores"] = figures.score_profiles(scores, colors=colors, n_tasks=len(result.anchored))
        section["scores"] = "fig-scores"
    heatmap = _heatmap(tasks, labels)
    if heatmap is not None:
        plots["fig-heatmap"] = heatmap
        section["heatmap"] = "fig-heatmap"
    profile, n_profile, with_target = _time_profile(tasks, labels)
    section["profile_tasks"], section["target_tasks"] = n_profile, with_target
    if n_profile:
        plots["fig-profile"] = figures.performance_profile(profile, colors=colors, n_tasks=n_profile)
        section["profile"] = "fig-profile"
    return section, plots


def _improvement_table(result, ordered: list[str]) -> Table | None:
    """P(row beats column) with its interval, for the best entries by IQM (over tasks both competed on)."""
    shown = ordered[:MAX_IMPROVEMENT_ENTRIES]
    if len(shown) < 2:
        return None
    estimates = {}
    for x, y, estimate in result.improvement:
        estimates[(x, y)] = estimate
        flipped = across_tasks.Estimate(
            1 - estimate.value, 1 - estimate.high, 1 - estimate.low, estimate.tasks, estimate.runs
        )
        estimates[(y, x)] = flipped
    keys = {label: f"vs{i}" for i, label in enumerate(shown)}
    rows = []
    for x in shown:
        row = {"label": x}
        for y in shown:
            estimate = estimates.get((x, y))
            row[keys[y]] = "" if x == y else _estimate(estimate) if estimate is not None else BLANK
        rows.append(row)
    columns = [Column("label", "P(row beats column) [95%]", "name")]
    columns += [Column(keys[y], y, "num") for y in shown]
    return Table("improvement", columns, rows)


def _score_profiles(runs: dict[str, dict[str, list[float]]]) -> dict[str, across_tasks.Profile]:
    """Per entry, the distribution of its normalised scores with bands, on one shared set of thresholds."""
    if not runs:
        return {}
    taus = across_tasks.default_taus(*runs.values())
    return {label: across_tasks.performance_profile(by_task, taus) for label, by_task in sorted(runs.items())}


def _heatmap(tasks: list[dict], labels: list[str]):
    """Architecture x task: each cell the mean score, coloured by its anchor-normalised value."""
    names = [t["name"] for t in tasks]
    normalized = pd.DataFrame(np.nan, index=labels, columns=names)
    cells = pd.DataFrame("", index=labels, columns=names, dtype=object)
    for task in tasks:
        name, board = task["name"], task["board"]
        for label in {str(r["label"]) for r in task["not_applicable"]}:
            if label in cells.index:
                cells.loc[label, name] = "n/a"
        for row in board.to_dict("records"):
            label = str(row["arch_label"])
            cells.loc[label, name] = f.num(row["mean"], 3) if row["n"] else "failed"
            if row["n"] and task["anchors"] is not None:
                normalized.loc[label, name] = float(across_tasks.normalize(row["mean"], task["anchors"]))
    if not (cells != "").to_numpy().any():
        return None
    return figures.score_heatmap(normalized, cells)


def _time_profile(tasks: list[dict], labels: list[str]) -> tuple[pd.DataFrame, int, int]:
    """The AlgoPerf time-to-target profile over tasks with a target some entry reached."""
    times = pd.DataFrame(np.nan, index=labels, columns=[t["name"] for t in tasks])
    with_target = []
    for task in tasks:
        if task["target"] is None or not len(task["board"]):
            continue
        with_target.append(task["name"])
        for row in task["board"].to_dict("records"):
            times.loc[str(row["arch_label"]), task["name"]] = row["ttt_median"]
    profile_times = times[with_target]
    return (
        stats.performance_profile(profile_times),
        stats.profile_ratios(profile_times).shape[1],
        len(with_target),
    )
