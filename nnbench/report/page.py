"""Write the report: one self-contained HTML page from the store's DataFrames.

The page is rendered from ``templates/report.html`` by Jinja2 with autoescaping, so any text that
comes from the data (task, architecture and suite names, configs, error messages) is escaped.
Figures travel as JSON in one ``<script type="application/json">`` block, escaped for that place,
and are drawn by plotly.js, which is embedded once: the file works offline from ``file://``.
Every number on the page comes from :mod:`nnbench.stats`; this module only arranges and formats.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from nnbench import stats
from nnbench.report import figures, scaling_section, tuning_section
from nnbench.report import fmt as f

BLANK = f.BLANK
# kept importable from here for callers of report v0
bootstrap_interval = stats.bootstrap_interval
leaderboard = stats.leaderboard
BOOTSTRAP_RESAMPLES = stats.BOOTSTRAP_RESAMPLES
MIN_SEEDS_TO_JUDGE = stats.MIN_SEEDS_TO_JUDGE

# Characters that could end a <script> element or open markup, as JSON escapes (valid only
# inside JSON strings, which is the only place JSON text can hold them).
_SCRIPT_SAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
# Statuses that are not failures: finished, or never run because the pair does not fit (n/a).
_NOT_FAILED = ("ok", "skipped")


def write_report(
    results: pd.DataFrame,
    curves: pd.DataFrame | None,
    runs: pd.DataFrame | None,
    path: str | pathlib.Path,
    *,
    title: str = "nnbench report",
    sections: list[dict] | None = None,
    descriptions: Mapping[str, str] | None = None,
    benchmarks: dict | str | pathlib.Path | None = None,
    links: list[tuple[str, str]] | None = None,
) -> pathlib.Path:
    """Write one self-contained HTML report to ``path`` and return the path.

    ``results``, ``curves`` and ``runs`` are the DataFrames ``nnbench.load_results`` and friends
    return. The page opens with a summary (who won which task, by how much, at what cost, whether it
    is within the noise), then per task (in the order the runs' suites list them, else as they first
    appear) its description, leaderboard, quality against time and cost, learning curves, time and
    cost to target, throughput and resources; then, when the run has them, the tuning studies
    (:mod:`nnbench.report.tuning_section`) and the size sweeps (:mod:`nnbench.report.scaling_section`);
    then the architecture x task heatmap, the performance profile, failures, pairs not run (n/a), the
    environment and optional micro-benchmarks. Tuning trials (``stage`` "tune") appear only in the
    tuning section: every other part of the page aggregates the rest, where a tuned architecture is
    its final re-runs (labelled "(tuned)").

    ``descriptions`` maps task names to the text that says what a task tests (default: each
    registered task's ``description``; unknown tasks get none). ``benchmarks`` is pytest-benchmark's
    ``--benchmark-json`` output (a path or the parsed dict). ``links`` are ``(text, href)`` pairs shown
    at the top (``nnbench publish`` links back to its index).

    ``sections`` are extra sections, e.g. from the ``report_sections`` hook: dicts with ``"title"``
    (plain text, escaped) and ``"html"`` (inserted **as-is, not escaped**: the plugin that makes it
    is trusted to make it safe). Their scripts may use the global ``Plotly``.
    """
    page = render_report(
        results,
        curves,
        runs,
        title=title,
        sections=sections,
        descriptions=descriptions,
        benchmarks=benchmarks,
        links=links,
    )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def render_report(
    results: pd.DataFrame,
    curves: pd.DataFrame | None,
    runs: pd.DataFrame | None,
    *,
    title: str = "nnbench report",
    sections: list[dict] | None = None,
    descriptions: Mapping[str, str] | None = None,
    benchmarks: dict | str | pathlib.Path | None = None,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """The report page as text; see :func:`write_report`."""
    from nnbench.report.microbench import benchmark_context

    every = _trials(results)
    # Tuning trials show only in the tuning section: everything else aggregates the rest.
    trials = tuning_section.competing(every)
    sections = [{"title": str(s.get("title", "")), "html": Markup(s.get("html", ""))} for s in sections or []]
    colors = figures.architecture_colors(every["arch_label"])
    family_colors = figures.architecture_colors(scaling_section.families(scaling_section.sized(every)))
    ordered = list(_by_task(every, runs))
    if descriptions is None:
        descriptions = task_descriptions([name for name, _ in ordered])
    points = _curve_points(curves, trials)

    tasks, tuning, scaling, plots = [], [], [], {}
    for index, (task_name, all_task_trials) in enumerate(ordered, start=1):
        task_trials = tuning_section.competing(all_task_trials)
        task_points = points[points["task"] == task_name] if len(points) else points
        direction = {"metric": _metric(all_task_trials), "higher_is_better": _higher(all_task_trials)}
        studies, study_plots = tuning_section.task_tuning(
            index, task_name, all_task_trials, colors=colors, **direction
        )
        if studies is not None:
            tuning.append(studies)
            plots.update(study_plots)
        if len(task_trials):
            task, task_plots = _task_section(index, task_name, task_trials, task_points, colors, descriptions)
            task["tuning"] = studies
            tasks.append(task)
            plots.update(task_plots)
        sweep, sweep_plots = scaling_section.task_scaling(
            index, task_name, task_trials, colors=family_colors, **direction
        )
        if sweep is not None:
            scaling.append(sweep)
            plots.update(sweep_plots)
    across, across_plots = _across_tasks(tasks, trials, colors)
    plots.update(across_plots)
    micro = benchmark_context(benchmarks) if benchmarks is not None else None

    return template("report.html").render(
        title=title,
        links=links or [],
        overview=_overview(trials) | {"n_tune": len(every) - len(trials)},
        tasks=tasks,
        tuning=tuning,
        scaling=scaling,
        across=across,
        failures=_failures(trials),
        not_applicable=_not_applicable(trials),
        runs=_runs(runs),
        trial_devices=sorted({str(d) for d in trials["device"].dropna()}),
        sections=sections,
        micro=micro,
        plotly_js=plotly_bundle() if plots or sections else None,
        figures_json=figures_json(plots) if plots else None,
        template_json=script_json(figures.template()) if plots else None,
    )


def task_descriptions(names: list[str]) -> dict[str, str]:
    """Each registered task's ``description`` by name; tasks not registered (or not loadable) get none."""
    from nnbench.errors import NnbenchError

    out: dict[str, str] = {}
    for name in names:
        try:
            import nnbench

            out[name] = str(nnbench.get_task(str(name)).description or "")
        except (NnbenchError, KeyError, TypeError, AttributeError):
            continue
        except Exception:  # a broken plugin must not break the report; its tasks have no text
            continue
    return out


# ---------------------------------------------------------------------------------------------
# the trials


_NEEDED = (
    "trial_id",
    "task",
    "architecture",
    "arch_label",
    "arch_config",
    "status",
    "error",
    "metric",
    "higher_is_better",
    "target",
    "seed",
    "device",
    "test_score",
    "train_s",
    "samples_per_s",
    "params",
    "cost_usd",
    "reference",
    "stage",
    "size",
)


def _trials(results: pd.DataFrame | None) -> pd.DataFrame:
    """The results with every column the page reads (missing ones as None); no rows if no trials."""
    if results is None or len(results) == 0 or "task" not in results:
        return pd.DataFrame(columns=list(_NEEDED))
    trials = results.copy()
    for column in _NEEDED:
        if column not in trials:
            trials[column] = None
    finals = tuning_section.stages(trials) == tuning_section.FINAL
    labels = [
        str(label)
        if not f.missing(label)
        # a final re-run is its architecture's tuned result, never the same row as an untuned run
        else _label_from_config(arch, config) + (" (tuned)" if final else "")
        for label, arch, config, final in zip(
            trials["arch_label"], trials["architecture"], trials["arch_config"], finals, strict=True
        )
    ]
    trials["arch_label"] = pd.Series(labels, index=trials.index, dtype=object)
    trials["task"] = trials["task"].astype(str)
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
    groups = dict(tuple(trials.groupby("task", sort=False))) if len(trials) else {}
    for task_name in dict.fromkeys(listed + present):
        yield task_name, groups[task_name]


def _suite_task_order(runs: pd.DataFrame | None) -> list[str]:
    """Task names in the order the runs' suite files list them; [] where a suite cannot be read."""
    import yaml

    if runs is None or "suite_text" not in runs:
        return []
    names: list[str] = []
    for suite_text in runs["suite_text"].dropna():
        try:
            suite = yaml.safe_load(str(suite_text))
        except yaml.YAMLError:
            continue
        tasks = suite.get("tasks") if isinstance(suite, dict) else None
        for entry in tasks if isinstance(tasks, list) else []:
            name = entry.get("name") if isinstance(entry, dict) else entry
            if isinstance(name, str):
                names.append(name)
    return names


def _first(series: pd.Series) -> Any:
    present = series.dropna()
    return present.iloc[0] if len(present) else None


def _curve_points(curves: pd.DataFrame | None, trials: pd.DataFrame) -> pd.DataFrame:
    """Validation points of the primary metric of trials that finished ok, with task and label."""
    columns = ["task", "arch_label", "step", "train_s", "value"]
    needed = {"trial_id", "step", "train_s", "split", "metric", "value"}
    if curves is None or len(curves) == 0 or not needed <= set(curves.columns) or len(trials) == 0:
        return pd.DataFrame(columns=columns)
    ok = trials.loc[trials["status"] == "ok", ["trial_id", "task", "arch_label", "metric"]]
    val = curves.loc[curves["split"] == "val", ["trial_id", "step", "train_s", "metric", "value"]]
    merged = val.merge(ok, on="trial_id", suffixes=("", "_primary"))
    merged = merged[merged["metric"].astype(str) == merged["metric_primary"].astype(str)]
    return merged[columns]


# ---------------------------------------------------------------------------------------------
# one task


def _higher(task_trials: pd.DataFrame) -> bool:
    """The task's direction: higher is better unless its trials say otherwise."""
    higher = _first(task_trials["higher_is_better"])
    return True if higher is None else bool(higher)


def _metric(task_trials: pd.DataFrame) -> str:
    """The task's primary metric's name; ``score`` when no trial recorded one."""
    metric = _first(task_trials["metric"])
    return "score" if metric is None else str(metric)


def _task_section(
    index: int,
    task_name: str,
    task_trials: pd.DataFrame,
    points: pd.DataFrame,
    colors: dict[str, str],
    descriptions: Mapping[str, str],
) -> tuple[dict, dict]:
    higher_is_better = _higher(task_trials)
    metric = _metric(task_trials)
    target = f.number(_first(task_trials["target"]))
    board = stats.leaderboard(task_trials, higher_is_better)
    anchor = f"task-{index}"
    attempted = task_trials[task_trials["status"] != "skipped"]
    task = {
        "name": str(task_name),
        "anchor": anchor,
        "description": descriptions.get(str(task_name), ""),
        "metric": metric,
        "higher_is_better": higher_is_better,
        "direction": "higher is better" if higher_is_better else "lower is better",
        "target": None if math.isnan(target) else f.num(target),
        "version": _first(task_trials["task_version"]) if "task_version" in task_trials else None,
        "config": f.config_text(_first(task_trials["task_config"])) if "task_config" in task_trials else "",
        "n_trials": len(attempted),
        "n_ok": int((task_trials["status"] == "ok").sum()),
        "board": board,
        "leaderboard": [_leaderboard_row(row) for row in board.to_dict("records")],
        "targets": [_target_row(row) for row in board.to_dict("records")] if not math.isnan(target) else [],
        "resources": [_resource_row(row) for row in board.to_dict("records")],
        "not_applicable": _task_not_applicable(task_trials),
        "summary": _summary(str(task_name), anchor, metric, board, target),
        "figures": [],
    }
    plots: dict[str, Any] = {}
    name = str(task_name)  # the figure builders escape titles for plotly.js
    common = {"metric": metric, "higher_is_better": higher_is_better, "colors": colors}

    def add(kind: str, title: str, label: str, note: str, build, empty: str) -> None:
        fig_id = f"fig-{index}-{kind}"
        figure = build()
        entry = {"id": fig_id if figure is not None else None, "title": title, "label": label, "note": note}
        entry["empty"] = empty
        if figure is not None:
            plots[fig_id] = figure
        task["figures"].append(entry)

    better = "down" if not higher_is_better else "up"
    add(
        "quality-time",
        "Quality against training time",
        f"test {metric} against training time in seconds",
        f"Small dots: one trial each. Large markers: median time (bars: interquartile range) and mean "
        f"score (bars: 95% interval). Dashed: the Pareto front. Left is faster; {better} is better.",
        lambda: (
            figures.quality_vs_train_time(
                task_trials, title=f"{name}: quality against training time", **common
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
        f"{better} is better.",
        lambda: (
            figures.quality_vs_cost(task_trials, title=f"{name}: quality against cost", **common)
            if len(figures.plottable_trials(task_trials, "cost_usd"))
            else None
        ),
        "No cost was measured (the suite sets no price for this device).",
    )
    band = stats.curve_band(points)
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
    return task, plots


def _rank_text(row: dict) -> str:
    if f.missing(row["rank"]):
        return BLANK
    return ("=" if row["tied"] else "") + str(int(row["rank"]))


def _leaderboard_row(row: dict) -> dict:
    n = row["n"]
    if n == 0:
        score = BLANK
    elif n == 1:
        score = f.num(row["mean"])
    else:
        score = f"{f.num(row['mean'])} ± {f.num(row['std'], 2)}"
    interval = f"[{f.num(row['ci_low'])}, {f.num(row['ci_high'])}]" if n >= 2 else "n/a"
    train = f.seconds(row["train_s"])
    if n >= 2 and not f.missing(row["train_s_q1"]):
        train += f" [{f.seconds(row['train_s_q1'])}–{f.seconds(row['train_s_q3'])}]"
    return {
        "rank": _rank_text(row),
        "tied": bool(row["tied"]),
        "label": row["arch_label"],
        "config": f.config_text(row["arch_config"]),
        "reference": bool(row["reference"]),
        "score": score,
        "n": str(n),
        "failed": int(row["n_failed"]),
        "interval": interval,
        "train_s": train,
        "cost_usd": f.usd(row["cost_usd"]),
    }


def _target_row(row: dict) -> dict:
    n = int(row["n_trials"])
    reached = int(row.get("n_reached", 0) or 0)
    return {
        "label": row["arch_label"],
        "reference": bool(row["reference"]),
        "ttt": f.seconds(row["ttt_median"]),
        "success": f"{reached}/{n} ({f.percent(row['success_rate'])})" if n else BLANK,
        "ctt": f.usd(row["ctt_median"]),
    }


def _resource_row(row: dict) -> dict:
    return {
        "label": row["arch_label"],
        "reference": bool(row["reference"]),
        "samples_per_s": f.rate(row["samples_per_s"]),
        "step_ms": f.num(row["step_ms_median"], 3) + (" (noisy)" if row.get("noisy_share", 0) >= 0.5 else ""),
        "params": f.count(row["params"]),
        "flops": f.si(row["flops_per_step"], "FLOP"),
        "memory": f.size(row["peak_mem_bytes"]),
        "energy": f.si(row["energy_j"], "J"),
        "mfu": f.percent(row["mfu"]),
    }


def _task_not_applicable(task_trials: pd.DataFrame) -> list[dict]:
    skipped = task_trials[task_trials["status"] == "skipped"]
    out = []
    for label, group in skipped.groupby("arch_label", sort=True):
        out.append({"label": label, "reason": f.first_line(_first(group["error"]))})
    return out


def _summary(task_name: str, anchor: str, metric: str, board: pd.DataFrame, target: float) -> dict:
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


# ---------------------------------------------------------------------------------------------
# across tasks


def _across_tasks(tasks: list[dict], trials: pd.DataFrame, colors: dict[str, str]) -> tuple[dict, dict]:
    """The architecture x task heatmap, the performance profile and the per-architecture table."""
    plots: dict[str, Any] = {}
    across: dict[str, Any] = {
        "heatmap": None,
        "profile": None,
        "rows": [],
        "profile_tasks": 0,
        "target_tasks": 0,
        "most_first": None,
        "fastest": None,
    }
    if not tasks:
        return across, plots
    labels = sorted({str(label) for label in trials["arch_label"]})
    names = [t["name"] for t in tasks]
    means = pd.DataFrame(np.nan, index=labels, columns=names)
    times = pd.DataFrame(np.nan, index=labels, columns=names)
    cells = pd.DataFrame("", index=labels, columns=names, dtype=object)
    first_places = dict.fromkeys(labels, 0)
    tasks_run = dict.fromkeys(labels, 0)
    with_target = []
    for task in tasks:
        name, board = task["name"], task["board"]
        for label in {str(r["label"]) for r in task["not_applicable"]}:
            cells.loc[label, name] = "n/a"
        for row in board.to_dict("records"):
            label = str(row["arch_label"])
            tasks_run[label] += 1
            means.loc[label, name] = row["mean"]
            cells.loc[label, name] = f.num(row["mean"], 3) if row["n"] else "failed"
            if row["rank"] == 1:
                first_places[label] += 1
        if task["target"] is not None and len(board):
            with_target.append(name)
            for row in board.to_dict("records"):
                times.loc[str(row["arch_label"]), name] = row["ttt_median"]
    normalized = stats.normalized_scores(means, {t["name"]: t["higher_is_better"] for t in tasks})
    if np.isfinite(normalized.to_numpy(dtype=float)).any():
        plots["fig-heatmap"] = figures.score_heatmap(normalized, cells)
        across["heatmap"] = "fig-heatmap"
    profile_times = times[with_target]
    profile = stats.performance_profile(profile_times)
    n_profile = stats.profile_ratios(profile_times).shape[1]
    across["profile_tasks"] = n_profile
    across["target_tasks"] = len(with_target)
    if n_profile:
        plots["fig-profile"] = figures.performance_profile(profile, colors=colors, n_tasks=n_profile)
        across["profile"] = "fig-profile"
    at = {tau: profile.get(tau) for tau in (1.0, 2.0)}
    rows = []
    for label in labels:
        score = normalized.loc[label].to_numpy(dtype=float)
        score = score[np.isfinite(score)]
        rows.append(
            {
                "label": label,
                "tasks_run": tasks_run[label],
                "first_places": first_places[label],
                "mean_normalized": f.num(score.mean(), 3) if len(score) else BLANK,
                "_sort": -score.mean() if len(score) else math.inf,
                "fastest": f.percent(at[1.0][label]) if n_profile else BLANK,
                "within_2x": f.percent(at[2.0][label]) if n_profile else BLANK,
            }
        )
    rows.sort(key=lambda r: (-r["first_places"], r["_sort"], r["label"]))
    across["rows"] = rows
    most = max((r["first_places"] for r in rows), default=0)
    across["most_first"] = {"labels": [r["label"] for r in rows if r["first_places"] == most], "count": most}
    if n_profile:
        fastest = profile[1.0]
        best = fastest.max()
        across["fastest"] = {
            "labels": sorted(str(label) for label in fastest.index[fastest == best]),
            "count": round(best * n_profile),
        }
    return across, plots


# ---------------------------------------------------------------------------------------------
# failures, n/a pairs, runs


def _overview(trials: pd.DataFrame) -> dict:
    statuses = trials["status"] if len(trials) else pd.Series(dtype=object)
    ok = int((statuses == "ok").sum())
    skipped = int((statuses == "skipped").sum())
    return {
        "n_trials": len(trials),
        "n_ok": ok,
        "n_skipped": skipped,
        "n_failed": len(trials) - ok - skipped,
        "n_tasks": trials["task"].nunique() if len(trials) else 0,
        "n_architectures": trials["arch_label"].nunique() if len(trials) else 0,
    }


def _failures(trials: pd.DataFrame) -> list[dict]:
    if len(trials) == 0:
        return []
    failed = trials[~trials["status"].isin(_NOT_FAILED)]
    return [
        {
            "status": str(row["status"]),
            "label": row["arch_label"],
            "task": str(row["task"]),
            "seed": f.seed(row["seed"]),
            "error": f.first_line(row["error"]),
        }
        for row in failed.to_dict("records")
    ]


def _not_applicable(trials: pd.DataFrame) -> list[dict]:
    """Pairs skipped as n/a, one row per (architecture, task), with the reason."""
    if len(trials) == 0:
        return []
    skipped = trials[trials["status"] == "skipped"]
    out = []
    for (label, task), group in skipped.groupby(["arch_label", "task"], sort=True):
        out.append(
            {
                "label": label,
                "task": task,
                "seeds": len(group),
                "reason": f.first_line(_first(group["error"])),
            }
        )
    return out


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


def _runs(runs: pd.DataFrame | None) -> list[dict]:
    if runs is None or len(runs) == 0:
        return []
    out = []
    for row in runs.to_dict("records"):
        environment, environment_text = _environment_items(row.get("environment"))
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


def _environment_items(raw: Any) -> tuple[list[tuple[str, str]], str | None]:
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


# ---------------------------------------------------------------------------------------------
# page machinery shared by the report, the comparison and the site index


def figures_json(plots: dict[str, Any]) -> Markup:
    """All figures as one JSON object ``{div id: figure}``, safe to place inside a <script> element.

    A figure is a dict (see :mod:`nnbench.report.figures`) or anything with ``to_plotly_json``
    (a ``plotly.graph_objects.Figure``). NaN and infinities become null, as JSON requires.
    """
    body = {
        div_id: figures.clean(fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig)
        for div_id, fig in plots.items()
    }
    return script_json(body)


def script_json(value: Any) -> Markup:
    """``value`` as strict JSON whose text cannot end a <script> element or open markup."""
    return Markup(json.dumps(value, allow_nan=False, separators=(",", ":")).translate(_SCRIPT_SAFE))


_figures_json = figures_json  # the v0 name


@lru_cache(maxsize=1)
def plotly_bundle() -> Markup:
    """plotly.js, to embed once in a page; a ``</script`` inside it could not end its element."""
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs().replace("</script", "<\\/script"))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("nnbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(name: str) -> jinja2.Template:
    """A page template of ``nnbench/report/templates`` (autoescaped, strict about undefined names)."""
    return _environment().get_template(name)
