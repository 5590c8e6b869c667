"""Adaptive seeds: ``seeds: {min, max}`` runs more seeds only where a task's verdict is undecided.

Every entry of a task (an architecture configuration, a size of a sweep, a tuned entry's re-runs)
runs seeds ``0 .. min-1``. When all of a task's requested seeds have a result, the scheduler takes a
look: the task's verdict (:func:`nnbench.verdict.task_verdict`, with the suite's planned looks, so
alpha is spent over them) and :func:`nnbench.verdict.seeds_wanted`, which asks one more seed of the
leader and of every entry undecided against it (a new leader catches up). It stops at ``max`` or
when nothing is undecided. Everything that decides is in :mod:`nnbench.verdict`; this module only
keeps count and hands out jobs.

Every extra seed is an ordinary trial with the same id as in a list of seeds, so a killed run
resumes: on restart the looks are replayed from the scores the store holds (the same scores give
the same decisions) and the run goes on from the first seed the store does not have. The scheduler
is a :class:`nnbench.executors.JobSource`: it hands a job to every free worker slot as long as any
task has one ready, so while one task waits for its look's last trial the others' trials run.

Each finished trial's record gets ``seeds_min``/``seeds_max`` (the planned looks, which every verdict
of the store reads back: :func:`nnbench.stats.planned_looks`), ``seed_look`` (0 for the first ``min``
seeds, else the look that asked for it) and ``seed_reason`` in words (``min``; ``look 2: leader``;
``look 2: undecided against cnn``; ``... (catching up)`` when a seed was asked to bring a new leader
level with the others).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nnbench import verdict
from nnbench.executors import Job
from nnbench.plan import PlannedTask, PlannedTrial, task_key
from nnbench.store import FINAL_STATUSES
from nnbench.tuning import Study, StudyPlan

MIN_REASON = "min"
TUNING_REASON = "tuning"  # a tuning trial's seed is its study's, not a look's


@dataclass
class Reason:
    """Why a seed of an entry runs: the look that asked for it (0: the first ``min`` seeds) and in words."""

    look: int
    text: str


class Entry:
    """One leaderboard entry of one task while adaptive seeds run: its seeds, their results, its target.

    ``target`` is the number of seeds (0 .. target-1) the entry must have tried before its task's next
    look; ``scores`` the test score of every seed with one; ``tried`` the seeds with a result
    (stored, or finished in this run, failed ones included so that a failure is not asked for again
    in the same run).
    """

    def __init__(self, label: str, seeds: tuple[int, ...], target: int):
        self.label = label
        self.seeds = seeds
        self.target = target
        self.scores: dict[int, float] = {}
        self.tried: set[int] = set()
        self.in_flight: set[int] = set()
        self.reasons: dict[int, Reason] = {seed: Reason(0, MIN_REASON) for seed in seeds[:target]}

    # -- what the scheduler asks ------------------------------------------------------------------
    def wanted(self) -> list[int]:
        """Seeds below the target without a result and not running."""
        return [s for s in self.seeds[: self.target] if s not in self.tried and s not in self.in_flight]

    def settled(self) -> bool:
        """Every seed below the target has a result: the entry is ready for its task's look."""
        return all(seed in self.tried for seed in self.seeds[: self.target])

    def raise_target(self, target: int, reason: Reason) -> None:
        """Ask for seeds up to ``target`` (those not asked for before get ``reason``)."""
        for seed in self.seeds[self.target : target]:
            self.reasons.setdefault(seed, reason)
        self.target = max(self.target, target)

    def record(self, seed: int, record: dict[str, Any]) -> None:
        """A result of ``seed`` (from the store or this run)."""
        self.in_flight.discard(seed)
        self.tried.add(seed)
        score = record.get("test_score")
        if record.get("status") == "ok" and isinstance(score, (int, float)):
            self.scores[seed] = float(score)

    def look_scores(self) -> dict[int, float]:
        """The scores a look reads: those of the seeds asked for so far. The store may hold more (a run
        that went further); a look replayed from it must see what the live look saw, or a resumed run
        (and a dry run) would decide early on seeds no look had yet."""
        asked = self.seeds[: self.target]
        return {seed: self.scores[seed] for seed in asked if seed in self.scores}

    def pending(self) -> int:
        """Trials this entry still starts in this run for its current target (not counting running ones)."""
        return len(self.wanted())

    def at_most(self) -> int:
        """Trials this entry may still start if its task stays undecided to ``max``."""
        return sum(s not in self.tried and s not in self.in_flight for s in self.seeds)

    def budgets(self, *, at_most: bool = False) -> list[float | None]:
        """The time budget of each trial :meth:`pending` (``at_most``: :meth:`at_most`) counts."""
        raise NotImplementedError

    # -- jobs ---------------------------------------------------------------------------------------
    def next_job(self) -> Job | None:
        """A job to start now, or None."""
        raise NotImplementedError

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Told of this entry's finished job."""
        raise NotImplementedError

    def owns(self, job: Job) -> bool:
        """Whether ``job`` is one of this entry's trials."""
        raise NotImplementedError


