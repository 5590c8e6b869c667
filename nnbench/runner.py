"""Runs a suite: plan the trials, skip what the store holds, dispatch the rest, record each result.

A killed run loses at most the trials in flight: each finished trial is one transaction, and the
next ``nnbench run`` of the same suite skips trials whose status is ok, diverged or skipped. A suite
with adaptive seeds (``seeds: {min, max}``) is fed by :class:`nnbench.adaptive.AdaptiveScheduler`,
which replays its looks from the store on a restart.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnbench import measure, plugins, trackers, verdict
from nnbench.adaptive import AdaptiveScheduler
from nnbench.executors import Job, drive, make_executor
from nnbench.plan import PlannedTrial, expand, task_key
from nnbench.store import Store
from nnbench.suite import Suite, load_suite
from nnbench.trial import failure_record
from nnbench.tuning import StudyPlan, TuningScheduler
from nnbench.types import SuiteContext

# Statuses that make `nnbench run` exit non-zero (documented in the README).
FAILED_STATUSES = ("error", "timeout", "oom", "crashed")
# Seconds a trial takes beyond its training budget, for the start line's estimate: process start-up
# (importing torch), data, warm-up and the paused evaluations. Measured on the quick suite on 2 CPU
# cores: 531 s for 54 trials of 15 s on 2 workers, about 4.7 s a trial beyond the budget.
TRIAL_OVERHEAD_S = {"inline": 1.5, "process": 5.0, "ray": 5.0}


@dataclass
class StudyState:
    """A tuning study as the store holds it when the run starts (for ``--dry-run`` and the summary)."""

    plan: StudyPlan
    tuned: int  # tuning trials with a result in the store
    to_tune: int  # tuning trials still to run (new, or failed and retried)


@dataclass
class RunSummary:
    """What a run did: its id, the records it wrote and what it skipped."""

    run_id: str | None
    db_path: str
    planned: list[PlannedTrial]
    already_done: int = 0
    not_applicable: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    plugin_failures: list[plugins.PluginFailure] = field(default_factory=list)
    interrupted: bool = False
    dry_run: bool = False
    to_run: list[PlannedTrial] = field(default_factory=list)
    studies: list[StudyState] = field(default_factory=list)
    not_applicable_reasons: Counter = field(default_factory=Counter)  # reason -> n/a trials to record
    jobs: int = 0  # trials this run expects to start (plain, tuning and re-runs)
    workers: int = 1
    executor: str = "process"
    budget_seconds: list[float | None] = field(default_factory=list)  # each expected job's time budget
    # Adaptive seeds: the most trials the run may start (every undecided task to `max` seeds), their
    # budgets, the planned looks, and each task's state when the run ended (see nnbench.adaptive).
    jobs_max: int | None = None
    budget_seconds_max: list[float | None] = field(default_factory=list)
    looks: verdict.Looks | None = None
    extra: list[PlannedTrial] = field(default_factory=list)  # seeds beyond min that may run
    adaptive_tasks: list[tuple[str, verdict.TaskVerdict | None, dict[str, int], bool]] = field(
        default_factory=list
    )

    def estimated_seconds(self, *, at_most: bool = False) -> float | None:
        """Wall time the run should take: each job's time budget plus a measured per-trial overhead,
        spread over the workers; None when a trial has no time budget (steps alone say nothing of time).
        ``at_most``: with adaptive seeds, if every task stays undecided to ``max``."""
        budgets = self.budget_seconds_max if at_most and self.jobs_max is not None else self.budget_seconds
        if not budgets:
            return 0.0
        if any(seconds is None for seconds in budgets):
            return None
        overhead = TRIAL_OVERHEAD_S.get(self.executor, TRIAL_OVERHEAD_S["process"])
        total = sum(seconds + overhead for seconds in budgets)  # type: ignore[operator]
        return total / max(1, min(self.workers, len(budgets)))

    @property
    def counts(self) -> Counter:
        """Trials of this run by status."""
        return Counter(r["status"] for r in self.records)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Records of trials that failed (error, timeout, oom, crashed)."""
        return [r for r in self.records if r["status"] in FAILED_STATUSES]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed; 1 when a trial failed or an entry was unavailable; 130 when interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.failures or self.unavailable else 0


