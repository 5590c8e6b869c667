"""History across runs: a page per (architecture entry, task) of a store that holds several runs.

``nnbench publish`` writes ``history/<entry>.html`` for every architecture entry and task the
store's runs hold (tuning trials left out, as everywhere): its quality (mean test score and 95%
t-interval over the seeds that finished ok) and its step time (mean over those seeds of each trial's
median step time, with its interval) in each run, oldest first, every run labelled with its date,
git sha, nnbench and torch versions and device.

Each run is compared with the previous run that holds the same entry exactly as ``nnbench compare
STORE:PREVIOUS STORE:THIS`` compares them (:func:`nnbench.report.compare.compare_sides`, which calls
:func:`nnbench.verdict.compare_to_baseline`): trials matched on architecture, configs, task and seed,
a t-interval of the difference paired by seed, Bonferroni over every entry the two runs share on
that measure. Its outcome (``better``, ``worse``, ``equivalent``, ``undecided``; for times ``faster``
and ``slower``) marks the run in the figures and the table, and the settings in which the matched
trials differ (budget, batch size, threads, workers, device) are named in compare's words, with A the
previous run and B this one. No other test is made here.

The index gets a matrix of architecture x task linking to each page (:func:`write_history`).
Every link is relative; names from the store are escaped by the templates and by
:func:`nnbench.report.figures.plotly_text` in the figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from nnbench import stats, verdict
from nnbench.report import compare, figures, tuning_section
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table

HISTORY_DIR = "history"
TASK_COLUMN = "history_task"  # the store-wide task label every pair of runs is compared under
# (column, what it is on the page, unit): quality first, then step time
MEASURES = (
    ("test_score", "quality", ""),
    ("step_ms_median", "step time", "ms"),
)
NOT_COMPARED = "not compared"
FIRST = "first run"
# How each decided change is drawn: (outcome, marker symbol, colour); undecided is not drawn. The
# symbols point nowhere: on an axis where lower is better, "better" goes down.
MARKS = (
    (verdict.BETTER, "star", "#1a7f37"),
    (verdict.WORSE, "x", "#b42318"),
    (verdict.EQUIVALENT, "diamond-open", "#59636e"),
)
SETTINGS_COLOR = "#bc4c00"
MAX_TICKS = 24  # above this many runs, only every k-th run's label is written under the axis
GENERATOR = '<meta name="generator" content="nnbench">'  # what marks a page as written by nnbench


@dataclass
class RunPoint:
    """One entry's result in one run, and how it changed from the previous run that held the entry.

    ``changes`` maps each measure's column to compare's cell for it (``verdict``, ``outcome``,
    ``difference``, ``low``, ``high``, ``reason``, ``n``), or is empty for the first run;
    ``settings`` names the settings in which the matched trials differ, as compare words them.
    """

    run_id: str
    started_at: float
    git_sha: str
    nnbench_version: str
    torch_version: str
    device: str
    href: str | None  # the run's page, relative to the site's root
    trials: int
    ok: int
    quality: verdict.MeanInterval
    step: verdict.MeanInterval
    previous: str | None = None
    changes: dict[str, dict] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)
    compared: bool = False  # whether compare found matched trials of the entry in the previous run

    def change(self, column: str) -> str:
        """The word for ``column``'s change: compare's verdict, ``first run`` or ``not compared``."""
        if self.previous is None:
            return FIRST
        if not self.compared:
            return NOT_COMPARED
        return self.changes[column]["verdict"]


@dataclass
class EntryHistory:
    """One architecture entry on one task across the store's runs, oldest first."""

    label: str
    task: str
    metric: str
    higher_is_better: bool
    points: list[RunPoint]
    page: str  # the file name of its page under ``history/``

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def latest_changes(self) -> list[str]:
        """The latest run's decided changes against its previous run: ``quality worse``, ``slower``."""
        if len(self.points) < 2:
            return []
        last = self.points[-1]
        words = []
        for column, what, _ in MEASURES:
            word = last.change(column)
            if word not in (verdict.UNDECIDED, verdict.EQUIVALENT, NOT_COMPARED, FIRST):
                words.append(f"{what} {word}" if column == "test_score" else word)
        return words


# ---------------------------------------------------------------------------------------------
# the numbers


def page_file(label: str, task: str) -> str:
    """A file name for an entry's page: readable, safe on any file system, unique by a hash."""

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or "x"

    digest = hashlib.sha256(json.dumps([label, task]).encode()).hexdigest()[:10]
    return f"{slug(label)}--{slug(task)}-{digest}.html"


