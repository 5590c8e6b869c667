"""The verdicts of a results store, per task and across tasks: a plain terminal table and JSON.

``nnbench verdict`` prints these; the numbers all come from :mod:`nnbench.verdict` (one task) and
:mod:`nnbench.across_tasks` (scores on the tasks' fixed anchors). The regression gate
(``--baseline``) is :func:`nnbench.report.compare.compare_sides` read by :func:`regressions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from nnbench import across_tasks, stats, verdict
from nnbench.report import fmt as f
from nnbench.report.compare import Comparison, align, comparison_dict, procedure_note, warning_lines


@dataclass
class TaskResult:
    """One task's verdict with what the table shows beside it."""

    name: str
    metric: str
    verdict: verdict.TaskVerdict
    anchors: tuple[float, float] | None


@dataclass
class StoreVerdicts:
    """Every task's verdict, and the scores across tasks of every entry.

    ``looks`` is the planned looks every task was judged with when the caller fixed them; None (the
    default) when each task's came from its trials (:func:`nnbench.stats.planned_looks`).
    """

    tasks: list[TaskResult]
    alpha: float
    looks: verdict.Looks | None
    places: dict[str, across_tasks.Places] = field(default_factory=dict)
    aggregates: dict[str, dict[str, across_tasks.Estimate]] = field(default_factory=dict)
    improvement: list[tuple[str, str, across_tasks.Estimate]] = field(default_factory=list)
    anchored: list[str] = field(default_factory=list)  # the tasks with anchors (scores across tasks)
    runs: dict[str, dict[str, list[float]]] = field(
        default_factory=dict
    )  # label -> task -> normalised scores

    def procedure(self) -> str:
        """The procedure in one line; the planned looks are named when every task shares them."""
        designs = {t.verdict.design for t in self.tasks}
        if self.looks is not None:
            return verdict.procedure_text(self.alpha, self.looks)
        if len(designs) <= 1:
            return verdict.procedure_text(self.alpha, next(iter(designs), verdict.ONE_LOOK))
        return verdict.procedure_text(self.alpha, 1).replace("looks 1", "looks as each task's trials planned")


def _compared_trials(results: pd.DataFrame) -> pd.DataFrame:
    """Trials that compete: n/a pairs and tuning studies' trials left out."""
    trials = results
    if "status" in trials:
        trials = trials[trials["status"] != "skipped"]
    if "stage" in trials:
        trials = trials[trials["stage"].fillna("main").astype(str) != "tune"]
    return trials


def store_verdicts(
    results: pd.DataFrame, *, alpha: float = verdict.ALPHA, looks: verdict.Looks | int | None = None
) -> StoreVerdicts:
    """The verdict of every task in ``results`` (result rows), and every entry's scores across tasks.

    Each task is judged with the planned looks its trials recorded (adaptive seeds' ``looks``,
    ``seeds_min`` and ``seeds_max``: :func:`nnbench.stats.planned_looks`; one look for a list of
    seeds) unless ``looks`` fixes them for every task.
    """
    trials = _compared_trials(results)
    fixed = None if looks is None else verdict.as_looks(looks)
    out = StoreVerdicts([], alpha, fixed)
    if trials.empty:
        return out
    trials = trials.assign(_task=stats.task_labels(trials))  # two configurations are two tasks
    tasks = []
    for name, task_trials in trials.groupby("_task", sort=True):
        task = stats.verdict_of_task(task_trials, alpha=alpha, looks=fixed)
        tasks.append(
            (TaskResult(str(name), stats.task_metric(task_trials), task, stats.task_anchors(task_trials)),
             stats.task_samples(task_trials))
        )  # fmt: skip
    return across(tasks, alpha=alpha, looks=fixed)


def best_first(result: StoreVerdicts, labels: list[str] | None = None) -> list[str]:
    """``labels`` (default: every entry with scores across tasks), best IQM first, then most first
    places, then by name: the order of the report's across-tasks table and of its P(X > Y) matrix."""

    def key(label: str):
        iqm = result.aggregates.get(label, {}).get("iqm")
        value = iqm.value if iqm is not None and math.isfinite(iqm.value) else -math.inf
        return (-value, -result.places.get(label, across_tasks.Places()).first, label)

    return sorted(result.aggregates if labels is None else labels, key=key)


