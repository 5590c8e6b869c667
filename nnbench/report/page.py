"""Write the report: one self-contained HTML page from the store's DataFrames.

The page is rendered from ``templates/report.html`` by Jinja2 with autoescaping, so any text that
comes from the data (task, architecture and suite names, configs, error messages) is escaped.
Figures travel as JSON in one ``<script type="application/json">`` block, escaped for that place,
and are drawn by plotly.js, which is embedded once: the file works offline from ``file://``.
"""

from __future__ import annotations

import json
import math
import pathlib
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from nnbench.report import figures

BLANK = "—"  # what a missing measurement shows as; never 0
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# A bootstrap over two seeds only spans their two values: too narrow to call a winner clear.
MIN_SEEDS_TO_JUDGE = 3

# Characters that could end a <script> element or open markup, as JSON escapes (valid only
# inside JSON strings, which is the only place JSON text can hold them).
_SCRIPT_SAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def write_report(
    results: pd.DataFrame,
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | pathlib.Path,
    *,
    title: str = "nnbench report",
    sections: list[dict] | None = None,
) -> pathlib.Path:
    """Write one self-contained HTML report to ``path`` and return the path.

    ``results``, ``curves`` and ``runs`` are the DataFrames ``nnbench.load_results`` and friends
    return. Per task (in the order the runs' suites list them, else as they first appear in
    ``results``) the page shows a leaderboard
    (mean ± std of the primary test metric over seeds with a bootstrap 95% interval) and quality
    against training time; then the trials that did not finish ok and the environment of each run.
    ``curves`` is accepted for the learning-curve figures and not drawn yet.

    ``sections`` are extra sections, e.g. from the ``report_sections`` hook: dicts with ``"title"``
    (plain text, escaped) and ``"html"`` (inserted **as-is, not escaped**: the plugin that makes it
    is trusted to make it safe). Their scripts may use the global ``Plotly``.
    """
    del curves  # learning curves are not drawn in v0
    trials = _trials(results)
    sections = [{"title": str(s.get("title", "")), "html": Markup(s.get("html", ""))} for s in sections or []]

    colors = figures.architecture_colors(trials["arch_label"])
    tasks, plots = [], {}
    for index, (task_name, task_trials) in enumerate(_by_task(trials, runs), start=1):
        task = _task_context(task_name, task_trials)
        task["anchor"] = f"task-{index}"
        task["figure_id"] = None
        if len(figures.plottable_trials(task_trials)):
            task["figure_id"] = f"fig-{index}-quality-time"
            plots[task["figure_id"]] = _task_figure(task_name, task_trials, colors)
        tasks.append(task)

    page = (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            overview=_overview(trials),
            tasks=tasks,
            summary=[t["summary"] for t in tasks],
            failures=_failures(trials),
            runs=_runs(runs),
            trial_devices=sorted({str(d) for d in trials["device"].dropna()}),
            sections=sections,
            plotly_js=Markup(get_plotlyjs()) if plots or sections else None,
            figures_json=_figures_json(plots) if plots else None,
        )
    )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# statistics


