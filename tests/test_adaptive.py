"""Adaptive seeds (``seeds: {min, max}``) through the runner, with an executor that trains nothing.

The executor below hands back a planted score for each (architecture, task, seed) after a planted
duration on a simulated clock, so every decision of the scheduler is deterministic and the tests take
seconds: a planted architecture far behind is decided worse at the first look and gets no more seeds,
an exact twin of the leader stays undecided and gets seeds to ``max``, a margin from the suite makes
the twins equivalent at once, a killed run resumes without repeating a trial and ends where an
uninterrupted one ends, tuned entries and size sweeps get seeds like any entry, and two worker slots
never idle while a task has a trial to run. tests/test_adaptive_real.py trains for real.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from nnbench import runner, stats, verdict
from nnbench.adaptive import AdaptiveScheduler
from nnbench.executors import Executor, Job
from nnbench.report.verdicts import store_verdicts
from nnbench.store import Store, load_results
from nnbench.trial import base_record

from .conftest import TEST_PLUGINS

TWINS = TEST_PLUGINS / "twins.py"
TUNABLE = TEST_PLUGINS / "tunable.py"

SUITE = f"""
name: adaptive
seeds: {{min: 3, max: 6}}
threads: 1
budget: {{steps: 10}}
plugins: [{TWINS}]
executor: {{kind: process, workers: 2}}
tasks: [tabular, tabular-real]
architectures: [twin-a, twin-b, crippled]
"""


def _draw(*key: str | int) -> float:
    """A fixed standard normal draw for ``key`` (the same on every run of the tests)."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return float(np.random.default_rng(words).normal())


def planted(spec) -> float:
    """twin-a and twin-b: the same distribution (a seed effect both share, their own small noise);
    crippled: 0.3 behind on every seed."""
    seed_effect = 0.02 * _draw(spec.seed, spec.task)
    own = 0.004 * _draw(spec.seed, spec.task, spec.architecture, spec.size or "", str(spec.hparams))
    behind = 0.3 if spec.architecture == "crippled" else 0.0
    return 0.8 + seed_effect + own - behind


class FakeExecutor(Executor):
    """``slots`` trials at once on a simulated clock: a trial takes ``duration(spec)`` and scores
    ``score(spec)``. ``busy`` logs how many ran while each job was submitted."""

    kind = "process"

    def __init__(
        self, slots: int = 2, score=planted, duration=lambda spec: 1.0, stop_after: int | None = None
    ):
        self.slots = slots
        self.score = score
        self.duration = duration
        self.stop_after = stop_after
        self.clock = 0.0
        self.running: list[tuple[float, int, Job]] = []
        self.submitted: list[Job] = []
        self.finished = 0
        self.busy: list[int] = []
        self.idle_while_ready: list[float] = []

    def start(self, on_progress=None) -> None:
        """Nothing to start."""

    def submit(self, job: Job) -> None:
        """Start ``job`` on the simulated clock."""
        self.running.append((self.clock + self.duration(job.spec), len(self.submitted), job))
        self.submitted.append(job)
        self.busy.append(len(self.running))

    def next_result(self):
        """The job that ends first; after ``stop_after`` results the run is 'killed' (Ctrl-C)."""
        if self.stop_after is not None and self.finished >= self.stop_after:
            raise KeyboardInterrupt
        self.running.sort(key=lambda item: (item[0], item[1]))
        end, _, job = self.running.pop(0)
        self.clock = end
        self.finished += 1
        spec = job.spec
        record = base_record(spec, job.arch_label) | {
            "status": "ok",
            "metric": "accuracy",
            "higher_is_better": True,
            "margin": 0.01,
            "margin_relative": False,
            "test_score": self.score(spec),
            "val_score": self.score(spec),
        }
        return job, record, []


def run(path, db, monkeypatch, **executor) -> tuple[runner.RunSummary, FakeExecutor]:
    fake = FakeExecutor(**executor)
    monkeypatch.setattr(runner, "make_executor", lambda *args, **kwargs: fake)
    return runner.run_suite(path, db=db, quiet=True), fake


