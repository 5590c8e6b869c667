"""Each task's own section of the report: what the task tests, its leaderboard, quality against
time and cost, learning curves, time and cost to target, throughput and resources, pairs not run.

A per-task section (:mod:`nnbench.report.sections`): :func:`build` takes the task's
:class:`~nnbench.report.sections.TaskView` and returns the data of ``templates/_task.html`` with its
figures. The numbers come from :mod:`nnbench.stats`; this module arranges and formats them.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table, TaskView

BLANK = f.BLANK


def first_value(series: pd.Series) -> Any:
    """The first non-missing value of ``series``, or None."""
    present = series.dropna()
    return present.iloc[0] if len(present) else None


def build(view: TaskView) -> tuple[dict | None, dict[str, Any]]:
    """One task's section and its figures; ``(None, {})`` when no trial of the task competes."""
    task_trials = view.competing
    if not len(task_trials):
        return None, {}
    metric, higher_is_better = view.metric, view.higher_is_better
    target = f.number(first_value(task_trials["target"]))
    task_verdict = stats.verdict_of_task(task_trials, higher_is_better, looks=view.looks)
    board = stats.leaderboard(task_trials, higher_is_better, looks=view.looks, task_verdict=task_verdict)
    records = board.to_dict("records")
    attempted = task_trials[task_trials["status"] != "skipped"]
    capped = stats.ran_to_time_cap(
        task_trials.loc[task_trials["status"] == "ok", "train_s"],
        task_trials.loc[task_trials["status"] == "ok", "budget_s"] if "budget_s" in task_trials else None,
    )
    section = {
        "name": view.name,
        "anchor": f"task-{view.index}",
        "description": view.description,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "direction": view.direction,
        "target": None if math.isnan(target) else f.num(target),
        "version": first_value(task_trials["task_version"]) if "task_version" in task_trials else None,
        "config": f.config_text(first_value(task_trials["task_config"]))
        if "task_config" in task_trials
        else "",
        "n_trials": len(attempted),
        "n_ok": int((task_trials["status"] == "ok").sum()),
        "board": board,
        "verdict": task_verdict,
        "anchors": stats.task_anchors(task_trials),
        "samples": stats.task_samples(task_trials),
        "procedure": task_verdict.procedure(),
        "leaderboard": leaderboard_table(records, metric),
        "targets": target_table(records) if not math.isnan(target) else None,
        "resources": resource_table(records),
        "not_applicable": not_applicable(task_trials),
        "time_cap": f.seconds(capped) if capped is not None else None,
        "figures": [],
    }
    plots: dict[str, Any] = {}
    name = view.name  # the figure builders escape titles for plotly.js
    common = {"metric": metric, "higher_is_better": higher_is_better, "colors": view.colors}

    def add(kind: str, title: str, label: str, note: str, build_figure, empty: str) -> None:
        fig_id = f"fig-{view.index}-{kind}"
        figure = build_figure()
        if figure is not None:
            plots[fig_id] = figure
        section["figures"].append(
            {
                "id": fig_id if figure is not None else None,
                "title": title,
                "label": label,
                "note": note,
                "empty": empty,
            }
        )

    better = "down" if not higher_is_better else "up"
    front = (
        f"Every trial trained for its whole time budget ({f.seconds(capped)} s), so training time does not tell "
        "them apart and no Pareto front is drawn: compare quality at equal time."
        if capped is not None
        else "Dashed: the Pareto front."
    )
    add(
        "quality-time",
        "Quality against training time",
        f"test {metric} against training time in seconds",
        f"Small dots: one trial each. Large markers: median time (bars: interquartile range) and mean "
        f"score (bars: 95% interval). {front} Left is faster; {better} is better.",
        lambda: (
            figures.quality_vs_train_time(
                task_trials, title=f"{name}: quality against training time", pareto=capped is None, **common
            )
            if len(figures.plottable_trials(task_trials, "train_s"))
            else None
        ),
        "No trial finished ok with a measured training time.",
    )
    add(
        "quality-cost",
        "Quality against cost",
        f"test {metric} against training cost in US dollars",
        f"As above with the training cost (train hours x the device's price per hour). Left is cheaper; "
        f"{better} is better."
        + (" Cost follows time here, so again no Pareto front." if capped is not None else ""),
        lambda: (
            figures.quality_vs_cost(
                task_trials, title=f"{name}: quality against cost", pareto=capped is None, **common
            )
            if len(figures.plottable_trials(task_trials, "cost_usd"))
            else None
        ),
        "No cost was measured (the suite sets no price for this device).",
    )
    band = stats.curve_band(view.points)
    for x, kind, what in (("train_s", "curve-time", "training time"), ("step", "curve-steps", "steps")):
        add(
            kind,
            f"Learning curves against {what}",
            f"validation {metric} against {what}, mean over seeds with a band",
            "Line: mean over seeds at each evaluation; band: lowest to highest seed.",
            lambda x=x, what=what: (
                figures.learning_curves(
                    band, x=x, title=f"{name}: validation {metric} against {what}", **common
                )
                if len(band)
                else None
            ),
            "No validation curve was recorded for trials that finished ok.",
        )
    return section, plots


