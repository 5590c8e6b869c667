"""The report's recall section: per task that reports recall by number of key-value pairs (``mqar``), the
test metric against model width and against the state a model keeps per sequence, a line per family,
and recall by pair count, as Zoology (Arora et al., 2023) plots them.

A task takes part when its trials' ``test_metrics`` hold ``<metric>_kv<K>`` scores (mqar's
``accuracy_kv4``, ``accuracy_kv8``, ...). A family is an architecture entry at every width: its label
without the ``<width_option>=<value>`` and ``size=...`` options, since those are what the sweep varies
(``ssm d_model=64`` -> ``ssm``); a tuned family keeps " (tuned)". Each point is one (family, width) at
one sequence length: the mean test score over seeds with its 95% bootstrap interval, at the model's
width (``model_width``) or at the median of its trials' ``state_bytes`` (see
:mod:`nnbench.context_probe`). A suite that sweeps several lengths gets one figure per length. Tuning
trials never count (:func:`nnbench.report.tuning_section.competing`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table, TaskView
from nnbench.report.tuning_section import FINAL, competing, stages

KV_KEY = re.compile(r"^(?P<metric>.+)_kv(?P<count>\d+)$")
# (column, axis title, figure id part)
AXES = (
    ("model_width", "model width (the architecture's width option)", "width"),
    ("state_bytes", "state per sequence (bytes)", "state"),
)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def kv_scores(test_metrics: Any, metric: str) -> dict[int, float]:
    """``{K: score}`` of one trial's ``test_metrics`` (``accuracy_kv8`` -> ``{8: ...}``)."""
    if not isinstance(test_metrics, Mapping):
        return {}
    scores = {}
    for key, value in test_metrics.items():
        match = KV_KEY.match(str(key))
        if match and match["metric"] == metric and isinstance(value, int | float):
            scores[int(match["count"])] = float(value)
    return scores


