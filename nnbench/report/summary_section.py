"""The report's first screen: per task, who leads, by how much, how sure, at what time and cost.

:func:`task_summary` reads one task's leaderboard (from :func:`nnbench.stats.leaderboard`);
:func:`summary_table` lays the tasks out as one table that fits a laptop screen, the verdict next to
the leader.
"""

from __future__ import annotations

import math

import pandas as pd

from nnbench import stats
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table

BLANK = f.BLANK


def task_summary(task_name: str, anchor: str, metric: str, board: pd.DataFrame, target: float) -> dict:
    """The summary of one task: who won, by how much, at what cost, and whether it is within the noise."""
    summary = {
        "task": task_name,
        "anchor": anchor,
        "metric": metric,
        "winner": BLANK,
        "winner_reference": False,
        "score": BLANK,
        "interval": BLANK,
        "runner_up": BLANK,
        "gap": BLANK,
        "tied_with": [],
        "train_s": BLANK,
        "cost_usd": BLANK,
        "ttt": None,
        "best_neural": None,
        "verdict": "none",
        "n": 0,
    }
    scored = board[board["n"] > 0] if len(board) else board
    if len(scored) == 0:
        return summary | {"noise": "no trial finished ok"}
    best = scored.iloc[0]
    summary |= {
        "winner": best["arch_label"],
        "winner_reference": bool(best["reference"]),
        "score": f.num(best["mean"]),
        "interval": f"[{f.num(best['ci_low'])}, {f.num(best['ci_high'])}]" if best["n"] >= 2 else "n/a",
        "train_s": f.seconds(best["train_s"]),
        "cost_usd": f.usd(best["cost_usd"]),
        "n": int(best["n"]),
    }
    if not math.isnan(target):
        summary["ttt"] = {
            "target": f.num(target),
            "median": f.seconds(best["ttt_median"]),
            "reached": int(best.get("n_reached", 0) or 0),
            "n": int(best["n_trials"]),
        }
    if best["reference"]:
        neural = scored[~scored["reference"].astype(bool)]
        if len(neural):
            summary["best_neural"] = {
                "label": neural.iloc[0]["arch_label"],
                "score": f.num(neural.iloc[0]["mean"]),
            }
    if len(scored) < 2:
        return summary | {"noise": "only one architecture scored", "verdict": "alone"}
    second = scored.iloc[1]
    summary |= {"runner_up": second["arch_label"], "gap": f.num(abs(best["mean"] - second["mean"]), 3)}
    summary["tied_with"] = [
        row["arch_label"]
        for row in scored.iloc[1:].to_dict("records")
        if row["tied"] and row["rank"] == best["rank"]
    ]
    if min(best["n"], second["n"]) < stats.MIN_SEEDS_TO_JUDGE:
        return summary | {
            "noise": f"too few seeds to tell (needs {stats.MIN_SEEDS_TO_JUDGE}+ each)",
            "verdict": "few-seeds",
        }
    if stats.intervals_overlap(best["ci_low"], best["ci_high"], second["ci_low"], second["ci_high"]):
        return summary | {"noise": "within the noise (95% intervals overlap)", "verdict": "noise"}
    return summary | {"noise": "clear (95% intervals apart)", "verdict": "clear"}


def summary_table(summaries: list[dict]) -> Table:
    """One row per task: the leader with the verdict beside it, its score, the runner-up, time and cost."""
    rows = []
    for s in summaries:
        score = s["score"] if s["interval"] in ("n/a", BLANK) else f"{s['score']} {s['interval']}"
        rows.append(
            {
                "task": s["task"],
                "anchor": s["anchor"],
                "best": s["winner"],
                "reference": s["winner_reference"],
                "difference": s["noise"],
                "score": score,
                "metric": s["metric"],
                "runner_up": s["runner_up"] if s["gap"] == BLANK else f"{s['runner_up']} (−{s['gap']})",
                "seeds": str(s["n"]) if s["n"] else BLANK,
                "train_s": s["train_s"],
                "cost": s["cost_usd"],
            }
        )
    columns = [
        Column("task", "task", "link"),
        Column("best", "best", "arch"),
        Column("difference", "difference", "wrap"),
        Column("metric", "metric"),
        Column("score", "mean [95% interval]", "num"),
        Column("runner_up", "runner-up (behind by)", "wrap"),
        Column("seeds", "seeds", "num"),
        Column("train_s", "train time (s)", "num"),
        Column("cost", "cost", "num"),
    ]
    return Table("summary", columns, rows)