class PlainEntry(Entry):
    """An ordinary entry: one planned trial per seed."""

    def __init__(self, label: str, trials: dict[int, PlannedTrial], target: int, stored: dict[str, dict]):
        super().__init__(label, tuple(sorted(trials)), target)
        self.trials = trials
        self._ids = {planned.spec.trial_id: seed for seed, planned in trials.items()}
        for seed, planned in trials.items():
            row = stored.get(planned.spec.trial_id)
            if row is not None and row.get("status") in FINAL_STATUSES:
                self.record(seed, row)

    def budgets(self, *, at_most: bool = False) -> list[float | None]:
        """The time budget of each trial still to start (for the target, or ``at_most`` to ``max``)."""
        seeds = (
            [s for s in self.seeds if s not in self.tried and s not in self.in_flight]
            if at_most
            else self.wanted()
        )
        return [self.trials[s].spec.budget.seconds for s in seeds]

    def next_job(self) -> Job | None:
        """The lowest wanted seed's trial."""
        wanted = self.wanted()
        if not wanted:
            return None
        self.in_flight.add(wanted[0])
        planned = self.trials[wanted[0]]
        return Job(planned.spec, planned.arch_label)

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Count the result."""
        self.record(self._ids[job.spec.trial_id], record)

    def owns(self, job: Job) -> bool:
        """Whether ``job`` is one of this entry's trials."""
        return job.spec.trial_id in self._ids


class TunedEntry(Entry):
    """A tuned entry: its study's tuning trials, then the winner's re-runs on the seeds asked for."""

    def __init__(self, plan: StudyPlan, target: int, stored: dict[str, dict]):
        super().__init__(plan.arch_label, tuple(plan.seeds), target)
        self.study = Study(plan, stored, final_seeds=target)
        self._final_ids = {plan.final_trial_id(seed): seed for seed in plan.seeds}
        self._loaded = False
        self._load_stored_finals()

    def _load_stored_finals(self) -> None:
        """Once the winner is known: the store's re-runs of it count as tried."""
        if self._loaded or not self.study.finals_planned():
            return
        self._loaded = True
        if self.study.winner is None:  # no tuning trial worked: nothing to re-run, nothing to score
            self.tried.update(self.seeds)
            return
        for seed in self.seeds:
            stored = self.study.stored_final(seed)
            if stored is not None:
                self.record(seed, stored)

    def settled(self) -> bool:
        """Tuning is done and every seed below the target has a re-run result."""
        self._load_stored_finals()
        return self._loaded and super().settled()

    def raise_target(self, target: int, reason: Reason) -> None:
        """Ask for re-runs up to ``target``."""
        super().raise_target(target, reason)
        self.study.allow_finals(self.target)

    def pending(self) -> int:
        """Tuning trials and re-runs this entry still starts for its current target."""
        return self.study.remaining()

    def at_most(self) -> int:
        """Tuning trials and re-runs this entry may start if its task stays undecided to ``max``."""
        tuning = len(self.study.fresh) + len(self.study.retry)
        return tuning + super().at_most()

    def budgets(self, *, at_most: bool = False) -> list[float | None]:
        """The time budget of each tuning trial and re-run still to start."""
        plan = self.study.plan
        tuning = len(self.study.fresh) + len(self.study.retry)
        finals = super().at_most() if at_most else self.study.remaining() - tuning
        return [plan.tune_budget.seconds] * tuning + [plan.final_budget.seconds] * finals

    def next_job(self) -> Job | None:
        """The study's next tuning trial or re-run."""
        job = self.study.next_job()
        self._load_stored_finals()
        if job is not None and job.spec.stage == "final":
            self.in_flight.add(job.spec.seed)
        return job

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Tell the study; count a re-run's result."""
        self.study.finished(job, record)
        if job.spec.stage == "final":
            self.record(self._final_ids[job.spec.trial_id], record)
        self._load_stored_finals()

    def owns(self, job: Job) -> bool:
        """Whether ``job`` is a tuning trial or a re-run of this entry's study."""
        return job.spec.study == self.study.plan.study_id or job.spec.tuned_from == self.study.plan.study_id


