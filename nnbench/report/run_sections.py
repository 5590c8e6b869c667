"""The report's closing sections, about the runs rather than any task: failures, pairs not run
(n/a), and the environment that produced the numbers; plus the overview line under the title."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table

# Statuses that are not failures: finished, or never run because the pair does not fit (n/a).
NOT_FAILED = ("ok", "skipped")


def overview(trials: pd.DataFrame) -> dict:
    """Counts for the line under the title: trials by outcome, tasks, architectures."""
    statuses = trials["status"] if len(trials) else pd.Series(dtype=object)
    ok = int((statuses == "ok").sum())
    skipped = int((statuses == "skipped").sum())
    return {
        "n_trials": len(trials),
        "n_ok": ok,
        "n_skipped": skipped,
        "n_failed": len(trials) - ok - skipped,
        "n_tasks": trials["task"].nunique() if len(trials) else 0,
        "n_architectures": _entries(trials, statuses),
    }


def _entries(trials: pd.DataFrame, statuses: pd.Series) -> int:
    """Entries that ran on some task. An n/a pair is labelled by the plain entry (a tuned entry's n/a
    rows read "cnn", its trials "cnn (tuned)"), so counting n/a rows' labels would count it twice;
    they count only when nothing ran at all."""
    if not len(trials):
        return 0
    ran = trials[statuses != "skipped"]
    return (ran if len(ran) else trials)["arch_label"].nunique()


def failures(trials: pd.DataFrame) -> Table:
    """Trials that did not finish ok, with the first line of their reason."""
    failed = trials[~trials["status"].isin(NOT_FAILED)] if len(trials) else trials
    rows = [
        {
            "status": str(row["status"]),
            "label": row["arch_label"],
            "task": str(row["task"]),
            "seed": f.seed(row["seed"]),
            "error": f.first_line(row["error"]),
        }
        for row in failed.to_dict("records")
    ]
    columns = [
        Column("status", "status", "status"),
        Column("label", "architecture", "name"),
        Column("task", "task"),
        Column("seed", "seed", "num"),
        Column("error", "reason", "error"),
    ]
    return Table("failures", columns, rows)


def not_applicable(trials: pd.DataFrame) -> Table:
    """Pairs skipped as n/a, one row per (architecture, task), with the reason in words."""
    skipped = trials[trials["status"] == "skipped"] if len(trials) else trials
    rows = [
        {"label": label, "task": task, "seeds": len(group), "reason": f.na_reason(group["error"].dropna().iloc[0])
         if group["error"].notna().any() else f.BLANK}
        for (label, task), group in skipped.groupby(["arch_label", "task"], sort=True)
    ]  # fmt: skip
    columns = [
        Column("label", "architecture", "name"),
        Column("task", "task"),
        Column("seeds", "seeds", "num"),
        Column("reason", "reason", "error"),
    ]
    return Table("not-applicable", columns, rows)


_RUN_FIELDS = [
    ("run id", "run_id"),
    ("suite", "suite_name"),
    ("started", "started_at"),
    ("finished", "finished_at"),
    ("device name", "device_name"),
    ("nnbench", "nnbench_version"),
    ("torch", "torch_version"),
    ("git sha", "git_sha"),
]
_TIMES = ("started_at", "finished_at")
_SHOWN_RUN_FIELDS = ("nnbench_version", "torch_version", "device_name", "git_sha")


def runs(runs_frame: pd.DataFrame | None) -> list[dict]:
    """Each run's recorded fields, environment and suite text, for the environment section."""
    if runs_frame is None or len(runs_frame) == 0:
        return []
    out = []
    for row in runs_frame.to_dict("records"):
        environment, environment_text = environment_items(row.get("environment"))
        out.append(
            {
                "name": f.text(row.get("suite_name")),
                "fields": [
                    (label, f.when(row.get(key)) if key in _TIMES else f.text(row.get(key)))
                    for label, key in _RUN_FIELDS
                ],
                "environment": [(k, v) for k, v in environment if k not in _SHOWN_RUN_FIELDS],
                "environment_text": environment_text,
                "suite_text": None if f.missing(row.get("suite_text")) else str(row["suite_text"]),
            }
        )
    return out


def environment_items(raw: Any) -> tuple[list[tuple[str, str]], str | None]:
    """The environment JSON as (key, value) pairs; unparseable text comes back as-is instead."""
    if f.missing(raw):
        return [], None
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            return [], str(raw)
    if not isinstance(data, dict):
        return [], json.dumps(data, indent=2, default=str)
    return [(str(k), v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in data.items()], None
