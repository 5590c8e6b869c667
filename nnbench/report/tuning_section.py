"""The report's tuning section: per task, how each architecture's tuning study went.

A tuned suite stores three kinds of trial (the ``stage`` column): ``main`` (ordinary trials; a store
written before tuning existed has no ``stage`` and holds only these), ``tune`` (a study's trials, on
one seed with their own, usually smaller, budget) and ``final`` (the configuration the study selected
on the validation split, re-run on every seed with the full budget). Only main and final trials
compete in leaderboards and every other aggregate (:func:`competing`); this section is where the
tuning trials show: the best validation score against trials spent, the spread of validation scores
across a study, what each study selected, and whether every architecture got the same budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table, TaskView

TUNE = "tune"
FINAL = "final"
MAIN = "main"


def stages(trials: pd.DataFrame) -> pd.Series:
    """Each row's stage; a row (or a store) without one is an ordinary trial, ``main``."""
    if "stage" not in trials:
        return pd.Series(MAIN, index=trials.index, dtype=object)
    return trials["stage"].where(trials["stage"].notna(), MAIN).astype(str)


def competing(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows that compete in leaderboards and aggregates: every stage but ``tune``.

    Tuning trials ran on their own (smaller) budget and one seed, and were picked from on validation;
    ranking them beside full-budget results would reward the luckiest draw of a study.
    """
    return trials[stages(trials) != TUNE]


def tuning_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows of tuning studies (stage ``tune``)."""
    return trials[stages(trials) == TUNE]


# ---------------------------------------------------------------------------------------------
# one task's studies


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _hparams(value: Any) -> dict:
    """The sampled hyper-parameters as a dict (the store gives a dict; an export may give JSON text)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def hparams_text(value: Any) -> str:
    """``training.lr=0.0924 bias=True``: numbers to 3 significant digits, keys sorted; empty for none."""
    parts = []
    for key, item in sorted(_hparams(value).items()):
        number = isinstance(item, float | np.floating)
        parts.append(f"{key}={f.num(item, 3) if number else item}")
    return " ".join(parts)


def budget_text(steps: Any, seconds: Any) -> str:
    """A trial budget in words: ``300 steps``, ``30 s``, or ``300 steps or 30 s`` (whichever ends first)."""
    parts = []
    if not f.missing(steps):
        parts.append(f"{int(steps):,} steps")
    if not f.missing(seconds):
        parts.append(f"{f.num(seconds, 3)} s")
    return " or ".join(parts) if parts else "an unrecorded budget"


def _one_text(values: pd.Series) -> str:
    """The distinct values of a column as one text (``a`` or ``a, b``); unknown when none."""
    distinct = sorted({str(v) for v in values if not f.missing(v)})
    return ", ".join(distinct) if distinct else "unknown"


def _studies(tune: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """``(study id, label, rows)`` per study, in label order; labels made unique where two studies
    share one (e.g. a store holding runs of two versions of a suite)."""
    key = tune["study"] if "study" in tune else pd.Series(None, index=tune.index, dtype=object)
    key = key.where(key.notna(), tune["arch_label"]).astype(str)
    groups = [(str(study), str(rows["arch_label"].iloc[0]), rows) for study, rows in tune.groupby(key)]
    counts = pd.Series([label for _, label, _ in groups]).value_counts()
    named = [
        (study, label if counts[label] == 1 else f"{label} [study {study[:8]}]", rows)
        for study, label, rows in groups
    ]
    return sorted(named, key=lambda item: item[1])


def study_rows(task_trials: pd.DataFrame, higher_is_better: bool) -> list[dict]:
    """One dict per tuning study of one task's trials: its size, scores, selection and budget.

    Keys: ``study``, ``label``, ``trials`` (tuning trials stored), ``ok``, ``planned`` (the study's
    declared size, ``tune_trials``), ``best``, ``median``, ``q1``, ``q3``, ``iqr``, ``range``
    (max - min) of the validation scores of trials that finished ok, ``selected`` (the hparams of the
    best one, the first of equals, as the study selects), ``budget`` (text), ``sampler``,
    ``seeds`` (distinct seeds of its final re-runs), ``order`` and ``values`` (tune index and
    validation score of each trial, NaN where it failed) for the tuning curve.
    """
    tune = tuning_trials(task_trials)
    if tune.empty:
        return []
    finals = task_trials[stages(task_trials) == FINAL]
    return [_study_row(study, label, rows, finals, higher_is_better) for study, label, rows in _studies(tune)]


def _study_row(
    study: str, label: str, rows: pd.DataFrame, finals: pd.DataFrame, higher_is_better: bool
) -> dict:
    """:func:`study_rows`' dict for one study's tuning trials ``rows``."""
    rows = rows.assign(_order=_numeric(rows, "tune_index")).sort_values("_order", kind="stable")
    ok = rows["status"] == "ok"
    scored = _numeric(rows, "val_score").where(ok).to_numpy(dtype=float)
    finite = scored[np.isfinite(scored)]
    spread = stats.median_iqr(finite)
    best = stats.best_index(scored, higher_is_better=higher_is_better)
    reruns = finals[finals["tuned_from"].astype(str) == study] if "tuned_from" in finals else finals.iloc[:0]
    planned = _numeric(rows, "tune_trials").dropna()
    budgets = {budget_text(s, t) for s, t in zip(_column(rows, "budget_steps"), _column(rows, "budget_s"))}
    return {
        "study": study,
        "label": label,
        "trials": len(rows),
        "ok": int(ok.sum()),
        "planned": int(planned.max()) if len(planned) else None,
        "best": scored[best] if best is not None else np.nan,
        "median": spread.median,
        "q1": spread.q1,
        "q3": spread.q3,
        "iqr": spread.iqr,
        "range": float(np.ptp(finite)) if len(finite) else np.nan,
        "selected": rows["hparams"].iloc[best] if best is not None and "hparams" in rows else None,
        "budget": " / ".join(sorted(budgets)),  # one study with several budgets shows them all
        "sampler": _one_text(_column(rows, "tune_sampler")),
        "seeds": int(reruns["seed"].nunique()) if len(reruns) else 0,
        # a row without a tune index (never written by nnbench) goes by its position
        "order": [int(i) + 1 if np.isfinite(i) else n + 1 for n, i in enumerate(rows["_order"])],
        "values": scored.tolist(),
    }


def _column(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)


def budget_statement(studies: list[dict]) -> tuple[str, str | None]:
    """The sentence that states the tuning budgets of one task, and a warning when they differ.

    When every study has the same number of tuning trials, the same budget per trial and the same
    sampler, the sentence says so; otherwise the warning names what each architecture got, so the
    page never claims an equality the data does not show.
    """
    if not studies:
        return "", None
    rerun = _rerun_text(studies)
    if len({(s["trials"], s["budget"], s["sampler"]) for s in studies}) == 1:
        first = studies[0]
        who = "Every architecture" if len(studies) > 1 else f"The one architecture tuned, {first['label']},"
        sentence = (
            f"{who} got {_trials_text(first, 'tuning trial')} of {first['budget']} each "
            f"(sampler {first['sampler']}), selected on validation; {rerun}."
        )
        return sentence, None
    got = "; ".join(
        f"{s['label']}: {_trials_text(s, 'trial')} of {s['budget']} (sampler {s['sampler']})" for s in studies
    )
    warning = (
        "Unequal tuning budgets: the architectures of this task were not tuned alike, so their tuned "
        f"results are not a like-for-like comparison. {got}."
    )
    return f"Each configuration was selected on validation; {rerun}.", warning


def _trials_text(study: dict, noun: str) -> str:
    """``4 tuning trials``, or ``3 tuning trials (of 4 planned)`` for a study not finished."""
    planned = study["planned"]
    unfinished = planned is not None and planned != study["trials"]
    return _plural(study["trials"], noun) + (f" (of {planned} planned)" if unfinished else "")


def _rerun_text(studies: list[dict]) -> str:
    """How many seeds the selected configurations were re-run on, and which have no re-run yet."""
    counts = sorted({s["seeds"] for s in studies if s["seeds"]})
    waiting = [s["label"] for s in studies if not s["seeds"]]
    if not counts:
        return "no configuration has been re-run on the test seeds yet"
    if len(counts) == 1:
        text = f"test scores are of the re-runs on {_plural(counts[0], 'seed')}"
    else:
        text = f"test scores are of the re-runs on {counts[0]} to {counts[-1]} seeds (see the leaderboard)"
    return text + (f"; not re-run yet: {', '.join(waiting)}" if waiting else "")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def table_row(study: dict) -> dict:
    """One row of the sensitivity table, formatted (a dash where a study has no trial ok)."""
    return {
        "label": study["label"],
        "trials": str(study["trials"]),
        "ok": str(study["ok"]),
        "best": f.num(study["best"]),
        "median": f.num(study["median"]),
        "iqr": f.num(study["iqr"], 3),
        "range": f.num(study["range"], 3),
        "selected": hparams_text(study["selected"]) or f.BLANK,
    }


# ---------------------------------------------------------------------------------------------
# the section


def task_tuning(
    index: int,
    task_name: str,
    task_trials: pd.DataFrame,
    *,
    metric: str,
    higher_is_better: bool,
    colors: Mapping[str, str],
) -> tuple[dict | None, dict]:
    """One task's part of the tuning section and its figures; ``(None, {})`` when it has no study."""
    studies = study_rows(task_trials, higher_is_better)
    if not studies:
        return None, {}
    sentence, warning = budget_statement(studies)
    name = str(task_name)
    curve_id, spread_id = f"fig-{index}-tuning-curve", f"fig-{index}-tuning-spread"
    plots = {
        curve_id: figures.tuning_curves(
            studies,
            metric=metric,
            higher_is_better=higher_is_better,
            colors=colors,
            title=f"{name}: best validation {metric} against tuning trials",
        ),
        spread_id: figures.tuning_spread(
            studies,
            metric=metric,
            higher_is_better=higher_is_better,
            colors=colors,
            title=f"{name}: validation {metric} across each study",
        ),
    }
    section = {
        "task": name,
        "anchor": f"tuning-{index}",
        "metric": metric,
        "direction": "higher is better" if higher_is_better else "lower is better",
        "sentence": sentence,
        "warning": warning,
        "curve": curve_id,
        "spread": spread_id,
        "rows": [table_row(study) for study in studies],
    }
    section["table"] = Table(
        "tuning",
        [
            Column("label", "architecture", "name"),
            Column("trials", "trials", "num"),
            Column("ok", "ok", "num"),
            Column("best", f"best val {metric}", "num"),
            Column("median", "median val", "num"),
            Column("iqr", "IQR", "num"),
            Column("range", "range (max − min)", "num"),
            Column("selected", "selected hyper-parameters", "error"),
        ],
        section["rows"],
    )
    return section, plots


def build(view: TaskView) -> tuple[dict | None, dict]:
    """The tuning section's part for one task (see :mod:`nnbench.report.sections`)."""
    return task_tuning(
        view.index, view.name, view.trials, metric=view.metric, higher_is_better=view.higher_is_better,
        colors=view.colors,
    )  # fmt: skip