@dataclass
class AdaptiveTask:
    """One leaderboard while adaptive seeds run: its entries, the looks taken, and whether it is done."""

    planned: PlannedTask
    entries: dict[str, Entry] = field(default_factory=dict)
    looks_taken: int = 0
    done: bool = False
    last: verdict.TaskVerdict | None = None  # the verdict of the last look

    def settled(self) -> bool:
        """Every entry has a result for every seed asked of it."""
        return all(entry.settled() for entry in self.entries.values())


class AdaptiveScheduler:
    """The job source of a suite with adaptive seeds (see the module's docstring).

    ``trials`` are the suite's runnable planned trials (every seed up to ``max``; :mod:`nnbench.plan`
    marks those beyond ``min`` as ``extra``), ``studies`` its tuning studies, ``tasks`` the tasks'
    verdict settings by :func:`nnbench.plan.task_key`, ``looks`` the planned looks and ``stored``
    the store's trials by id.
    """

    def __init__(
        self,
        trials: Iterable[PlannedTrial],
        studies: Iterable[StudyPlan],
        tasks: dict[str, PlannedTask],
        looks: verdict.Looks,
        stored: dict[str, dict[str, Any]],
        *,
        alpha: float = verdict.ALPHA,
    ):
        self.looks = looks
        self.alpha = alpha
        self.tasks: dict[str, AdaptiveTask] = {}
        by_entry: dict[tuple[str, str], dict[int, PlannedTrial]] = {}
        for planned in trials:
            spec = planned.spec
            key = task_key(spec.task, spec.task_config)
            by_entry.setdefault((key, planned.arch_label), {})[spec.seed] = planned
        for (key, label), seeds in by_entry.items():
            task = self._task(key, tasks)
            task.entries[label] = PlainEntry(label, seeds, looks.min_seeds, stored)
        for plan in studies:
            task = self._task(task_key(plan.task, plan.base.task_config), tasks)
            task.entries[plan.arch_label] = TunedEntry(plan, looks.min_seeds, stored)
        # Jobs come task by task in the suite's order, so a suite can put its slowest tasks first
        # (the planner lists trials architecture by architecture, which would order tasks by the
        # first architecture's compatible ones).
        self.tasks = {key: self.tasks[key] for key in tasks if key in self.tasks}
        self._owner: dict[str, tuple[AdaptiveTask, Entry]] = {}  # trial id of a running job -> its entry
        self._reasons: dict[str, Reason] = {}  # trial id -> why its seed ran
        for task in self.tasks.values():
            self._look(task)  # replays the looks the store already holds the seeds of

    def _task(self, key: str, tasks: dict[str, PlannedTask]) -> AdaptiveTask:
        if key not in self.tasks:
            self.tasks[key] = AdaptiveTask(tasks[key])
        return self.tasks[key]

    # -- looks --------------------------------------------------------------------------------------
    def verdict_of(self, task: AdaptiveTask) -> verdict.TaskVerdict:
        """The task's verdict on the scores gathered so far (what a look decides from)."""
        planned = task.planned
        return verdict.task_verdict(
            {label: entry.look_scores() for label, entry in task.entries.items()},
            higher_is_better=planned.higher_is_better,
            margin=planned.margin,
            alpha=self.alpha,
            looks=self.looks,
        )

    def _look(self, task: AdaptiveTask) -> None:
        """Take every look whose seeds all have results: decide, ask for seeds, or end the task."""
        while not task.done and task.settled():
            current = self.verdict_of(task)
            task.last = current
            task.looks_taken += 1
            attempted = {label: entry.target for label, entry in task.entries.items()}
            wanted = verdict.seeds_wanted(current, attempted)
            if not wanted:
                task.done = True
                return
            for label, target in wanted.items():
                entry = task.entries[label]
                reason = self._reason(task.looks_taken, label, current, target - entry.target > 1)
                entry.raise_target(target, reason)

    @staticmethod
    def _reason(look: int, label: str, current: verdict.TaskVerdict, catching_up: bool) -> Reason:
        if label == current.leader:
            text = f"look {look}: leader"
        else:
            text = f"look {look}: undecided against {current.leader}"
        return Reason(look, text + (" (catching up)" if catching_up else ""))

    # -- the JobSource ------------------------------------------------------------------------------
    def next_job(self) -> Job | None:
        """A job from the task furthest along in its looks that has one ready (its trials decide the
        next look soonest), else from the next task; None when no task has one ready now."""
        order = sorted(self.tasks.values(), key=lambda task: -task.looks_taken)  # stable: suite order
        for task in order:
            if task.done:
                continue
            for entry in task.entries.values():
                job = entry.next_job()
                if job is not None:
                    self._owner[job.spec.trial_id] = (task, entry)
                    return job
        return None

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Count the result and take the looks it completes."""
        owner = self._owner.pop(job.spec.trial_id, None)
        if owner is None:
            return
        task, entry = owner
        entry.finished(job, record)
        if job.spec.stage != "tune":
            self._reasons[job.spec.trial_id] = entry.reasons.get(job.spec.seed, Reason(0, MIN_REASON))
        self._look(task)

    def record_fields(self, job: Job) -> dict[str, Any]:
        """What the runner adds to a finished job's record: the planned looks (``looks``, their count;
        ``seeds_min``, ``seeds_max``) and why its seed ran (``seed_look``, ``seed_reason``; a tuning
        trial's is ``tuning``)."""
        fields: dict[str, Any] = {
            "looks": self.looks.count,
            "seeds_min": self.looks.min_seeds,
            "seeds_max": self.looks.max_seeds,
        }
        reason = self._reasons.get(job.spec.trial_id)
        if job.spec.stage == "tune":
            reason = Reason(0, TUNING_REASON)
        if reason is not None:
            fields |= {"seed_look": reason.look, "seed_reason": reason.text}
        return fields

    def studies(self) -> list[Study]:
        """The tuning studies of the tuned entries."""
        return [e.study for t in self.tasks.values() for e in t.entries.values() if isinstance(e, TunedEntry)]

    def pending_errors(self) -> list[dict[str, Any]]:
        """Records of re-runs that cannot run (their study found no working configuration); taken once."""
        errors = []
        for task in self.tasks.values():
            for entry in task.entries.values():
                if isinstance(entry, TunedEntry):
                    errors += entry.study.final_errors
                    entry.study.final_errors = []
        return errors

    # -- counts for the start line and the display ----------------------------------------------------
    def estimated_jobs(self) -> int:
        """Trials this run starts for the seeds asked for so far (more come if a look asks for more)."""
        return sum(e.pending() for task in self.tasks.values() for e in task.entries.values())

    def max_jobs(self) -> int:
        """Trials this run starts at most: every undecided task's entries to ``max`` seeds."""
        total = 0
        for task in self.tasks.values():
            for entry in task.entries.values():
                total += entry.pending() if task.done else entry.at_most()
        return total

    def budgets(self, *, at_most: bool = False) -> list[float | None]:
        """The time budget of every trial :meth:`estimated_jobs` (``at_most``: :meth:`max_jobs`) counts."""
        out: list[float | None] = []
        for task in self.tasks.values():
            upper = at_most and not task.done
            for entry in task.entries.values():
                out += entry.budgets(at_most=upper)
        return out

    def running(self) -> int:
        """Jobs handed out and not finished yet."""
        return len(self._owner)

    def summary(self) -> list[tuple[str, verdict.TaskVerdict | None, dict[str, int], bool]]:
        """Per task: its key, the verdict of its last look, each entry's seeds tried, and whether done."""
        return [
            (key, task.last, {label: len(e.tried) for label, e in task.entries.items()}, task.done)
            for key, task in self.tasks.items()
        ]


__all__ = ["AdaptiveScheduler", "AdaptiveTask", "Entry", "PlainEntry", "Reason", "TunedEntry"]
