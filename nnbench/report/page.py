"""Write the report: one self-contained HTML page from the store's DataFrames.

The page is a loop over sections. Every task gets a :class:`~nnbench.report.sections.TaskView`,
and each per-task section in :data:`TASK_SECTIONS` builds its part from it (the task's own section,
tuning studies, size sweeps); then come the page-wide sections (summary first, across tasks,
failures, pairs not run, plugin sections, micro-benchmarks, environment). ``templates/report.html``
includes each section's partial in order. Numbers come from :mod:`nnbench.stats`; the section
modules arrange them; this module only assembles the page.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from markupsafe import Markup

from nnbench import stats
from nnbench.report import (
    across_section,
    context_section,
    figures,
    recall_section,
    run_sections,
    scaling_section,
    summary_section,
    task_section,
    tuning_section,
)
from nnbench.report import fmt as f
from nnbench.report.html import figures_json, plotly_bundle, script_json, template
from nnbench.report.sections import PageSection, TaskSectionKind, TaskView

# Per-task sections, in page order: each is built for every task from its TaskView.
TASK_SECTIONS: tuple[TaskSectionKind, ...] = (
    TaskSectionKind("tasks", "Tasks", "_task.html", task_section.build, per_task=True),
    TaskSectionKind("tuning", "Tuning", "_tuning.html", tuning_section.build),
    TaskSectionKind("scaling", "Scaling", "_scaling.html", scaling_section.build),
    TaskSectionKind("recall", "Recall", "_recall.html", recall_section.build),
    TaskSectionKind("context", "Cost against context length", "_context.html", context_section.build),
)


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
    plotly_src: str | None = None,
) -> pathlib.Path:
    """Write one HTML report to ``path`` and return the path.

    ``results``, ``curves`` and ``runs`` are the DataFrames ``nnbench.load_results`` and friends
    return. Tuning trials (``stage`` "tune") appear only in the tuning section: every other part of
    the page aggregates the rest, where a tuned architecture is its final re-runs ("(tuned)").

    ``descriptions`` maps task names to the text that says what a task tests (default: each
    registered task's ``description``). ``benchmarks`` is pytest-benchmark's ``--benchmark-json``
    output (a path or the parsed dict). ``links`` are ``(text, href)`` pairs shown at the top.
    ``plotly_src`` makes the page load plotly.js from that relative URL instead of embedding it
    (a published site shares one copy); by default the page embeds it and works offline alone.

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
        plotly_src=plotly_src,
    )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


@dataclass
class Page:
    """A report before it is rendered: its sections in order, every figure by div id, the overview
    counts under the title, and the task names by their position (figure ids use the position)."""

    sections: list[PageSection]
    plots: dict[str, Any]
    overview: dict[str, Any]
    task_names: dict[int, str] = field(default_factory=dict)

    def figure_names(self) -> dict[str, str]:
        """Each figure's readable name by div id: ``mnist1d/quality-time``, ``across/heatmap``."""
        names = {}
        for div_id in self.plots:
            parts = div_id.split("-", 2)  # fig, index, kind
            if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in self.task_names:
                names[div_id] = f"{self.task_names[int(parts[1])]}/{parts[2]}"
            else:
                names[div_id] = "across/" + div_id.removeprefix("fig-")
        return names


