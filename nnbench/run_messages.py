"""What ``nnbench run`` says at a terminal: the start line before any trial, and the lines at the end.

Pure functions of a :class:`nnbench.runner.RunSummary`, so each phrase is tested without training.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from nnbench.runner import RunSummary


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def not_applicable_phrase(reasons: Counter) -> str:
    """``"26 n/a (20 where the architecture takes other inputs, 6 where it does another kind of task)"``.

    ``reasons`` counts n/a trials by their reason. The default reasons of
    :meth:`nnbench.Architecture.incompatibility` are grouped by what they say; a plugin's own
    reasons are counted as such.
    """
    total = sum(reasons.values())
    if not total:
        return "0 n/a"
    groups: Counter = Counter()
    for reason, n in reasons.items():
        text = str(reason)
        if " inputs, not " in text:
            groups["where the architecture takes other inputs"] += n
        elif " does " in text and ", not " in text:
            groups["where it does another kind of task"] += n
        else:
            groups["for a reason its plugin gives"] += n
    parts = ", ".join(f"{n} {group}" for group, n in groups.most_common())
    return f"{total} n/a ({parts})"


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``1 h 05 min``: a rough duration for an estimate."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def start_line(summary: RunSummary) -> str:
    """The line printed before the first trial: what will run, what is skipped, and how long it should take.

    With adaptive seeds the run's size depends on its verdicts: the line gives the trials and the time
    for the seeds asked for now (``min`` everywhere, on a fresh store) and at most (every task
    undecided to ``max``): ``54 to 270 trials to run ... about 8 to 40 min``.
    """
    from nnbench.runner import TRIAL_OVERHEAD_S

    most = summary.jobs_max if summary.jobs_max is not None else summary.jobs
    count = f"{summary.jobs} to {most} trials" if most != summary.jobs else _plural(summary.jobs, "trial")
    looks = summary.looks
    adaptive = (
        f" (adaptive seeds {looks.min_seeds} to {looks.max_seeds}: more only where a task is undecided)"
        if looks is not None and most != summary.jobs
        else ""
    )
    head = (
        f"{count} to run{adaptive}, {summary.already_done} already in the store, "
        f"{not_applicable_phrase(summary.not_applicable_reasons)}"
    )
    if most == 0:
        return head + "; nothing to train."
    seconds = summary.estimated_seconds()
    seconds_max = summary.estimated_seconds(at_most=True)
    workers = min(summary.workers, most)
    on = f"on {_plural(workers, 'worker')}"
    if seconds is None or seconds_max is None:
        return f"{head}; {on}, no time estimate (a budget without a time limit)."
    budgets = sorted({s for s in [*summary.budget_seconds, *summary.budget_seconds_max] if s is not None})
    shown = " or ".join(f"{b:g} s" for b in budgets[:3])
    overhead = TRIAL_OVERHEAD_S.get(summary.executor, TRIAL_OVERHEAD_S["process"])
    span = duration(seconds) if most == summary.jobs else _span(seconds, seconds_max)
    return (
        f"{head}; about {span} {on} "
        f"(estimate: {shown} of training a trial plus ~{overhead:g} s of start-up and evaluation)."
    )


def _span(low: float, high: float) -> str:
    """``8 to 40 min``, ``42 s to 3 min``: two durations, the unit said once when they share it."""
    first, second = duration(low), duration(high)
    if first.endswith(" min") and second.endswith(" min"):
        return f"{first.removesuffix(' min')} to {second}"
    return f"{first} to {second}"


def adaptive_line(summary: RunSummary) -> str | None:
    """With adaptive seeds, how the tasks stand after the run: how many are decided, which are not."""
    if summary.looks is None or not summary.adaptive_tasks:
        return None
    decided = [key for key, last, _, _ in summary.adaptive_tasks if last is not None and last.decided]
    open_tasks = []
    for key, last, tried, done in summary.adaptive_tasks:
        if last is not None and last.decided:
            continue
        name = key.split(" ", 1)[0]
        most = max(tried.values(), default=0)
        state = f"undecided at {most} seeds (max)" if done else "not finished"
        open_tasks.append(f"{name} {state}")
    total = len(summary.adaptive_tasks)
    line = (
        f"adaptive seeds: {len(decided)} of {total} task{'s' if total != 1 else ''} decided "
        "(every entry worse than the leader or equivalent to it)"
    )
    return line + (f"; {', '.join(open_tasks)}" if open_tasks else "")


def end_lines(summary: RunSummary, db_given: bool = False) -> list[str]:
    """The lines printed when the run ends: what ran, failures, where the results are, what to type next."""
    store = Path(summary.db_path).resolve()
    ran = len(summary.records)
    lines = []
    if summary.interrupted and ran == 0:
        lines.append(
            "interrupted before any trial finished: nothing new was saved; "
            "run the same command to start again"
        )
        return lines
    counts = ", ".join(f"{status} {n}" for status, n in sorted(summary.counts.items()))
    if ran == 0:
        lines.append(
            f"nothing to train: {summary.already_done} trial(s) already in the store, "
            f"{summary.not_applicable} n/a"
        )
    else:
        lines.append(
            f"ran {_plural(ran, 'trial')}: {counts}; {summary.already_done} already in the store; "
            f"{summary.not_applicable} n/a"
        )
    for record in summary.failures:
        first = (record.get("error") or "").splitlines()[0:1]
        lines.append(
            f"  {record['status']}: {record.get('arch_label')} · {record['task']} · seed {record['seed']}: "
            f"{first[0] if first else ''}"
        )
    adaptive = adaptive_line(summary)
    if adaptive is not None:
        lines.append(adaptive)
    lines.append(f"results: {store}")
    report = Path("report.html").resolve()
    db_part = f" --db {shlex.quote(str(store))}" if db_given else ""
    lines.append(f"next: nnbench report{db_part} -o report.html   (writes {report})")
    if summary.interrupted:
        lines.append("interrupted: finished trials are saved; run the same command to resume")
    return lines