def recall_trials(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The competing rows that finished ok with a test score and recall by pair count."""
    if trials.empty or "test_metrics" not in trials:
        return trials.iloc[:0]
    rows = competing(trials)
    rows = rows[(rows["status"] == "ok") & np.isfinite(_numeric(rows, "test_score"))]
    has_kv = rows["test_metrics"].map(lambda m: bool(kv_scores(m, metric)))
    return rows[has_kv.astype(bool)]


def family_label(
    label: Any, width_option: Any, arch_config: Any, size: Any, architecture: Any, stage: Any
) -> str:
    """The family of one row: its label without ``<width_option>=<value>`` and ``size=<size>``.

    ``arch_config`` is the trial's options, a dict or (as the store holds it) JSON text.
    """
    text = str(label) if isinstance(label, str) else str(architecture)
    if isinstance(arch_config, str):
        try:
            arch_config = json.loads(arch_config)
        except ValueError:
            arch_config = None
    if isinstance(width_option, str) and isinstance(arch_config, Mapping) and width_option in arch_config:
        text = text.replace(f" {width_option}={arch_config[width_option]}", "", 1)
    if isinstance(size, str) and size:
        text = text.replace(f" size={size}", "", 1)
    if stage == FINAL and not text.endswith("(tuned)"):
        text += " (tuned)"
    return text


def families(trials: pd.DataFrame) -> pd.Series:
    """:func:`family_label` of each row."""
    if trials.empty:
        return pd.Series(dtype=object)
    column = {
        name: trials[name] if name in trials else [None] * len(trials) for name in ("width_option", "size")
    }
    return pd.Series(
        [
            family_label(*values)
            for values in zip(
                trials["arch_label"],
                column["width_option"],
                trials["arch_config"],
                column["size"],
                trials["architecture"],
                stages(trials),
                strict=True,
            )
        ],
        index=trials.index,
        dtype=object,
    )


def _lengths(rows: pd.DataFrame) -> pd.Series:
    return _numeric(rows, "sequence_length").fillna(0).astype(int)


def recall_points(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    """One row per (length, family, width) of :func:`recall_trials` rows with a positive ``x``.

    Columns: ``length``, ``family``, ``size`` (the width, as the point's label), ``x`` (the median of
    column ``x``), ``mean``, ``low``, ``high`` (95% bootstrap interval over seeds) and ``n``.
    """
    columns = ["length", "family", "size", "x", "mean", "low", "high", "n"]
    spent = _numeric(rows, x)
    keep = np.isfinite(spent) & (spent > 0) & np.isfinite(_numeric(rows, "model_width"))
    rows = rows[keep]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    frame = rows.assign(
        _length=_lengths(rows),
        _family=families(rows),
        _width=_numeric(rows, "model_width"),
        _x=spent[keep],
        _score=_numeric(rows, "test_score"),
    )
    out = []
    for (length, family, width), group in frame.groupby(["_length", "_family", "_width"], sort=True):
        quality = stats.mean_interval(group["_score"])
        label = f"{width:g}"
        out.append(
            [
                length,
                family,
                label,
                float(group["_x"].median()),
                quality.mean,
                quality.low,
                quality.high,
                quality.n,
            ]
        )
    return pd.DataFrame(out, columns=columns)


def kv_table(rows: pd.DataFrame, metric: str) -> tuple[list[int], list[dict]]:
    """The pair counts, and per (length, family, width) the mean ``<metric>_kv<K>`` over seeds for each."""
    if rows.empty:
        return [], []
    frame = rows.assign(_length=_lengths(rows), _family=families(rows), _width=_numeric(rows, "model_width"))
    per_trial = [kv_scores(m, metric) for m in frame["test_metrics"]]
    counts = sorted({k for scores in per_trial for k in scores})
    frame = frame.assign(_kv=per_trial)
    table = []
    for (length, family, width), group in frame.groupby(
        ["_length", "_family", "_width"], sort=True, dropna=False
    ):
        cells = []
        for count in counts:
            values = [s[count] for s in group["_kv"] if count in s]
            cells.append(f.num(float(np.mean(values))) if values else f.BLANK)
        width_text = f.BLANK if not np.isfinite(width) else f"{width:g}"
        table.append(
            {
                "length": str(length),
                "family": family,
                "width": width_text,
                "seeds": str(len(group)),
                "cells": cells,
            }
        )
    return counts, table


# ---------------------------------------------------------------------------------------------
# the section


def task_recall(
    index: int,
    task_name: str,
    task_trials: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    metric: str,
    higher_is_better: bool,
) -> tuple[dict | None, dict]:
    """One task's part of the recall section and its figures; ``(None, {})`` without recall by pairs."""
    rows = recall_trials(task_trials, metric)
    if rows.empty:
        return None, {}
    name = str(task_name)
    palette = figures.architecture_colors(families(rows)) | {k: v for k, v in colors.items()}
    counts, table = kv_table(rows, metric)
    kv_columns = [Column(f"kv{k}", f"{k} pairs", "num") for k in counts]
    section: dict[str, Any] = {
        "task": name,
        "anchor": f"recall-{index}",
        "metric": metric,
        "figures": [],
        "kv_table": Table(
            "recall-by-pairs",
            [
                Column("length", "length", "num"),
                Column("family", "family", "name"),
                Column("width", "width", "num"),
                Column("seeds", "seeds", "num"),
                *kv_columns,
            ],
            [row | {f"kv{k}": cell for k, cell in zip(counts, row["cells"], strict=True)} for row in table],
        ),
        "missing": _missing_note(rows),
    }
    plots: dict[str, Any] = {}
    for column, x_title, part in AXES:
        points = recall_points(rows, column)
        for length in sorted(set(_lengths(rows))):
            at_length = points[points["length"] == length]
            fig_id = f"fig-{index}-recall-{part}-{length}"
            axis = x_title.split(" (")[0]
            section["figures"].append(
                {"id": fig_id if len(at_length) else None, "axis": axis, "length": str(length)}
            )
            if len(at_length):
                plots[fig_id] = figures.scaling(
                    at_length,
                    x_title=x_title,
                    metric=metric,
                    higher_is_better=higher_is_better,
                    colors=palette,
                    title=f"{name} at {length} tokens: test {metric} against {axis}",
                )
    return section, plots


def build(view: TaskView) -> tuple[dict | None, dict]:
    """The recall section's part for one task (see :mod:`nnbench.report.sections`)."""
    return task_recall(
        view.index, view.name, view.competing, colors=view.family_colors, metric=view.metric,
        higher_is_better=view.higher_is_better,
    )  # fmt: skip


def _missing_note(rows: pd.DataFrame) -> str:
    """Which families cannot sit on the state axis, because their architecture declares no state size."""
    lacking = rows[~(np.isfinite(_numeric(rows, "state_bytes")) & (_numeric(rows, "state_bytes") > 0))]
    if lacking.empty:
        return ""
    who = ", ".join(sorted(set(families(lacking))))
    return f"Not on the state axis, because their architecture declares no state size: {who}."