def _environment(device: str) -> dict[str, Any]:
    env = measure.environment_info(device)
    for extra in plugins.pm.hook.environment_info():
        for key, value in (extra or {}).items():
            env.setdefault(key, value)  # a plugin adds keys; it does not override the core's
    return env


def _suite_margin(record: dict[str, Any], tasks: dict) -> None:
    """Record the suite's ``margin:`` of the trial's task in place of its metric's (``margin_source``
    says which): every verdict of the store reads the margin from the trials."""
    planned = tasks.get(task_key(record["task"], record["task_config"]))
    if planned is None or not planned.margin_from_suite:
        return
    record["margin"] = planned.margin.value
    record["margin_relative"] = planned.margin.relative
    record["margin_source"] = "suite"


def run_suite(
    suite: str | Path | Suite,
    *,
    db: str | Path | None = None,
    executor: str | None = None,
    workers: int | None = None,
    device: str | None = None,
    address: str | None = None,
    plugin_files: tuple[str, ...] | list[str] = (),
    dry_run: bool = False,
    quiet: bool = False,
    console=None,
    on_plan: Callable[[RunSummary], None] | None = None,
    track: tuple[str, ...] | list[str] = (),
) -> RunSummary:
    """Run (or with ``dry_run`` only plan) a suite; return a :class:`RunSummary`.

    ``suite`` is a path or a parsed :class:`~nnbench.suite.Suite`; its plugin files (and ``plugin_files``)
    are loaded here, before the suite is planned. ``on_plan`` is called with the summary once the trials
    are planned, before any runs (the CLI prints its start line there). ``track`` names experiment
    trackers to attach for this run, beside the suite's ``track:`` (see :mod:`nnbench.trackers`).
    """
    track = trackers.validated(track)
    if not isinstance(suite, Suite):
        suite = load_suite(suite, plugin_files)
    elif plugin_files:
        raise ValueError("plugin_files is for a suite given by its path; a parsed Suite already has them")
    plugins.load_plugin_files(suite.plugin_files)
    model = suite.model
    resolved_device = measure.resolve_device(device or model.device)
    workers = workers or model.executor.workers
    matrix = expand(suite, resolved_device, workers=workers)
    study_plans = [StudyPlan.of(tuned) for tuned in matrix.tuned]
    adaptive = model.adaptive_seeds()

    with Store(db) as store:
        done = store.finished_ids()
        stored = {row["trial_id"]: row for row in store.trial_rows()} if study_plans or adaptive else {}
        if adaptive is not None:
            looks = verdict.Looks(adaptive.min, adaptive.max)
            runnable_all = [p for p in matrix.trials if p.not_applicable is None]
            scheduler: TuningScheduler | AdaptiveScheduler = AdaptiveScheduler(
                runnable_all, study_plans, matrix.tasks, looks, stored
            )
        else:
            looks = None
            scheduler = TuningScheduler([], study_plans, stored)
        summary = RunSummary(
            run_id=None,
            db_path=str(store.path),
            planned=matrix.trials,
            unavailable=matrix.unavailable,
            plugin_failures=list(plugins.failures),
            dry_run=dry_run,
        )
        runnable = [p for p in matrix.trials if p.not_applicable is None and not p.extra]
        not_applicable = [p for p in matrix.trials if p.not_applicable is not None and not p.extra]
        summary.already_done = sum(p.spec.trial_id in done for p in matrix.trials if p.not_applicable is None)
        summary.not_applicable = len(not_applicable)
        summary.to_run = [p for p in runnable if p.spec.trial_id not in done]
        summary.extra = [
            p for p in matrix.trials if p.extra and p.not_applicable is None and p.spec.trial_id not in done
        ]
        studies = scheduler.studies() if isinstance(scheduler, AdaptiveScheduler) else scheduler.studies
        summary.studies = [StudyState(s.plan, len(s.results), len(s.fresh) + len(s.retry)) for s in studies]
        summary.already_done += sum(s.in_store() for s in studies)
        summary.not_applicable_reasons = Counter(
            p.not_applicable for p in not_applicable if p.spec.trial_id not in done
        )
        kind = executor or model.executor.kind
        summary.executor, summary.workers = kind, workers
        if isinstance(scheduler, AdaptiveScheduler):
            summary.looks = looks
            summary.budget_seconds = scheduler.budgets()
            summary.budget_seconds_max = scheduler.budgets(at_most=True)
            summary.jobs_max = len(summary.budget_seconds_max)
        else:
            summary.budget_seconds = [p.spec.budget.seconds for p in summary.to_run]
            for study in scheduler.studies:
                tuning = len(study.fresh) + len(study.retry)
                summary.budget_seconds += [study.plan.tune_budget.seconds] * tuning
                summary.budget_seconds += [study.plan.final_budget.seconds] * (study.remaining() - tuning)
        summary.jobs = len(summary.budget_seconds)
        if on_plan is not None:
            on_plan(summary)
        if dry_run:
            return summary

        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        summary.run_id = run_id
        suite_dir = str(suite.path.parent) if suite.path is not None else None
        store.start_run(
            run_id,
            model.name,
            str(suite.path) if suite.path else None,
            suite.text,
            measure.git_sha(suite_dir),
            _environment(resolved_device),
        )
        ctx = SuiteContext(
            run_id=run_id, suite_name=model.name, device=resolved_device, db_path=str(store.path)
        )
        trackers.attach([*model.track, *track])  # observers of this run only, in this process
        hook = plugins.pm.hook
        hook.suite_started(suite=suite, trials=[p.spec for p in summary.to_run], ctx=ctx)

        for planned in not_applicable:
            if planned.spec.trial_id in done:
                continue
            record = failure_record(
                planned.spec, "skipped", f"n/a: {planned.not_applicable}", planned.arch_label
            )
            record["run_id"] = run_id
            record["looks"] = looks.count if looks is not None else 1  # every row says its planned looks
            store.write_trial(record)

        runner = make_executor(
            kind,
            workers=workers,
            timeout_s=model.executor.timeout,
            address=address or model.executor.address,
            threads=model.threads or measure.default_threads(workers),
            device=resolved_device,
            warm=model.executor.warm,
        )
        if isinstance(scheduler, TuningScheduler):
            scheduler.plain.extend(Job(p.spec, p.arch_label) for p in summary.to_run)
        from nnbench.progress import RunDisplay

        with RunDisplay(scheduler.estimated_jobs(), console=console, quiet=quiet) as display:

            def on_start(job: Job) -> None:
                budget = job.spec.budget
                display.started(job.spec.trial_id, job.spec.label, budget.steps, budget.seconds)

            def record_trial(record: dict[str, Any], curve: list, label: str, fields: dict) -> None:
                record["run_id"] = run_id
                record["workers"] = workers  # trials at once: compare names it when two runs differ
                record.update(fields)
                _suite_margin(record, matrix.tasks)
                store.write_trial(record, curve)
                summary.records.append(record)
                if isinstance(scheduler, AdaptiveScheduler):  # a look may have asked for more seeds
                    display.set_total(len(summary.records) + scheduler.running() + scheduler.estimated_jobs())
                display.finished(record["trial_id"], label, record)
                hook.trial_finished(record=record, ctx=dataclasses.replace(ctx, curve=list(curve)))

            try:
                runner.start(display.advance)
                for job, record, curve in drive(runner, scheduler, on_start):
                    record_trial(record, curve, job.spec.label, scheduler.record_fields(job))
                for record in scheduler.pending_errors():
                    record_trial(record, [], record["arch_label"], {})
            except KeyboardInterrupt:
                summary.interrupted = True
        if isinstance(scheduler, AdaptiveScheduler):
            summary.adaptive_tasks = scheduler.summary()
        store.finish_run(run_id)
        hook.suite_finished(suite=suite, records=summary.records, ctx=ctx)
        trackers.detach()
    return summary