def seeds_by_entry(db) -> dict[tuple[str, str], list[int]]:
    """Every (task, entry)'s seeds in the store."""
    results = load_results(db)
    results = results[results["stage"].fillna("main") != "tune"]
    out: dict[tuple[str, str], list[int]] = {}
    for (task, label), group in results.groupby(["task", "arch_label"]):
        out[task, label] = sorted(int(s) for s in group["seed"])
    return out


def test_seeds_go_only_to_the_undecided_and_stop_at_max(write_suite, db, monkeypatch):
    summary, _ = run(write_suite(SUITE), db, monkeypatch)
    seeds = seeds_by_entry(db)
    for task in ("tabular", "tabular-real"):
        assert seeds[task, "crippled"] == [0, 1, 2]  # decided worse at the first look: no more seeds
        # twins: never decided (no margin could hold two copies within 0.01 this early): to max
        assert seeds[task, "twin-a"] == seeds[task, "twin-b"] == list(range(6))
    assert summary.exit_code == 0 and len(summary.records) == 2 * (3 + 6 + 6)
    # every record carries the planned looks and why its seed ran
    records = {(r["task"], r["arch_label"], r["seed"]): r for r in summary.records}
    assert {(r["looks"], r["seeds_min"], r["seeds_max"]) for r in summary.records} == {(4, 3, 6)}
    assert set(load_results(db)["looks"]) == {4}  # a column of the store, read by stats.planned_looks
    assert records["tabular", "crippled", 2]["seed_reason"] == "min"
    assert records["tabular", "crippled", 2]["seed_look"] == 0
    leader = summary.adaptive_tasks[0][1].leader
    other = "twin-b" if leader == "twin-a" else "twin-a"
    assert records["tabular", leader, 3]["seed_reason"] == "look 1: leader"
    assert records["tabular", other, 3]["seed_reason"] == f"look 1: undecided against {leader}"
    assert records["tabular", other, 5]["seed_look"] == 3
    # the verdict every reader of the store gets is the one the run decided with
    for _key, last, tried, done in summary.adaptive_tasks:
        assert done and not last.decided and last.look == 4 and last.looks == 4
        assert tried["crippled"] == 3 and last.comparison("crippled").outcome == "worse"
    read = store_verdicts(load_results(db))
    decided_in_run = {key.split(" ")[0]: last for key, last, _, _ in summary.adaptive_tasks}
    for task in read.tasks:
        assert task.verdict.design == verdict.Looks(3, 6)
        last = decided_in_run[task.name]
        assert task.verdict.leader == last.leader
        for comparison in task.verdict.comparisons:
            again = last.comparison(comparison.entry)
            assert (comparison.outcome, comparison.interval) == (again.outcome, again.interval)
    assert "looks 4 (3 to 6 seeds" in read.procedure()


def test_a_suite_margin_makes_the_twins_equivalent_at_once(write_suite, db, monkeypatch):
    text = SUITE.replace("tasks: [tabular, tabular-real]", "tasks: [{name: tabular, margin: 0.2}]")
    summary, _ = run(write_suite(text), db, monkeypatch)
    assert seeds_by_entry(db) == {("tabular", label): [0, 1, 2] for label in ("twin-a", "twin-b", "crippled")}
    assert {(r["margin"], r["margin_source"]) for r in summary.records} == {(0.2, "suite")}
    task = store_verdicts(load_results(db)).tasks[0].verdict
    assert task.decided and task.margin_abs == 0.2
    assert {c.outcome for c in task.comparisons} == {"equivalent", "worse"}


def test_a_decided_task_runs_no_seed_beyond_min(write_suite, db, monkeypatch):
    text = SUITE.replace("[twin-a, twin-b, crippled]", "[twin-a, crippled]")
    summary, fake = run(write_suite(text), db, monkeypatch)
    assert len(fake.submitted) == 2 * 2 * 3 and len(summary.records) == 12
    assert all(last.decided for _, last, _, _ in summary.adaptive_tasks)