def across(
    tasks: list[tuple[TaskResult, dict[str, dict]]],
    *,
    alpha: float = verdict.ALPHA,
    looks: verdict.Looks | None = None,
    improvement_entries: int | None = None,
) -> StoreVerdicts:
    """Scores across tasks from each task's verdict and its ``{label: {seed: score}}`` samples: first
    places, IQM and mean of the anchor-normalised scores with their intervals, and P(X > Y) for every
    pair of entries (each over the anchored tasks both competed on), or with ``improvement_entries``
    for every pair among that many best entries (:func:`best_first`): a page shows no more, and the
    pairs grow as the square of the entries. ``looks``: as in :class:`StoreVerdicts` (None: each
    task's own)."""
    out = StoreVerdicts([task for task, _ in tasks], alpha, looks)
    runs: dict[str, dict[str, list[float]]] = {}  # label -> task -> normalised scores
    for task, samples in tasks:
        if task.anchors is None:
            continue
        out.anchored.append(task.name)
        for label, scores in samples.items():
            if scores:
                normalised = across_tasks.normalize(list(scores.values()), task.anchors)
                runs.setdefault(label, {})[task.name] = normalised.tolist()
    out.places = across_tasks.first_places({t.name: t.verdict for t in out.tasks})
    out.aggregates = {label: across_tasks.aggregates(by_task) for label, by_task in sorted(runs.items())}
    out.runs = runs
    labels = sorted(runs)
    if improvement_entries is not None:
        labels = sorted(best_first(out, labels)[:improvement_entries])
    for i, x in enumerate(labels):
        for y in labels[i + 1 :]:
            estimate = across_tasks.probability_of_improvement(runs[x], runs[y])
            if estimate.tasks:
                out.improvement.append((x, y, estimate))
    return out


# ---------------------------------------------------------------------------------------------
# JSON


def to_json(result: StoreVerdicts, baseline: Comparison | None = None) -> dict:
    """The machine-readable form of VERDICTS.md (``procedure``, ``tasks``) plus scores across tasks and,
    with a baseline, the regression gate."""
    data = {
        "procedure": result.procedure(),
        "alpha": result.alpha,
        "looks": result.looks.count if result.looks is not None else None,
        "tasks": [verdict.task_dict(t.name, t.metric, t.verdict) for t in result.tasks],
        "across_tasks": {
            "normalisation": "fixed anchors per task: (score - zero) / (one - zero)",
            "anchored_tasks": result.anchored,
            "entries": [
                {
                    "architecture": label,
                    "first_places": vars(result.places.get(label, across_tasks.Places())),
                    **{name: estimate.as_dict() for name, estimate in estimates.items()},
                }
                for label, estimates in result.aggregates.items()
            ],
            "probability_of_improvement": [
                {"x": x, "y": y, **estimate.as_dict()} for x, y, estimate in result.improvement
            ],
        },
    }
    if baseline is not None:
        data["baseline"] = comparison_dict(baseline)
        data["regressions"] = [{"architecture": label, "task": task} for label, task in regressions(baseline)]
    return data


def regressions(comparison: Comparison) -> list[tuple[str, str]]:
    """(architecture, task) of every entry decidedly worse on quality than in the baseline."""
    return [
        (row["label"], row["task"])
        for row in comparison.rows
        if row["test_score"]["outcome"] == verdict.WORSE
    ]


# ---------------------------------------------------------------------------------------------
# the terminal table


def _to_decide(comparison: verdict.Comparison) -> str:
    if comparison.outcome != verdict.UNDECIDED:
        return ""
    if comparison.seeds_needed is not None:
        return f"about {comparison.seeds_needed} seeds each in all"
    if comparison.difference.has_interval:
        return f"more than {verdict.MAX_SEEDS_ESTIMATE} seeds"
    return "more seeds"


def task_rows(task: TaskResult) -> list[list[str]]:
    """The table rows of one task: the leader first, then every other entry in rank order."""
    v = task.verdict
    direction = "higher" if v.higher_is_better else "lower"
    lead = [task.name, f"{task.metric} ({direction} is better)", verdict.describe_margin(v.margin)]
    rows = []
    if v.leader is None:
        return [[*lead, f.BLANK, "(no entry scored)", "", "", "", "", ""]]
    rank = v.ranks.get(v.leader)
    rows.append(
        [*lead, str(rank) if rank else f.BLANK, v.leader, f.num(v.means[v.leader]), str(v.seeds[v.leader]),
         "leader", "", ""]
    )  # fmt: skip
    for c in v.comparisons:
        d = c.difference
        interval = (
            f"{f.num(d.estimate, 3)} [{f.num(d.low, 3)}, {f.num(d.high, 3)}]"
            if d.has_interval
            else (f"{f.num(d.estimate, 3)} (no interval)")
        )
        rank = v.ranks.get(c.entry)
        rows.append(
            ["", "", "", str(rank) if rank else f.BLANK, c.entry, f.num(v.means[c.entry]),
             str(v.seeds[c.entry]), c.outcome, interval, _to_decide(c)]
        )  # fmt: skip
    for entry in v.unscored:
        rows.append(["", "", "", f.BLANK, entry, f.BLANK, "0", "no score (every trial failed)", "", ""])
    return rows