def bootstrap_interval(
    values: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values`` (resampling seeds); NaNs for n < 2."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def leaderboard(task_trials: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """One row per architecture label of one task, best first; unscored architectures last, unranked.

    Scores are the ``test_score`` of trials with status ``ok``; the timing, throughput, size and
    cost columns are medians over those trials, NaN where nothing was measured.
    """
    rows = []
    for label, group in task_trials.groupby("arch_label", sort=True, dropna=False):
        ok = group[group["status"] == "ok"]
        scores = _numeric(ok["test_score"]).dropna().to_numpy()
        low, high = bootstrap_interval(scores)
        rows.append(
            {
                "arch_label": label,
                "architecture": group["architecture"].iloc[0],
                "arch_config": group["arch_config"].iloc[0],
                "n": len(scores),
                "mean": scores.mean() if len(scores) else math.nan,
                "std": scores.std(ddof=1) if len(scores) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "train_s": _numeric(ok["train_s"]).median(),
                "samples_per_s": _numeric(ok["samples_per_s"]).median(),
                "params": _numeric(ok["params"]).median(),
                "cost_usd": _numeric(ok["cost_usd"]).median(),
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    key = board["mean"] if higher_is_better else -board["mean"]
    board["rank"] = key.rank(method="min", ascending=False)  # NaN means stay NaN: unranked
    return board.sort_values(["rank", "arch_label"], na_position="last", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# page context


_NEEDED = ("task", "architecture", "arch_label", "arch_config", "status", "error", "metric")
_NEEDED += (
    "higher_is_better",
    "seed",
    "device",
    "test_score",
    "train_s",
    "samples_per_s",
    "params",
    "cost_usd",
)


def _trials(results: pd.DataFrame | None) -> pd.DataFrame:
    """The results with every column the page reads (missing ones as None); no rows if no trials."""
    if results is None or len(results) == 0 or "task" not in results:
        return pd.DataFrame(columns=list(_NEEDED))
    trials = results.copy()
    for column in _NEEDED:
        if column not in trials:
            trials[column] = None
    labels = [
        str(label) if not _missing(label) else _label_from_config(arch, config)
        for label, arch, config in zip(
            trials["arch_label"], trials["architecture"], trials["arch_config"], strict=True
        )
    ]
    trials["arch_label"] = pd.Series(labels, index=trials.index, dtype=object)
    return trials


def _label_from_config(architecture: Any, arch_config: Any) -> str:
    """``transformer depth=4`` from the name and the config JSON, for rows stored without a label."""
    try:
        config = json.loads(arch_config) if isinstance(arch_config, str) else None
    except ValueError:
        config = None
    if not isinstance(config, dict) or not config:
        return str(architecture)
    return " ".join([str(architecture), *(f"{k}={v}" for k, v in sorted(config.items()))])


def _by_task(trials: pd.DataFrame, runs: pd.DataFrame | None):
    """Each task's trials, in the order the suites list the tasks, then in order of appearance."""
    present = list(pd.unique(trials["task"]))
    listed = [name for name in _suite_task_order(runs) if name in present]
    for task_name in dict.fromkeys(listed + present):
        yield task_name, trials[trials["task"] == task_name]


def _suite_task_order(runs: pd.DataFrame | None) -> list[str]:
    """Task names in the order the runs' suite files list them; [] where a suite cannot be read."""
    import yaml

    if runs is None or "suite_text" not in runs:
        return []
    names: list[str] = []
    for text in runs["suite_text"].dropna():
        try:
            suite = yaml.safe_load(str(text))
        except yaml.YAMLError:
            continue
        tasks = suite.get("tasks") if isinstance(suite, dict) else None
        for entry in tasks if isinstance(tasks, list) else []:
            name = entry.get("name") if isinstance(entry, dict) else entry
            if isinstance(name, str):
                names.append(name)
    return names


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def _first(series: pd.Series) -> Any:
    present = series.dropna()
    return present.iloc[0] if len(present) else None


def _task_context(task_name: str, task_trials: pd.DataFrame) -> dict:
    higher = _first(task_trials["higher_is_better"])
    higher_is_better = True if higher is None else bool(higher)
    metric = _first(task_trials["metric"])
    board = leaderboard(task_trials, higher_is_better)
    scored = board[board["n"] > 0] if len(board) else board
    return {
        "name": str(task_name),
        "metric": metric if metric is not None else "score",
        "direction": "higher is better" if higher_is_better else "lower is better",
        "version": _first(task_trials["task_version"]) if "task_version" in task_trials else None,
        "config": _first(task_trials["task_config"]) if "task_config" in task_trials else None,
        "n_trials": len(task_trials),
        "n_ok": int((task_trials["status"] == "ok").sum()),
        "leaderboard": [_leaderboard_row(row) for row in board.to_dict("records")],
        "summary": _summary(str(task_name), metric, scored),
    }


def _leaderboard_row(row: dict) -> dict:
    n = row["n"]
    if n == 0:
        score = BLANK
    elif n == 1:
        score = _fmt(row["mean"])
    else:
        score = f"{_fmt(row['mean'])} ± {_fmt(row['std'], 2)}"
    if n >= 2:
        interval = f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
    else:
        interval = "n/a"
    return {
        "rank": BLANK if _missing(row["rank"]) else str(int(row["rank"])),
        "label": row["arch_label"],
        "config": "" if _missing(row["arch_config"]) else str(row["arch_config"]),
        "score": score,
        "n": str(n),
        "interval": interval,
        "train_s": _fmt(row["train_s"], 3),
        "samples_per_s": _fmt_count(row["samples_per_s"])
        if _big(row["samples_per_s"])
        else _fmt(row["samples_per_s"], 3),
        "params": _fmt_count(row["params"]),
        "cost_usd": _fmt(row["cost_usd"], 3),
    }


def _summary(task_name: str, metric: Any, scored: pd.DataFrame) -> dict:
    """The overview line of one task: who won, by how much, and whether that is within the noise."""
    summary = {"task": task_name, "metric": metric if metric is not None else "score"}
    if len(scored) == 0:
        return summary | {
            "winner": BLANK,
            "score": BLANK,
            "runner_up": BLANK,
            "gap": BLANK,
            "noise": "no trial finished ok",
        }
    best = scored.iloc[0]
    summary |= {"winner": best["arch_label"], "score": _fmt(best["mean"])}
    if len(scored) < 2:
        return summary | {"runner_up": BLANK, "gap": BLANK, "noise": "only one architecture scored"}
    second = scored.iloc[1]
    if min(best["n"], second["n"]) < MIN_SEEDS_TO_JUDGE:
        noise = f"too few seeds to tell (needs {MIN_SEEDS_TO_JUDGE}+ each)"
    elif best["ci_low"] <= second["ci_high"] and second["ci_low"] <= best["ci_high"]:
        noise = "within the noise (95% intervals overlap)"
    else:
        noise = "clear (95% intervals apart)"
    return summary | {
        "runner_up": second["arch_label"],
        "gap": _fmt(abs(best["mean"] - second["mean"]), 3),
        "noise": noise,
    }


def _task_figure(task_name: str, task_trials: pd.DataFrame, colors: dict[str, str]):
    higher = _first(task_trials["higher_is_better"])
    return figures.quality_vs_train_time(
        task_trials,
        metric=_first(task_trials["metric"]),
        higher_is_better=True if higher is None else bool(higher),
        colors=colors,
        title=f"{task_name}: quality against training time",
    )


def _overview(trials: pd.DataFrame) -> dict:
    ok = int((trials["status"] == "ok").sum()) if len(trials) else 0
    return {
        "n_trials": len(trials),
        "n_ok": ok,
        "n_failed": len(trials) - ok,
        "n_tasks": trials["task"].nunique() if len(trials) else 0,
        "n_architectures": trials["arch_label"].nunique() if len(trials) else 0,
    }


def _failures(trials: pd.DataFrame) -> list[dict]:
    if len(trials) == 0:
        return []
    failed = trials[trials["status"] != "ok"]
    return [
        {
            "status": str(row["status"]),
            "label": row["arch_label"],
            "task": str(row["task"]),
            "seed": _fmt_seed(row["seed"]),
            "error": _first_line(row["error"]),
        }
        for row in failed.to_dict("records")
    ]


def _first_line(error: Any, limit: int = 240) -> str:
    if _missing(error):
        return BLANK
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return BLANK
    return lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"


def _runs(runs: pd.DataFrame | None) -> list[dict]:
    if runs is None or len(runs) == 0:
        return []
    fields = [
        ("run id", "run_id"),
        ("suite", "suite_name"),
        ("started", "started_at"),
        ("finished", "finished_at"),
        ("device name", "device_name"),
        ("nnbench", "nnbench_version"),
        ("torch", "torch_version"),
        ("git sha", "git_sha"),
    ]
    out = []
    for row in runs.to_dict("records"):
        environment, environment_text = _environment_items(row.get("environment"))
        out.append(
            {
                "name": BLANK if _missing(row.get("suite_name")) else str(row["suite_name"]),
                "fields": [
                    (label, _when(row.get(key)) if key in _TIMES else _text(row.get(key)))
                    for label, key in fields
                ],
                "environment": [(k, v) for k, v in environment if k not in _SHOWN_RUN_FIELDS],
                "environment_text": environment_text,
                "suite_text": None if _missing(row.get("suite_text")) else str(row["suite_text"]),
            }
        )
    return out


_TIMES = ("started_at", "finished_at")
_SHOWN_RUN_FIELDS = ("nnbench_version", "torch_version", "device_name", "git_sha")


def _environment_items(raw: Any) -> tuple[list[tuple[str, str]], str | None]:
    """The environment JSON as (key, value) pairs; unparseable text comes back as-is instead."""
    if _missing(raw):
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


def _figures_json(plots: dict[str, Any]) -> Markup:
    """All figures as one JSON object ``{div id: figure}``, safe to place inside a <script> element."""
    body = ",".join(f"{json.dumps(div_id)}:{fig.to_json()}" for div_id, fig in plots.items())
    return Markup(("{" + body + "}").translate(_SCRIPT_SAFE))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("nnbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# ---------------------------------------------------------------------------------------------
# formatting: a missing value is BLANK, never 0


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return BLANK if _missing(value) else str(value)


def _when(value: Any) -> str:
    """A time stored as epoch seconds, in UTC; any other form as it is."""
    if _missing(value):
        return BLANK
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _big(value: Any) -> bool:
    return not _missing(value) and abs(float(value)) >= 100


def _fmt(value: Any, digits: int = 4) -> str:
    if _missing(value):
        return BLANK
    return f"{float(value):.{digits}g}"


def _fmt_seed(value: Any) -> str:
    if _missing(value):
        return BLANK
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _fmt_count(value: Any) -> str:
    if _missing(value):
        return BLANK
    return f"{round(float(value)):,}"