def test_a_killed_run_resumes_where_it_stopped_and_ends_like_an_uninterrupted_one(
    write_suite, db, tmp_path, monkeypatch
):
    path = write_suite(SUITE)
    whole, _ = run(path, tmp_path / "whole.db", monkeypatch)
    killed, _ = run(path, db, monkeypatch, stop_after=17)  # a look has asked for seeds by then
    assert killed.interrupted and len(killed.records) == 17
    finished = {r["trial_id"] for r in killed.records}
    resumed, fake = run(path, db, monkeypatch)
    again = {job.spec.trial_id for job in fake.submitted}
    assert again.isdisjoint(finished), "a finished trial was run again"
    assert resumed.already_done == 17
    assert seeds_by_entry(db) == seeds_by_entry(tmp_path / "whole.db")
    assert len(killed.records) + len(resumed.records) == len(whole.records)
    # a third run finds nothing to do: the looks replayed from the store ask for nothing more
    third, fake = run(path, db, monkeypatch)
    assert third.records == [] and fake.submitted == []


def test_two_slots_never_idle_while_a_task_has_a_trial_to_run(write_suite, db, monkeypatch):
    # tabular's trials are slow, tabular-real's fast: while tabular waits for its look's last trial,
    # the other slot runs tabular-real's; an idle slot is only allowed when nothing is wanted at all
    checked = []
    original = AdaptiveScheduler.next_job

    def next_job(self):
        job = original(self)
        if job is None:
            checked.append(self.estimated_jobs())
        return job

    monkeypatch.setattr(AdaptiveScheduler, "next_job", next_job)
    summary, fake = run(
        write_suite(SUITE), db, monkeypatch, duration=lambda spec: 5.0 if spec.task == "tabular" else 1.0
    )
    assert checked and all(n == 0 for n in checked)  # "nothing ready" only when nothing is wanted
    assert max(fake.busy) == 2
    # the work is 2 x 5 s x 15 trials + 2 x 1 s x 15 on two slots: 90 s if no slot ever idles; the
    # tasks' looks make some wait unavoidable at the end (the last look's two trials), never more
    total = sum(5.0 if job.spec.task == "tabular" else 1.0 for job in fake.submitted)
    assert fake.clock <= total / 2 + 5.0


def test_a_new_leader_catches_up_before_the_next_look():
    # b leads on 3 seeds, a has 5: both undecided contenders get 6 (one more than the most either has)
    samples = {"a": [0.50, 0.52, 0.49, 0.51, 0.50], "b": [0.52, 0.50, 0.53], "c": [0.12, 0.099, 0.131]}
    task = verdict.task_verdict(samples, looks=verdict.Looks(3, 8))
    assert task.leader == "b" and task.comparison("c").outcome == "worse"
    assert verdict.seeds_wanted(task) == {"a": 6, "b": 6}
    capped = verdict.task_verdict(samples, looks=verdict.Looks(3, 5))
    assert verdict.seeds_wanted(capped) == {"b": 5}  # a already has max
    assert verdict.seeds_wanted(verdict.task_verdict({"a": [1, 2, 3], "c": [-9, -8, -9.5]})) == {}


def test_tuned_entries_get_more_re_runs_and_sizes_are_entries_of_their_own(write_suite, db, monkeypatch):
    text = f"""
    name: adaptive-tuned
    seeds: {{min: 3, max: 5}}
    threads: 1
    budget: {{steps: 10}}
    plugins: [{TUNABLE}, {TWINS}]
    tasks: [{{name: tabular, tune: {{trials: 3}}}}]
    architectures:
      - {{name: tiny-mlp, size: [xs, m]}}
      - {{name: crippled, search_space: {{training.lr: {{log_uniform: [0.001, 0.1]}}}}}}
    """
    # both sizes score the same on a seed (+ their own noise): undecided; crippled far behind
    summary, _ = run(write_suite(text), db, monkeypatch)
    results = load_results(db)
    tuning = results[results["stage"] == "tune"]
    assert tuning.groupby("arch_label").size().to_dict() == {
        "crippled (tuned)": 3,
        "tiny-mlp size=m (tuned)": 3,
        "tiny-mlp size=xs (tuned)": 3,
    }  # every entry its three tuning trials, once; each size an entry of its own
    assert seeds_by_entry(db) == {
        ("tabular", "crippled (tuned)"): [0, 1, 2],  # re-run on min seeds only: decided worse
        ("tabular", "tiny-mlp size=m (tuned)"): [0, 1, 2, 3, 4],  # undecided: re-run to max
        ("tabular", "tiny-mlp size=xs (tuned)"): [0, 1, 2, 3, 4],
    }
    finals = results[results["stage"] == "final"]
    assert set(finals["seeds_max"]) == {5} and set(tuning["seeds_max"]) == {5}
    assert set(finals["looks"]) == {3} and set(tuning["seed_reason"]) == {"tuning"}
    assert set(finals[finals["seed"] < 3]["seed_reason"]) == {"min"}
    assert set(finals[finals["seed"] == 4]["seed_reason"]).issubset(
        {"look 2: leader", "look 2: undecided against tiny-mlp size=m (tuned)",
         "look 2: undecided against tiny-mlp size=xs (tuned)"}
    )  # fmt: skip
    assert summary.exit_code == 0


