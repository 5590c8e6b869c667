"""Equal tuning budgets: each (architecture, task) pair of a tuned suite gets the same number of tuning
trials, drawn by an Optuna sampler through its ask-and-tell interface, then a re-run of the best
configuration on every seed.

nnbench's store stays the record of every trial; Optuna only proposes. A study is rebuilt from the
store at each ``nnbench run``: finished tuning trials are told to a fresh Optuna study in their order,
a tuning trial that failed (error, timeout, crashed, oom) is retried with the values it had, and the
missing ones are asked for, one per free worker. Nothing finished is run twice.

Ids (see :meth:`StudyPlan.tune_trial_id` and ``final_trial_id``, built by :mod:`nnbench.plan`): tuning
trial ``i`` of a study and the final re-run on seed ``s`` have ids that do not depend on the sampled
values, so a re-run of the suite finds them; a final whose values are not the study's current winner is
run again. This module imports :mod:`nnbench.plan`, never the reverse.
"""

from __future__ import annotations

import collections
import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

from nnbench import plan, space
from nnbench.executors import Job
from nnbench.store import FINAL_STATUSES
from nnbench.trial import failure_record
from nnbench.types import TrialSpec


@dataclass(frozen=True)
class StudyPlan(plan.TunedPair):
    """One tuning study: a tuned (architecture entry, task) pair of a suite, with its id, before any trial
    is drawn.

    :class:`Study` turns it into ``tune.trials`` tuning trials (``stage = "tune"``) and, once they are
    done, one re-run of the best configuration per seed (``stage = "final"``, ``tuned_from = study_id``).
    """

    study_id: str

    @classmethod
    def of(cls, tuned: plan.TunedPair) -> StudyPlan:
        """The study of a pair the planner found tuned; its id is the hash of :func:`nnbench.plan.study_identity`."""
        values = {f.name: getattr(tuned, f.name) for f in dataclasses.fields(plan.TunedPair)}
        return cls(**values, study_id=plan.trial_id(plan.study_identity(tuned)))

    def defaults(self) -> dict[str, Any]:
        """The entry's own values of the sampled parameters, where the search space can draw them."""
        values = {}
        for key, param in self.space.items():
            where, name = space.split_key(key)
            value = (self.base.arch_config if where == "config" else self.base.training).get(name)
            if space.contains(param, value):
                values[key] = value
        return values

    def tune_trial_id(self, index: int) -> str:
        """The id of tuning trial ``index``: it depends on the study and the index, not on the sampled
        values, so a failed tuning trial is retried with the values it had."""
        return plan.trial_id(
            plan.study_trial_identity(self.study_id, "tune", self.tune_seed, self.tune_budget, index)
        )

    def final_trial_id(self, seed: int) -> str:
        """The id of the re-run on ``seed``: not dependent on the winner's values, so a re-run is
        replaced when the study's winner changes."""
        return plan.trial_id(plan.study_trial_identity(self.study_id, "final", seed, self.final_budget))

    def tune_trial(self, index: int, params: dict[str, Any]) -> TrialSpec:
        """Tuning trial ``index`` with the sampled ``params``: the tuning seed and budget."""
        return plan.trial_spec(
            self._with(params),
            self.tune_seed,
            self.tune_budget,
            trial_id=self.tune_trial_id(index),
            label=f"{self.arch_label} · {self.task} · tuning trial {index}",
            stage="tune",
            study=self.study_id,
            tune_index=index,
            hparams=dict(params),
            tune_trials=self.tune.trials,
            tune_sampler=self.tune.sampler,
        )

    def final_trial(self, seed: int, params: dict[str, Any]) -> TrialSpec:
        """The re-run of the winning ``params`` on ``seed`` with the suite's budget."""
        return plan.trial_spec(
            self._with(params),
            seed,
            self.final_budget,
            trial_id=self.final_trial_id(seed),
            label=f"{self.arch_label} · {self.task} · final · seed {seed}",
            stage="final",
            hparams=dict(params),
            tuned_from=self.study_id,
            tune_trials=self.tune.trials,
            tune_sampler=self.tune.sampler,
        )

    def _with(self, params: dict[str, Any]) -> plan.Pair:
        """The study's pair with sampled ``params`` (search-space keys) applied to its config and training."""
        config = {k: v for k, v in params.items() if space.split_key(k)[0] == "config"}
        training = {
            space.split_key(k)[1]: v for k, v in params.items() if space.split_key(k)[0] == "training"
        }
        base = self.base
        return dataclasses.replace(
            base, arch_config={**base.arch_config, **config}, training={**base.training, **training}
        )


