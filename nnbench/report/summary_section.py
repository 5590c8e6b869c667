"""The report's first screen: the verdict table. Per task, who leads, the outcome against the runner-up
with the difference and its interval, the margin, the seeds, and for an undecided task about how many
seeds would decide it; then the same in sentences.

The verdicts are :class:`nnbench.verdict.TaskVerdict` objects, computed once per task by the task's
section (:mod:`nnbench.report.task_section`) with the procedure every consumer shares; this module
only puts them into words that match the procedure ("decidedly ahead", "equivalent within 1 point",
"undecided").
"""

from __future__ import annotations

import math

from nnbench import verdict
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table
from nnbench.types import Margin

BLANK = f.BLANK


def margin_words(task_verdict: verdict.TaskVerdict, metric: str) -> str:
    """The equivalence margin as people say it: ``1 point`` of accuracy, ``10% of the leader's fid``."""
    margin = task_verdict.margin
    if margin is None or not task_verdict.margin_abs > 0:
        return "none"
    if isinstance(margin, Margin) and margin.relative:
        return f"{100 * margin.value:.3g}% of the leader's {metric}"
    value = task_verdict.margin_abs
    if "accuracy" in metric and value < 1:
        points = 100 * value
        return f"{points:.3g} point{'' if points == 1 else 's'}"
    return f"±{value:.3g}"


def outcome_words(task_verdict: verdict.TaskVerdict, metric: str) -> str:
    """The leader against the runner-up, in the procedure's words."""
    runner = task_verdict.runner_up
    if task_verdict.leader is None:
        return "no trial finished ok"
    if runner is None:
        return "alone: no other architecture scored"
    if runner.outcome == verdict.WORSE:
        return f"decidedly ahead of {runner.entry}"
    if runner.outcome == verdict.EQUIVALENT:
        return f"equivalent to {runner.entry} within {margin_words(task_verdict, metric)}"
    text = f"undecided against {runner.entry}"
    current = max(runner.seeds)
    if runner.seeds_needed is not None and runner.seeds_needed > current:
        more = runner.seeds_needed - current
        text += f": about {more} more seed{'' if more == 1 else 's'} each would likely decide it"
    elif not runner.difference.has_interval:
        text += f" ({runner.reason})"
    return text


def difference_text(comparison: verdict.Comparison | None) -> str:
    """``0.052 [0.031, 0.073]``: the leader's lead (oriented: positive is ahead) and its interval."""
    if comparison is None:
        return BLANK
    d = comparison.difference
    if not math.isfinite(d.estimate):
        return BLANK
    if not d.has_interval:
        return f"{f.num(d.estimate, 3)} (no interval)"
    return f"{f.num(d.estimate, 3)} [{f.num(d.low, 3)}, {f.num(d.high, 3)}]"


def task_summary(task: dict) -> dict:
    """One task's row of the verdict table and its sentence, from the task section's data."""
    task_verdict: verdict.TaskVerdict = task["verdict"]
    board = task["board"]
    metric = task["metric"]
    leader = task_verdict.leader
    row = board[board["arch_label"].astype(str) == str(leader)].iloc[0] if leader is not None else None
    runner = task_verdict.runner_up
    seeds = BLANK
    if leader is not None:
        seeds = str(task_verdict.seeds.get(leader, 0))
        if runner is not None:
            seeds += f" / {task_verdict.seeds.get(runner.entry, 0)}"
    score = BLANK
    if row is not None and row["n"]:
        score = f.num(row["mean"]) + (f" ± {f.num(row['std'], 2)}" if row["n"] > 1 else "")
    return {
        "task": task["name"],
        "anchor": task["anchor"],
        "metric": metric,
        "leader": leader if leader is not None else BLANK,
        "reference": bool(row["reference"]) if row is not None else False,
        "outcome": runner.outcome if runner is not None else ("alone" if leader else "none"),
        "verdict": outcome_words(task_verdict, metric),
        "difference": difference_text(runner),
        "margin": margin_words(task_verdict, metric),
        "seeds": seeds,
        "score": score,
        "train_s": f.seconds(row["train_s"]) if row is not None else BLANK,
        "cost": f.usd(row["cost_usd"]) if row is not None else BLANK,
        "decided": task_verdict.decided,
        # the family in general words (each task's section gives its own count of pairs), so the
        # verdict table's note says the procedure once, not once per count of entries
        "procedure": verdict.procedure_text(task_verdict.alpha, task_verdict.design),
    }


def summary_table(summaries: list[dict]) -> Table:
    """The verdict table: one row per task, the verdict beside the leader."""
    columns = [
        Column("task", "task", "link"),
        Column("leader", "leader", "arch"),
        Column("verdict", "verdict against the runner-up", "wrap"),
        Column("difference", "lead [interval]", "num"),
        Column("margin", "margin", "wrap"),
        Column("seeds", "seeds (leader / runner-up)", "num"),
        Column("score", "leader's test score (mean ± sd)", "num"),
        Column("train_s", "train time (s)", "num"),
        Column("cost", "cost", "num"),
    ]
    return Table("summary", columns, summaries)