def test_the_dry_run_and_the_start_line_give_the_minimum_and_the_maximum(write_suite, db, group):
    from click.testing import CliRunner

    from nnbench.run_messages import duration, start_line

    path = write_suite(SUITE.replace("budget: {steps: 10}", "budget: {steps: 10, time: 2s}"))
    result = CliRunner().invoke(group, ["run", str(path), "--db", str(db), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "if undecided" in result.output
    assert "adaptive seeds 3 to 6: 18 to run at least, 36 at most" in result.output
    summary = runner.run_suite(path, db=db, dry_run=True, quiet=True)
    line = start_line(summary)
    assert line.startswith(
        "18 to 36 trials to run (adaptive seeds 3 to 6: more only where a task is undecided)"
    )
    low, high = summary.estimated_seconds(), summary.estimated_seconds(at_most=True)
    overhead = runner.TRIAL_OVERHEAD_S["process"]
    assert low == pytest.approx(18 * (2 + overhead) / 2) and high == pytest.approx(2 * low)
    assert f"about {duration(low)} to {duration(high)} on 2 workers" in line


def test_the_looks_a_store_was_run_with_are_read_back_per_task():
    import pandas as pd

    rows = pd.DataFrame(
        {"seeds_min": [2, 2, None], "seeds_max": [10, 10, None], "arch_label": ["a", "b", "c"]}
    )
    assert stats.planned_looks(rows) == verdict.Looks(2, 10)
    assert stats.planned_looks(rows.drop(columns=["seeds_min", "seeds_max"])) == verdict.ONE_LOOK
    mixed = pd.DataFrame({"seeds_min": [2, 3], "seeds_max": [10, 4]})
    assert stats.planned_looks(mixed) == verdict.Looks(2, 10)  # the plan with the most looks
    recorded = rows.assign(looks=[9, 9, 1])
    assert stats.planned_looks(recorded) == verdict.Looks(2, 10)
    # a count of looks without its seeds cannot place the boundary: Bonferroni over that count
    counted = stats.planned_looks(recorded.drop(columns=["seeds_min", "seeds_max"]))
    assert counted.count == 9 and counted.spending == verdict.BONFERRONI
    assert stats.planned_looks(pd.DataFrame({"looks": [1, None]})) == verdict.ONE_LOOK


def test_a_list_of_seeds_records_one_look_and_why_each_seed_ran(write_suite, db, monkeypatch):
    text = SUITE.replace("seeds: {min: 3, max: 6}", "seeds: [0, 1, 2]").replace(
        "tasks: [tabular, tabular-real]", "tasks: [tabular]"
    )
    summary, fake = run(write_suite(text), db, monkeypatch)
    assert len(fake.submitted) == 9  # every listed seed, whatever the verdicts
    assert {(r["looks"], r["seed_look"], r["seed_reason"]) for r in summary.records} == {(1, 0, "listed")}
    assert store_verdicts(load_results(db)).tasks[0].verdict.design == verdict.ONE_LOOK


def test_the_store_is_what_the_rule_asks_for(write_suite, db, monkeypatch):
    """A fresh scheduler over the final store replays every look and asks for nothing: no seed ran
    that the rule did not ask for, none it asked for is missing."""
    from nnbench import plan, plugins
    from nnbench.suite import load_suite

    path = write_suite(SUITE)
    run(path, db, monkeypatch)
    suite = load_suite(path)
    plugins.load_plugin_files(suite.plugin_files)
    matrix = plan.expand(suite, "cpu", workers=2)
    with Store(db) as store:
        stored = {row["trial_id"]: row for row in store.trial_rows()}
    scheduler = AdaptiveScheduler(
        [p for p in matrix.trials if p.not_applicable is None], [], matrix.tasks, verdict.Looks(3, 6), stored
    )
    assert scheduler.estimated_jobs() == 0 and all(task.done for task in scheduler.tasks.values())
    for task in scheduler.tasks.values():
        for entry in task.entries.values():
            assert entry.tried == set(entry.seeds[: entry.target])


@pytest.mark.parametrize(("seeds", "looks"), [("{min: 3, max: 6}", 4), ("[0, 1]", 1)])
def test_n_a_rows_record_the_planned_looks_too(write_suite, db, monkeypatch, seeds, looks):
    text = SUITE.replace("seeds: {min: 3, max: 6}", f"seeds: {seeds}").replace(
        "tasks: [tabular, tabular-real]", "tasks: [tabular, running-parity]"
    )  # the twins take tables and images, not sequences: running-parity is n/a for all three
    run(write_suite(text), db, monkeypatch)
    results = load_results(db)
    skipped = results[results["status"] == "skipped"]
    assert len(skipped) == 3 * (3 if looks > 1 else 2)  # n/a rows for the first seeds only
    assert set(results["looks"]) == {looks}


def test_jobs_come_task_by_task_in_the_suite_order(write_suite, db, monkeypatch):
    # The planner lists trials architecture by architecture, and gbdt (tabular only) comes first:
    # without the suite's order, tabular's trials would start first. The suite lists digits first,
    # and a suite's task order is what decides which task starts first (slow tasks first).
    suite = SUITE.replace(
        "architectures: [twin-a, twin-b, crippled]", "architectures: [gbdt, twin-a, twin-b]"
    )
    suite = suite.replace("tasks: [tabular, tabular-real]", "tasks: [digits, tabular]")
    summary, fake = run(write_suite(suite), db, monkeypatch)
    tasks = [job.spec.task for job in fake.submitted]
    assert tasks[:6] == ["digits"] * 6  # twin-a and twin-b, 3 seeds each
    assert tasks[6] == "tabular"


def test_looks_replayed_from_a_finished_store_see_only_the_seeds_each_look_had(write_suite, db, monkeypatch):
    # size=m trails size=xs by a difference that 3, 4 or 5 seeds cannot separate and 6 can. Replayed
    # from the finished store (a dry run, a resumed run), the first look must read 3 seeds, not all 6:
    # reading 6 it would decide at once, and the dry run would count 3 of each entry's 6 re-runs.
    text = f"""
    name: adaptive-replay
    seeds: {{min: 3, max: 6}}
    threads: 1
    budget: {{steps: 10}}
    plugins: [{TUNABLE}]
    tasks: [{{name: tabular, tune: {{trials: 2}}}}]
    architectures:
      - {{name: tiny-mlp, size: [xs, m]}}
    """
    behind = {0: 0.05, 1: -0.01, 2: 0.04, 3: 0.05, 4: 0.05, 5: 0.05}

    def score(spec):
        base = 0.8 + 0.01 * _draw(spec.seed, "base")
        return base - (behind[spec.seed] if spec.size == "m" and spec.stage == "final" else 0.0)

    path = write_suite(text)
    whole, _ = run(path, db, monkeypatch, score=score)
    assert seeds_by_entry(db) == {
        ("tabular", "tiny-mlp size=m (tuned)"): [0, 1, 2, 3, 4, 5],
        ("tabular", "tiny-mlp size=xs (tuned)"): [0, 1, 2, 3, 4, 5],
    }
    stored = len(load_results(db))
    dry = runner.run_suite(path, db=db, quiet=True, dry_run=True)
    assert dry.already_done == stored
    again, fake = run(path, db, monkeypatch, score=score)
    assert again.records == [] and fake.submitted == []