def ordered_runs(runs: pd.DataFrame) -> list[dict]:
    """The run records, oldest first (runs without a start time last, then by id)."""
    if runs is None or runs.empty:
        return []
    frame = runs.assign(_start=pd.to_numeric(runs.get("started_at"), errors="coerce"))
    frame = frame.sort_values(["_start", "run_id"], na_position="last", kind="stable")
    return frame.to_dict("records")


def prepared_trials(results: pd.DataFrame) -> pd.DataFrame:
    """The competing trials (no tuning trials) with labels as the report reads them and the
    store-wide task label in :data:`TASK_COLUMN`."""
    from nnbench.report.page import prepare_trials  # the report's own labelling of rows

    trials = tuning_section.competing(prepare_trials(results))
    if trials.empty:
        return trials.assign(**{TASK_COLUMN: pd.Series(dtype=object)})
    return trials.assign(**{TASK_COLUMN: stats.task_labels(trials)})


def _interval(frame: pd.DataFrame, column: str) -> verdict.MeanInterval:
    values = stats.numeric_column(frame, column).to_numpy()
    return verdict.mean_interval(values[(frame["status"] == "ok").to_numpy()])


def _text(value: Any) -> str:
    return "" if f.missing(value) else str(value)


def entry_histories(
    results: pd.DataFrame,
    runs: pd.DataFrame,
    run_pages: dict[str, str] | None = None,
    *,
    alpha: float = verdict.ALPHA,
) -> list[EntryHistory]:
    """Every (architecture entry, task) of the store's runs with its result in each run, and each
    run's changes against the previous run that held it, decided by compare's procedure.

    ``run_pages`` maps run ids to their pages' paths relative to the site's root. Entries that are
    n/a (skipped) in every run they appear in get no history.
    """
    run_pages = run_pages or {}
    trials = prepared_trials(results)
    records = ordered_runs(runs)
    if trials.empty or not records:
        return []
    by_run = {str(k): v for k, v in trials.groupby("run_id", sort=False)}
    records = [r for r in records if str(r["run_id"]) in by_run]
    cache: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}

    def rows_between(previous: dict, current: dict) -> dict[tuple[str, str], dict]:
        """compare's rows of the previous run (A) against the current one (B), by (label, task)."""
        key = (str(previous["run_id"]), str(current["run_id"]))
        if key not in cache:
            sides = [
                compare.Side(
                    spec=run_id,
                    db=pathlib.Path(),
                    run_id=run_id,
                    results=by_run[run_id],
                    runs=pd.DataFrame([record]),
                )
                for run_id, record in zip(key, (previous, current), strict=True)
            ]
            result = compare.compare_sides(*sides, alpha=alpha, task_column=TASK_COLUMN)
            cache[key] = {(row["label"], row["task"]): row for row in result.rows}
        return cache[key]

    histories = []
    # one pass over the store: its trials by entry, then by run (a mask per entry and run is slow)
    trials = trials.assign(run_id=trials["run_id"].astype(str))
    for (label, task), entry in trials.groupby(["arch_label", TASK_COLUMN], sort=True):
        label, task = str(label), str(task)
        if (entry["status"] == "skipped").all():
            continue  # n/a in every run: nothing ever ran
        in_run = dict(tuple(entry.groupby("run_id", sort=False)))
        points: list[RunPoint] = []
        held: list[dict] = []  # the run records that hold this entry, oldest first
        for record in records:
            run_id = str(record["run_id"])
            frame = in_run.get(run_id)
            if frame is None:
                continue
            devices = sorted({str(d) for d in frame.get("device_name", pd.Series(dtype=object)).dropna()})
            point = RunPoint(
                run_id=run_id,
                started_at=f.number(record.get("started_at")),
                git_sha=_text(record.get("git_sha")),
                nnbench_version=_text(record.get("nnbench_version")),
                torch_version=_text(record.get("torch_version")),
                device=", ".join(devices) or _text(record.get("device_name")),
                href=run_pages.get(run_id),
                trials=len(frame),
                ok=int((frame["status"] == "ok").sum()),
                quality=_interval(frame, "test_score"),
                step=_interval(frame, "step_ms_median"),
            )
            if held:
                point.previous = str(held[-1]["run_id"])
                row = rows_between(held[-1], record).get((label, task))
                if row is not None:
                    point.compared = True
                    point.changes = {column: row[column] for column, *_ in MEASURES}
                    point.settings = list(row["settings"])
            held.append(record)
            points.append(point)
        histories.append(
            EntryHistory(
                label=label,
                task=task,
                metric=stats.task_metric(entry),
                higher_is_better=stats.task_direction(entry),
                points=points,
                page=page_file(label, task),
            )
        )
    return histories