# ---------------------------------------------------------------------------------------------
# tables


def _rank_text(row: dict) -> str:
    if f.missing(row["rank"]):
        return BLANK
    return ("=" if row["tied"] else "") + str(int(row["rank"]))


def leaderboard_table(records: list[dict], metric: str) -> Table:
    """The leaderboard: rank, mean ± std, interval, seeds, training time and cost per architecture."""
    rows = []
    for row in records:
        n = row["n"]
        score = (
            BLANK
            if n == 0
            else f.num(row["mean"])
            if n == 1
            else f"{f.num(row['mean'])} ± {f.num(row['std'], 2)}"
        )
        train = f.seconds(row["train_s"])
        if n >= 2 and not f.missing(row["train_s_q1"]):
            train += f" [{f.seconds(row['train_s_q1'])}–{f.seconds(row['train_s_q3'])}]"
        rows.append(
            {
                "against": against_leader(row),
                "rank": _rank_text(row),
                "label": row["arch_label"],
                "config": f.config_text(row["arch_config"]),
                "reference": bool(row["reference"]),
                "score": score,
                "interval": f"[{f.num(row['ci_low'])}, {f.num(row['ci_high'])}]" if n >= 2 else "n/a",
                "n": str(n),
                "train_s": train,
                "cost_usd": f.usd(row["cost_usd"]),
            }
        )
    columns = [
        Column("rank", "rank", "num"),
        Column("label", "architecture", "arch", hover="config"),
        Column("score", f"test {metric} (mean ± std)", "num"),
        Column("interval", "95% interval", "num"),
        Column("n", "n seeds", "num"),
        Column("against", "against the leader: lead [interval]", "wrap"),
        Column("train_s", "train time (s, median [IQR])", "num"),
        Column("cost_usd", "cost (USD, median)", "num"),
    ]
    return Table("leaderboard", columns, rows)


def against_leader(row: dict) -> str:
    """An entry's outcome against its task's leader, with the leader's lead and its interval."""
    outcome = row.get("outcome")
    if outcome == "leader":
        return "leader"
    if outcome is None or (isinstance(outcome, float) and math.isnan(outcome)):
        return BLANK if row["n"] == 0 else "not compared (one seed)"
    lead = f.num(row["difference"], 3)
    if f.missing(row["diff_low"]):
        return f"{outcome} ({lead}, no interval)"
    text = f"{outcome}: {lead} [{f.num(row['diff_low'], 3)}, {f.num(row['diff_high'], 3)}]"
    needed = row.get("seeds_needed")
    # The same count as the verdict table's: seeds to add to each side, not the total.
    more = int(needed) - int(row["n"]) if not f.missing(needed) and needed else 0
    if outcome == "undecided" and more > 0:
        text += f"; ~{more} more seed{'' if more == 1 else 's'} each would decide"
    return text


def target_table(records: list[dict]) -> Table:
    """Time and cost to the task's target per architecture, with the success rate."""
    rows = []
    for row in records:
        n = int(row["n_trials"])
        reached = int(row.get("n_reached", 0) or 0)
        rows.append(
            {
                "label": row["arch_label"],
                "reference": bool(row["reference"]),
                "ttt": f.seconds(row["ttt_median"]),
                "success": f"{reached}/{n} ({f.percent(row['success_rate'])})" if n else BLANK,
                "ctt": f.usd(row["ctt_median"]),
            }
        )
    columns = [
        Column("label", "architecture", "arch"),
        Column("ttt", "time to target (s, median)", "num"),
        Column("success", "reached", "num"),
        Column("ctt", "cost to target (median)", "num"),
    ]
    return Table("targets", columns, rows)


def resource_table(records: list[dict]) -> Table:
    """Throughput, step time, parameters, FLOPs, memory, energy and MFU per architecture (medians)."""
    rows = [
        {
            "label": row["arch_label"],
            "reference": bool(row["reference"]),
            "samples_per_s": f.rate(row["samples_per_s"]),
            "step_ms": f.num(row["step_ms_median"], 3)
            + (" (noisy)" if row.get("noisy_share", 0) >= 0.5 else ""),
            "params": f.count(row["params"]),
            "flops": f.si(row["flops_per_step"], "FLOP"),
            "memory": f.size(row["peak_mem_bytes"]),
            "energy": f.si(row["energy_j"], "J"),
            "mfu": f.percent(row["mfu"]),
        }
        for row in records
    ]
    columns = [
        Column("label", "architecture", "arch"),
        Column("samples_per_s", "samples/s", "num"),
        Column("step_ms", "step (ms)", "num"),
        Column("params", "params", "num"),
        Column("flops", "FLOPs/step", "num"),
        Column("memory", "peak memory", "num"),
        Column("energy", "energy", "num"),
        Column("mfu", "MFU", "num"),
    ]
    return Table("resources", columns, rows)


def not_applicable(task_trials: pd.DataFrame) -> list[dict]:
    """The architectures not run on this task (n/a), with the reason in words."""
    skipped = task_trials[task_trials["status"] == "skipped"]
    return [
        {"label": label, "reason": f.na_reason(first_value(group["error"]))}
        for label, group in skipped.groupby("arch_label", sort=True)
    ]