def _make_sampler(kind: str, seed: int, trials: int):
    import optuna

    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "qmc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, scramble=True)
    # constant_liar: configurations asked while others run are steered away from those in flight.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna's default of 10 random start-up trials would leave a 16-trial study mostly random.
        startup = max(2, min(10, trials // 3))
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup)


def best_trial(records: list[dict[str, Any]], higher_is_better: bool) -> dict[str, Any] | None:
    """The tuning trial with the best validation score among those that finished ok (ties: lowest index)."""
    scored = [r for r in records if r.get("status") == "ok" and r.get("val_score") is not None]
    if not scored:
        return None
    sign = -1.0 if higher_is_better else 1.0
    return min(scored, key=lambda r: (sign * r["val_score"], r.get("tune_index") or 0))


class Study:
    """One tuning study while a suite runs: what is done, what is in flight, what to start next.

    ``final_seeds`` limits the re-runs to the first seeds of ``plan.seeds`` (adaptive seeds ask for
    more with :meth:`allow_finals`); None re-runs the winner on every seed.
    """

    def __init__(self, plan: StudyPlan, stored: dict[str, dict[str, Any]], final_seeds: int | None = None):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.plan = plan
        self.distributions = {key: param.distribution() for key, param in plan.space.items()}
        self.optuna = optuna.create_study(
            direction="maximize" if plan.higher_is_better else "minimize",
            sampler=_make_sampler(plan.tune.sampler, int(plan.study_id[:8], 16), plan.tune.trials),
        )
        self.results: dict[int, dict[str, Any]] = {}  # tune index -> record (finished, this run or before)
        self.retry: collections.deque[tuple[int, dict[str, Any]]] = collections.deque()
        self.fresh: collections.deque[int] = collections.deque()
        self.in_flight: dict[int, Any] = {}  # tune index -> optuna trial
        self.finals: collections.deque[Any] | None = None  # final specs to run, once tuning is done
        self.final_errors: list[dict[str, Any]] = []  # finals that cannot run (no tuning trial ok)
        self.final_seeds = final_seeds
        self.winner: dict[str, Any] | None = None  # the best tuning trial's values, once tuning is done
        self._queued_finals: set[int] = set()  # seeds whose final was queued or found in the store
        self._stored = stored
        self._resume()

    # -- resume ---------------------------------------------------------------------------------
    def _resume(self) -> None:
        import optuna

        for index in range(self.plan.tune.trials):
            record = self._stored.get(self.plan.tune_trial_id(index))
            if record is None:
                self.fresh.append(index)
            elif record["status"] in FINAL_STATUSES:
                self.results[index] = record
                self.optuna.add_trial(
                    optuna.trial.create_trial(
                        params=record["hparams"], distributions=self.distributions, **self._outcome(record)
                    )
                )
            else:
                self.retry.append((index, record["hparams"]))

    @staticmethod
    def _outcome(record: dict[str, Any]) -> dict[str, Any]:
        from optuna.trial import TrialState

        if record.get("status") == "ok" and record.get("val_score") is not None:
            return {"value": float(record["val_score"]), "state": TrialState.COMPLETE}
        return {"state": TrialState.FAIL}

    # -- scheduling -----------------------------------------------------------------------------
    @property
    def tuning_done(self) -> bool:
        """Every tuning trial has a result (from this run or an earlier one)."""
        return len(self.results) == self.plan.tune.trials

    def remaining(self) -> int:
        """Trials this study may still start in this run (tuning and finals, as far as known now)."""
        if self.finals is not None:
            finals = len(self.finals)
        else:  # before the winner is known: the seeds without a final in the store
            finals = len(self.final_seed_list()) - self._finals_in_store()
        return len(self.fresh) + len(self.retry) + finals

    def final_seed_list(self) -> tuple[int, ...]:
        """The seeds the winner is re-run on in this run: every seed, or the first ``final_seeds``."""
        seeds = self.plan.seeds
        return seeds if self.final_seeds is None else seeds[: self.final_seeds]

    def allow_finals(self, count: int) -> None:
        """Re-run the winner on the first ``count`` seeds (adaptive seeds asking for more)."""
        self.final_seeds = count
        if self.finals is not None:
            self._queue_finals()

    def _finals_in_store(self) -> int:
        ids = [self.plan.final_trial_id(seed) for seed in self.final_seed_list()]
        return sum(self._stored.get(i, {}).get("status") in FINAL_STATUSES for i in ids)

    def in_store(self) -> int:
        """Trials of this study the store already holds with a result (tuning trials and re-runs)."""
        return len(self.results) + self._finals_in_store()

    def next_job(self) -> Job | None:
        """The next tuning trial (asked now), the next final re-run, or None while tuning trials run."""
        if self.retry or self.fresh:
            if self.retry:
                index, params = self.retry.popleft()
                self.optuna.enqueue_trial(params, skip_if_exists=False)
            else:
                index = self.fresh.popleft()
                if index == 0 and self.plan.tune.defaults_first:
                    self.optuna.enqueue_trial(self.plan.defaults(), skip_if_exists=False)
            trial = self.optuna.ask(self.distributions)
            self.in_flight[index] = trial
            return Job(self.plan.tune_trial(index, dict(trial.params)), self.plan.arch_label)
        if not self.tuning_done:
            return None  # the last tuning trials are running; finals wait for the winner
        if self.finals is None:
            self._plan_finals()
        if self.finals:
            return Job(self.finals.popleft(), self.plan.arch_label)
        return None

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Tell Optuna the outcome of a tuning trial of this study."""
        index = job.spec.tune_index
        if job.spec.stage != "tune" or index not in self.in_flight:
            return
        trial = self.in_flight.pop(index)
        outcome = self._outcome(record)
        self.optuna.tell(trial, outcome.get("value"), state=outcome["state"])
        self.results[index] = record

    def finals_planned(self) -> bool:
        """Whether the winner is known and its re-runs are planned (planned here once tuning is done)."""
        if self.finals is None and self.tuning_done:
            self._plan_finals()
        return self.finals is not None

    def stored_final(self, seed: int) -> dict[str, Any] | None:
        """The store's re-run of the winner on ``seed`` (None when it has none with the winner's values,
        or before the winner is known)."""
        if self.finals is None or self.winner is None:
            return None
        stored = self._stored.get(self.plan.final_trial_id(seed))
        if stored is not None and stored["status"] in FINAL_STATUSES and stored.get("hparams") == self.winner:
            return stored
        return None

    def _plan_finals(self) -> None:
        best = best_trial(list(self.results.values()), self.plan.higher_is_better)
        self.winner = best["hparams"] if best is not None else None
        self.finals = collections.deque()
        self._queue_finals()

    def _queue_finals(self) -> None:
        plan = self.plan
        assert self.finals is not None
        for seed in self.final_seed_list():
            if seed in self._queued_finals:
                continue
            self._queued_finals.add(seed)
            params = self.winner if self.winner is not None else {}
            spec = plan.final_trial(seed, params)
            stored = self._stored.get(spec.trial_id)
            if self.winner is None:
                reason = f"no tuning trial of study {plan.study_id} finished ok: nothing to re-run"
                if stored is None or stored.get("status") != "error" or stored.get("error") != reason:
                    self.final_errors.append(failure_record(spec, "error", reason, plan.arch_label))
                continue
            if stored is not None and stored["status"] in FINAL_STATUSES and stored.get("hparams") == params:
                continue  # already re-run with this winner
            self.finals.append(spec)


class TuningScheduler:
    """The job source of a run: plain trials first, then each study's trials as workers free up."""

    def __init__(self, jobs: list[Job], plans: list[StudyPlan], stored: dict[str, dict[str, Any]]):
        self.plain = collections.deque(jobs)
        self.studies = [Study(plan, stored) for plan in plans]
        self._by_id = {study.plan.study_id: study for study in self.studies}

    def estimated_jobs(self) -> int:
        """How many trials this run will start (finals already run with the same winner are skipped later)."""
        return len(self.plain) + sum(study.remaining() for study in self.studies)

    def next_job(self) -> Job | None:
        """A plain trial, else a job from the first study that has one ready."""
        if self.plain:
            return self.plain.popleft()
        for study in self.studies:
            job = study.next_job()
            if job is not None:
                return job
        return None

    def finished(self, job: Job, record: dict[str, Any]) -> None:
        """Route a finished tuning trial to its study."""
        study = self._by_id.get(job.spec.study or "")
        if study is not None:
            study.finished(job, record)

    def record_fields(self, job: Job) -> dict[str, Any]:
        """Fields the runner adds to a job's record: one planned look (a fixed list of seeds), and why the
        seed ran: ``listed`` in the suite's seeds, or ``tuning`` for a tuning trial (adaptive seeds
        add their looks and reasons: :meth:`nnbench.adaptive.AdaptiveScheduler.record_fields`)."""
        reason = "tuning" if job.spec.stage == "tune" else "listed"
        return {"looks": 1, "seed_look": 0, "seed_reason": reason}

    def pending_errors(self) -> list[dict[str, Any]]:
        """Records of finals that cannot run (their study found no working configuration); taken once."""
        errors = [record for study in self.studies for record in study.final_errors]
        for study in self.studies:
            study.final_errors = []
        return errors