def build_page(
    results: pd.DataFrame,
    curves: pd.DataFrame | None,
    runs: pd.DataFrame | None,
    *,
    sections: list[dict] | None = None,
    descriptions: Mapping[str, str] | None = None,
    benchmarks: dict | str | pathlib.Path | None = None,
) -> Page:
    """The page's sections in order, every figure by div id, and the overview counts."""
    from nnbench.report.microbench import benchmark_context

    every = prepare_trials(results)
    # Two configurations of one task are two tasks (never one leaderboard), as every verdict reads them.
    every["task_label"] = stats.task_labels(every) if len(every) else pd.Series(dtype=object)
    trials = tuning_section.competing(every)  # tuning trials show only in the tuning section
    colors = figures.architecture_colors(every["arch_label"])
    family_colors = figures.architecture_colors(scaling_section.families(scaling_section.sized(every)))
    ordered = list(_by_task(every, runs))
    if descriptions is None:
        descriptions = task_descriptions(sorted({str(t["task"].iloc[0]) for _, t in ordered}))
    points = _curve_points(curves, trials)

    plots: dict[str, Any] = {}
    parts: dict[str, list] = {kind.id: [] for kind in TASK_SECTIONS}
    for index, (task_name, task_trials) in enumerate(ordered, start=1):
        registered = str(task_trials["task"].iloc[0])
        view = TaskView(
            index=index,
            name=str(task_name),
            trials=task_trials,
            competing=tuning_section.competing(task_trials),
            points=points[points["task_label"] == task_name] if len(points) else points,
            metric=_metric(task_trials),
            higher_is_better=_higher(task_trials),
            description=descriptions.get(registered, ""),
            colors=colors,
            family_colors=family_colors,
            looks=stats.planned_looks(task_trials),
            task=registered,
        )
        for kind in TASK_SECTIONS:
            part, part_plots = kind.build(view)
            if part is not None:
                parts[kind.id].append(part)
                plots.update(part_plots)
    tasks = parts["tasks"]
    # A task's leaderboard says whether it was tuned, and links to its study.
    studies = {part["task"]: part for part in parts["tuning"]}
    for task in tasks:
        task["tuning"] = studies.get(task["name"])

    page: list[PageSection] = []
    if tasks:
        summaries = [summary_section.task_summary(t) for t in tasks]
        across, across_plots = across_section.build(tasks, trials, colors)
        plots.update(across_plots)
        decided = sum(s["decided"] for s in summaries)
        page.append(
            PageSection(
                "summary",
                "Verdicts",
                "_summary.html",
                {
                    "summaries": summaries,
                    "table": summary_section.summary_table(summaries),
                    "across": across,
                    "decided": decided,
                    "procedures": sorted({s["procedure"] for s in summaries}),
                },
            )
        )
    for kind in TASK_SECTIONS:
        if kind.per_task:
            page += [
                PageSection(part["anchor"], part["name"], kind.template, part) for part in parts[kind.id]
            ]
        elif parts[kind.id]:
            page.append(PageSection(kind.id, kind.title, kind.template, parts[kind.id]))
    if tasks:
        page += [
            PageSection("across-tasks", "Across tasks", "_across.html", across),
            PageSection("failures", "Failures", "_failures.html", run_sections.failures(trials)),
            PageSection(
                "not-applicable",
                "Pairs not run (n/a)",
                "_not_applicable.html",
                run_sections.not_applicable(trials),
            ),
        ]
    for extra in sections or []:
        html = {"title": str(extra.get("title", "")), "html": Markup(extra.get("html", ""))}
        page.append(PageSection("", html["title"], "_plugin.html", html, in_toc=False))
    if benchmarks is not None:
        page.append(
            PageSection("micro-benchmarks", "Micro-benchmarks", "_micro.html", benchmark_context(benchmarks))
        )
    environment = {
        "runs": run_sections.runs(runs),
        "devices": sorted({str(d) for d in trials["device"].dropna()}),
    }
    page.append(PageSection("environment", "Environment", "_environment.html", environment))
    overview = run_sections.overview(trials) | {
        "n_tune": len(every) - len(trials),
        "has_tasks": bool(tasks),
        "has_tuning": bool(parts["tuning"]),
    }
    return Page(page, plots, overview, {index: str(name) for index, (name, _) in enumerate(ordered, start=1)})


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
    plotly_src: str | None = None,
) -> str:
    """The report page as text; see :func:`write_report`."""
    page = build_page(
        results, curves, runs, sections=sections, descriptions=descriptions, benchmarks=benchmarks
    )
    drawn = bool(page.plots or sections)
    return template("report.html").render(
        title=title,
        links=links or [],
        overview=page.overview,
        page_sections=page.sections,
        plotly_js=plotly_bundle() if drawn and plotly_src is None else None,
        plotly_src=plotly_src if drawn else None,
        figures_json=figures_json(page.plots) if page.plots else None,
        template_json=script_json(figures.template()) if page.plots else None,
    )


def task_descriptions(names: list[str]) -> dict[str, str]:
    """Each registered task's ``description`` by name; tasks not registered (or not loadable) get none."""
    from nnbench.registry import get_task  # not the package: it imports the report (nnbench.results)

    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = str(get_task(str(name)).description or "")
        except Exception:  # an unknown task, or a broken plugin: the report goes on without its text
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


def prepare_trials(results: pd.DataFrame | None) -> pd.DataFrame:
    """The results with every column the page reads (missing ones as None); no rows if no trials.

    Rows stored without a label get one from their architecture and config (a tuned re-run's says
    "(tuned)", so it never merges with an untuned run of the same configuration).
    """
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
    """Each task's trials (a task configuration, by ``task_label``), in the order the suites list the
    tasks, then in order of appearance."""
    if not len(trials):
        return
    listed = _suite_task_order(runs)
    first_seen = {name: i for i, name in enumerate(pd.unique(trials["task"]))}

    def order(label_and_group):
        name = str(label_and_group[1]["task"].iloc[0])
        position = listed.index(name) if name in listed else len(listed) + first_seen[name]
        return position, list(pd.unique(trials["task_label"])).index(label_and_group[0])

    yield from sorted(trials.groupby("task_label", sort=False), key=order)


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


def _curve_points(curves: pd.DataFrame | None, trials: pd.DataFrame) -> pd.DataFrame:
    """Validation points of the primary metric of trials that finished ok, with task and label."""
    columns = ["task", "task_label", "arch_label", "step", "train_s", "value"]
    needed = {"trial_id", "step", "train_s", "split", "metric", "value"}
    if curves is None or len(curves) == 0 or not needed <= set(curves.columns) or len(trials) == 0:
        return pd.DataFrame(columns=columns)
    ok = trials.loc[trials["status"] == "ok", ["trial_id", "task", "task_label", "arch_label", "metric"]]
    val = curves.loc[curves["split"] == "val", ["trial_id", "step", "train_s", "metric", "value"]]
    merged = val.merge(ok, on="trial_id", suffixes=("", "_primary"))
    merged = merged[merged["metric"].astype(str) == merged["metric_primary"].astype(str)]
    return merged[columns]


def _higher(task_trials: pd.DataFrame) -> bool:
    """The task's direction: higher is better unless its trials say otherwise."""
    higher = task_section.first_value(task_trials["higher_is_better"])
    return True if higher is None else bool(higher)


def _metric(task_trials: pd.DataFrame) -> str:
    """The task's primary metric's name; ``score`` when no trial recorded one."""
    metric = task_section.first_value(task_trials["metric"])
    return "score" if metric is None else str(metric)