# ---------------------------------------------------------------------------------------------
# the figures


def short_date(started_at: float) -> str:
    """Epoch seconds as ``2025-01-03 14:05`` (UTC); the dash when unknown."""
    if not math.isfinite(started_at):
        return f.BLANK
    return datetime.fromtimestamp(started_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def short_sha(sha: str) -> str:
    """The first 8 characters of a git sha; the dash when unknown."""
    return sha[:8] if sha else f.BLANK


def _describe_run(point: RunPoint) -> str:
    """One run in plotly's hover text (escaped: every value comes from the store)."""
    text = figures.plotly_text
    return "<br>".join(
        [
            f"run {text(point.run_id)}",
            f"{short_date(point.started_at)} UTC · git {text(short_sha(point.git_sha))}",
            f"nnbench {text(point.nnbench_version or f.BLANK)} · torch {text(point.torch_version or f.BLANK)}",
            f"device {text(point.device or f.BLANK)} · {point.ok} of {point.trials} trials ok",
        ]
    )


def _mean_text(interval: verdict.MeanInterval, digits: int = 4) -> str:
    if interval.n == 0:
        return f.BLANK
    if not math.isfinite(interval.low):
        return f"{f.num(interval.mean, digits)} (one seed)"
    return f"{f.num(interval.mean, digits)} [{f.num(interval.low, digits)}, {f.num(interval.high, digits)}]"


def _difference_text(cell: dict) -> str:
    """B - A with its interval, as compare prints it."""
    if not math.isfinite(cell["difference"]):
        return f.BLANK
    if not math.isfinite(cell["low"]):
        return f"{f.num(cell['difference'], 3)} (no interval)"
    return f"{f.num(cell['difference'], 3)} [{f.num(cell['low'], 3)}, {f.num(cell['high'], 3)}]"


def change_text(point: RunPoint, column: str) -> str:
    """A change in words for a tooltip: the outcome, the difference and why."""
    word = point.change(column)
    if word == FIRST:
        return "the first run that holds this entry: nothing to compare with"
    if word == NOT_COMPARED:
        return (
            f"no trial of {point.previous} matches one of this run "
            "(the architecture's or the task's configuration or the seeds differ)"
        )
    cell = point.changes[column]
    against = {verdict.EQUIVALENT: "to", verdict.UNDECIDED: "against"}.get(cell["outcome"], "than")
    # compare's reason reads "above 0"/"below 0" of the difference oriented so that positive is
    # better; the difference shown here is in the measure's own units, so say it without a side
    decided = cell["outcome"] in (verdict.BETTER, verdict.WORSE)
    reason = "the interval lies on one side of 0" if decided else cell["reason"]
    return (
        f"{word} {against} {point.previous}: this run − previous = {_difference_text(cell)} "
        f"over {cell['n']} matched seeds; {reason}"
    )


def history_figure(history: EntryHistory, column: str) -> figures.Figure:
    """One measure across runs: each run's mean and 95% interval, its decided change marked.

    ``column`` is ``test_score`` or ``step_ms_median``. Runs are evenly spaced, oldest on the left,
    each labelled with its date and git sha; markers over a run say it is better, worse or
    equivalent (times: faster, slower) than the previous run holding the entry, and a ring that the
    two runs' matched trials differ in settings.
    """
    text = figures.plotly_text
    score = column == "test_score"
    points = history.points
    xs = list(range(len(points)))
    values = [p.quality if score else p.step for p in points]
    means = [v.mean if v.n else None for v in values]
    up = [v.high - v.mean if math.isfinite(v.high) else 0.0 for v in values]
    down = [v.mean - v.low if math.isfinite(v.low) else 0.0 for v in values]
    hover = [f"{_describe_run(p)}<br>mean {text(_mean_text(v))}" for p, v in zip(points, values, strict=True)]
    color = figures.PALETTE[0]
    data: list[dict] = [
        {
            "type": "scatter",
            "x": xs,
            "y": means,
            "mode": "lines+markers",
            "name": "mean, 95% interval over seeds",
            "line": {"color": color, "width": 1.5},
            "marker": {"size": 8, "color": color},
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": up,
                "arrayminus": down,
                "color": color,
                "thickness": 1.2,
            },
            "text": hover,
            "hovertemplate": "%{text}<extra></extra>",
        }
    ]
    words = {} if score else compare.WORDS[column]
    for outcome, symbol, mark_color in MARKS:
        chosen = [
            i
            for i, p in enumerate(points)
            if p.compared and p.changes[column]["outcome"] == outcome and means[i] is not None
        ]
        if not chosen:
            continue
        word = words.get(outcome, outcome)
        name = (
            f"{word} than the previous run"
            if outcome != verdict.EQUIVALENT
            else "equivalent to the previous run"
        )
        data.append(
            {
                "type": "scatter",
                "x": chosen,
                "y": [means[i] for i in chosen],
                "mode": "markers",
                "name": name,
                "marker": {
                    "symbol": symbol,
                    "size": 17,
                    "color": mark_color,
                    "line": {"width": 1, "color": "white"},
                },
                "text": [text(change_text(points[i], column)) for i in chosen],
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    differ = [i for i, p in enumerate(points) if p.settings and means[i] is not None]
    if differ:
        data.append(
            {
                "type": "scatter",
                "x": differ,
                "y": [means[i] for i in differ],
                "mode": "markers",
                "name": "settings differ from the previous run",
                "marker": {
                    "symbol": "circle-open",
                    "size": 28,
                    "color": SETTINGS_COLOR,
                    "line": {"width": 2, "color": SETTINGS_COLOR},
                },
                "text": [text("; ".join(points[i].settings)) for i in differ],
                "hovertemplate": "A previous, B this run:<br>%{text}<extra></extra>",
            }
        )
    every = max(1, math.ceil(len(points) / MAX_TICKS))
    ticks = [
        f"{short_date(p.started_at)[:10]}<br>{text(short_sha(p.git_sha))}" if i % every == 0 else ""
        for i, p in enumerate(points)
    ]
    title = "Quality across runs" if score else "Step time across runs"
    y_title = (
        figures.metric_axis_title(history.metric, history.higher_is_better)
        if score
        else "step time (ms, lower is better)"
    )
    return {
        "data": data,
        "layout": {
            "title": {"text": title},
            "height": figures.HEIGHT,
            "margin": dict(figures.MARGIN) | {"b": 90},
            "showlegend": True,
            "legend": {"orientation": "h", "yanchor": "top", "y": -0.3},
            "xaxis": {
                "title": {"text": "run (date UTC, git sha), oldest first"},
                "tickmode": "array",
                "tickvals": xs,
                "ticktext": ticks,
                "range": [-0.5, len(points) - 0.5],
                "zeroline": False,
            },
            "yaxis": {"title": {"text": y_title}},
        },
    }


# ---------------------------------------------------------------------------------------------
# the tables


def runs_table(history: EntryHistory, prefix: str = "../") -> Table:
    """Who ran each run, oldest first: date, git sha, versions, device, trials ok.

    ``prefix`` leads from the page to the site's root, so each run links to its report.
    """
    columns = [
        Column("run", "run", "href"),
        Column("date", "date (UTC)", "name"),
        Column("git", "git sha", "name", hover="git_full"),
        Column("nnbench", "nnbench"),
        Column("torch", "torch"),
        Column("device", "device"),
        Column("ok", "trials ok", "num"),
    ]
    rows = [
        {
            "run": point.run_id,
            "run_href": prefix + point.href if point.href else "",
            "date": short_date(point.started_at),
            "git": short_sha(point.git_sha),
            "git_full": point.git_sha or f.BLANK,
            "nnbench": point.nnbench_version or f.BLANK,
            "torch": point.torch_version or f.BLANK,
            "device": point.device or f.BLANK,
            "ok": f"{point.ok} of {point.trials}",
        }
        for point in history.points
    ]
    return Table("history-runs", columns, rows)


def measure_table(history: EntryHistory, column: str, prefix: str = "../") -> Table:
    """One measure in each run and its change against the previous run, oldest first.

    ``column`` is ``test_score`` (table class ``history-quality``) or ``step_ms_median``
    (``history-step``). A change is compare's verdict (``first run`` and ``not compared`` where there
    is none), with the difference this run − previous and the interval it was decided on, and the
    settings in which the matched trials differ, in compare's words (A: the previous run, B: this one).
    """
    score = column == "test_score"
    what = f"{history.metric}" if score else "step time (ms)"
    columns = [
        Column("run", "run", "href"),
        Column("mean", f"{what} mean [95% interval]", "num"),
        Column("change", "against the previous run", "verdict", hover="why"),
        Column("difference", "this − previous [interval]", "num", hover="why"),
        Column("settings", "settings that differ (A previous, B this run)", "wrap"),
    ]
    rows = []
    for point in history.points:
        rows.append(
            {
                "run": point.run_id,
                "run_href": prefix + point.href if point.href else "",
                "mean": _mean_text(point.quality if score else point.step, 4 if score else 3),
                "change": point.change(column),
                "difference": _difference_text(point.changes[column]) if point.compared else "",
                "why": change_text(point, column),
                "settings": "; ".join(point.settings) if point.settings else "",
            }
        )
    return Table("history-quality" if score else "history-step", columns, rows)


def matrix(histories: list[EntryHistory], prefix: str = f"{HISTORY_DIR}/") -> Table:
    """Architecture x task: each cell links to the entry's history page and says in how many runs it
    ran and what the latest run decided against its previous one (quality worse, slower, ...)."""
    tasks = list(dict.fromkeys(h.task for h in histories))
    keys = {task: f"task{i}" for i, task in enumerate(tasks)}
    columns = [Column("architecture", "architecture", "name")]
    columns += [Column(keys[task], task, "href", hover=f"{keys[task]}_why") for task in tasks]
    rows: dict[str, dict] = {}
    for history in histories:
        row = rows.setdefault(history.label, {"architecture": history.label})
        key = keys[history.task]
        n = len(history.points)
        latest = history.latest_changes()
        row[key] = f"{n} run{'s' if n != 1 else ''}" + (f" · {', '.join(latest)}" if latest else "")
        row[f"{key}_href"] = prefix + history.page
        last = history.points[-1]
        row[f"{key}_why"] = (
            f"latest run {last.run_id}: quality {last.change('test_score')}, "
            f"step time {last.change('step_ms_median')}"
        )
    for row in rows.values():
        for key in keys.values():
            row.setdefault(key, "")
            row.setdefault(f"{key}_href", "")
            row.setdefault(f"{key}_why", "not run")
    return Table("history-matrix", columns, [rows[label] for label in sorted(rows)])


# ---------------------------------------------------------------------------------------------
# the pages


@dataclass
class HistoryIndex:
    """What the site's index shows of the history pages: the matrix and how many pages there are."""

    table: Table
    pages: int
    runs: int


def render_history(history: EntryHistory, *, plotly_src: str, index_href: str = "../index.html") -> str:
    """One entry's history page as text, loading plotly.js from ``plotly_src``."""
    from nnbench.report.html import figures_json, script_json, template

    plots = {
        "fig-history-quality": history_figure(history, "test_score"),
        "fig-history-step": history_figure(history, "step_ms_median"),
    }
    warnings = [
        {"run": p.run_id, "previous": p.previous, "settings": p.settings}
        for p in history.points
        if p.settings
    ]
    return template("history.html").render(
        title=f"{history.label} on {history.task}",
        links=[("All runs", index_href)],
        history=history,
        runs_table=runs_table(history),
        quality_table=measure_table(history, "test_score"),
        step_table=measure_table(history, "step_ms_median"),
        warnings=warnings,
        alpha=verdict.ALPHA,
        time_margin=f"{100 * verdict.TIME_MARGIN.value:g}%",
        plotly_js=None,
        plotly_src=plotly_src,
        figures_json=figures_json(plots),
        template_json=script_json(figures.template()),
    )


def write_history(
    out: str | pathlib.Path,
    results: pd.DataFrame,
    runs: pd.DataFrame,
    run_pages: dict[str, str],
    *,
    plotly_file: str = "plotly.min.js",
) -> HistoryIndex | None:
    """Write ``history/<entry>.html`` under the site folder ``out`` for every entry of the store's
    runs, and return what the index shows of them; None (and no pages) unless the store holds
    more than one run with trials.

    ``run_pages`` maps run ids to their pages relative to the site's root; ``plotly_file`` is the
    site's shared copy of plotly.js, relative to its root. History pages an earlier publish wrote
    that this one does not (an entry no longer in the store) are removed, so no stale page stays
    reachable; other files in ``history/`` are left alone.
    """
    folder = pathlib.Path(out) / HISTORY_DIR
    ran = set(results["run_id"].dropna().astype(str)) if "run_id" in results else set()
    held = len(set(runs["run_id"].astype(str)) & ran) if runs is not None and len(runs) else 0
    histories = entry_histories(results, runs, run_pages) if held > 1 else []
    written = {history.page for history in histories}
    if folder.is_dir():
        for old in folder.glob("*.html"):
            if old.name not in written and GENERATOR in old.read_text(encoding="utf-8", errors="replace"):
                old.unlink()
    if not histories:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    for history in histories:
        page = render_history(history, plotly_src=f"../{plotly_file}")
        (folder / history.page).write_text(page, encoding="utf-8")
    return HistoryIndex(matrix(histories), len(histories), held)