def text(result: StoreVerdicts, baseline: Comparison | None = None) -> str:
    """The verdicts as plain aligned columns (the same on a terminal and in a pipe; nothing cut)."""
    if not result.tasks:
        lines = ["no trial to judge: the store holds no scored trial of a task"]
    else:
        header = [
            "task", "metric", "margin", "rank", "architecture", "mean", "seeds",
            "against the leader", "leader - it [interval]", "to decide",
        ]  # fmt: skip
        table = [header]
        for task in result.tasks:
            table.extend(task_rows(task))
        decided = sum(t.verdict.decided for t in result.tasks)
        lines = [
            f"Verdicts: {result.procedure()}.",
            *align(table),
            f"{decided} of {len(result.tasks)} task{'s' if len(result.tasks) != 1 else ''} decided "
            "(every entry worse than the leader or equivalent to it). Intervals are Bonferroni intervals "
            "of the leader's mean minus the entry's, oriented so that positive means the leader is ahead; "
            "an entry with one seed has no interval and no rank.",
        ]
        lines.extend(_across_lines(result))
    if baseline is not None:
        lines.extend(["", *gate_lines(baseline)])
    return "\n".join(lines)


def _estimate(estimate: across_tasks.Estimate) -> str:
    if not math.isfinite(estimate.value):
        return f.BLANK
    return f"{f.num(estimate.value, 3)} [{f.num(estimate.low, 3)}, {f.num(estimate.high, 3)}]"


def _across_lines(result: StoreVerdicts) -> list[str]:
    if not result.aggregates:
        return []
    table = [["architecture", "tasks", "first places (sole)", "IQM [95% interval]", "mean [95% interval]"]]
    ordered = sorted(result.aggregates, key=lambda label: (-_value(result.aggregates[label]["iqm"]), label))
    for label in ordered:
        estimates = result.aggregates[label]
        places = result.places.get(label, across_tasks.Places())
        table.append(
            [
                label,
                str(estimates["iqm"].tasks),
                f"{places.first} of {places.competed} ({places.sole})",
                _estimate(estimates["iqm"]),
                _estimate(estimates["mean"]),
            ]
        )
    lines = [
        "",
        f"Across tasks ({len(result.anchored)} with anchors): scores normalised with each task's fixed "
        "anchors (0 = chance or a trivial model, 1 = the task's target), IQM and mean with "
        "stratified-bootstrap intervals over tasks and seeds; first places count only tasks with a rival.",
        *align(table),
    ]
    best = ordered[0]
    pairs = [(x, y, e) for x, y, e in result.improvement if best in (x, y)]
    if pairs:
        lines.append(f"Probability that a run of {best} beats a run of another on a task both ran:")
        for x, y, estimate in pairs:
            other = y if x == best else x
            value, low, high = (
                (estimate.value, estimate.low, estimate.high)
                if x == best
                else (1 - estimate.value, 1 - estimate.high, 1 - estimate.low)
            )
            lines.append(
                f"  P({best} > {other}) = {f.num(value, 3)} [{f.num(low, 3)}, {f.num(high, 3)}] "
                f"over {estimate.tasks} task{'s' if estimate.tasks != 1 else ''}"
            )
    return lines


def _value(estimate: across_tasks.Estimate) -> float:
    return estimate.value if math.isfinite(estimate.value) else -math.inf


def gate_lines(comparison: Comparison) -> list[str]:
    """The regression gate: each (architecture, task) of both stores on quality and step time."""
    lines = [
        f"Against the baseline {comparison.a.spec}: {comparison.matched} trials matched "
        f"(only in the baseline: {comparison.only_a}, only here: {comparison.only_b})",
        *warning_lines(comparison),
    ]
    table = [
        ["architecture", "task", "seeds", "quality", "new - old [interval]", "step time", "step new/old"]
    ]
    for row in comparison.rows:
        score, step = row["test_score"], row["step_ms_median"]
        interval = (
            f"{f.num(score['difference'], 3)} [{f.num(score['low'], 3)}, {f.num(score['high'], 3)}]"
            if math.isfinite(score["low"])
            else f.num(score["difference"], 3)
        )
        ratio = f"{step['ratio']:.3g}x" if math.isfinite(step["ratio"]) else f.BLANK
        table.append(
            [row["label"], row["task"], str(row["pairs"]), score["verdict"], interval, step["verdict"], ratio]
        )
    lines.extend(align(table))
    lines.append(procedure_note(comparison))
    worse = regressions(comparison)
    if worse:
        lines.append(
            f"REGRESSION: {len(worse)} entr{'ies' if len(worse) != 1 else 'y'} decidedly worse on quality "
            f"than in the baseline: " + ", ".join(f"{label} on {task}" for label, task in worse)
        )
    else:
        lines.append("No entry is decidedly worse on quality than in the baseline.")
    return lines


__all__ = [
    "StoreVerdicts",
    "TaskResult",
    "gate_lines",
    "regressions",
    "store_verdicts",
    "task_rows",
    "text",
    "to_json",
]
