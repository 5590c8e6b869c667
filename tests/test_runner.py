"""Running suites end to end: every trial recorded once, resume, executors agree, the custom-loop contract."""

from __future__ import annotations

import sqlite3

import pytest

import nnbench
from nnbench.runner import run_suite

from .conftest import TEST_PLUGINS

SUITE = f"""
name: tiny
seeds: [0, 1]
threads: 1
budget: {{steps: 30}}
training: {{batch_size: 32, lr: 0.01, eval_every: 10, warmup_steps: 2}}
plugins: [{TEST_PLUGINS / "tiny.py"}]
executor: {{kind: inline}}
tasks: [tabular-real, toy2d]
architectures: [tiny-linear, gauss]
"""

MEASURED = [
    "trial_id",
    "run_id",
    "architecture",
    "task",
    "seed",
    "status",
    "error",
    "metric",
    "higher_is_better",
    "val_score",
    "test_score",
    "batch_size",
    "train_s",
    "eval_s",
    "setup_s",
    "warmup_s",
    "wall_s",
    "step_ms_median",
    "step_ms_iqr",
    "samples_per_s",
    "params",
    "flops_per_step",
    "peak_mem_bytes",
    "device",
    "device_seconds",
    "cost_usd",
    "time_to_target_s",
]


def test_suite_runs_records_and_resumes_without_duplicates(write_suite, db):
    path = write_suite(SUITE)
    first = run_suite(path, db=db, quiet=True)
    assert first.exit_code == 0
    assert first.counts == {"ok": 4}
    assert first.not_applicable == 4  # tiny-linear on toy2d, gauss on tabular-real, 2 seeds each

    results = nnbench.load_results(db)
    for column in MEASURED:
        assert column in results.columns, column
    assert len(results) == 8 and results.trial_id.is_unique
    ok = results[results.status == "ok"]
    assert (ok.steps == 30).all()
    assert (
        ok[["train_s", "step_ms_median", "samples_per_s", "params", "flops_per_step", "cost_usd"]]
        .notna()
        .all()
        .all()
    )
    gauss = ok[ok.architecture == "gauss"]
    assert not gauss.higher_is_better.any() and (gauss.metric == "mmd").all()
    skipped = results[results.status == "skipped"]
    assert skipped.error.str.startswith("n/a: ").all()

    second = run_suite(path, db=db, quiet=True)
    assert second.records == [] and second.already_done == 4
    assert len(nnbench.load_results(db)) == 8
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_errors_and_timeouts_are_rerun(write_suite, db):
    path = write_suite(SUITE)
    run_suite(path, db=db, quiet=True)
    with sqlite3.connect(db) as conn:
        victim = conn.execute("SELECT trial_id FROM trials WHERE status='ok' LIMIT 1").fetchone()[0]
        conn.execute("UPDATE trials SET status='error' WHERE trial_id=?", (victim,))
    again = run_suite(path, db=db, quiet=True)
    assert [r["trial_id"] for r in again.records] == [victim]
    assert nnbench.load_results(db).set_index("trial_id").loc[victim, "status"] == "ok"


def test_curves_and_selected_checkpoint(write_suite, db):
    run_suite(write_suite(SUITE), db=db, quiet=True)
    curves = nnbench.load_curves(db)
    results = nnbench.load_results(db).set_index("trial_id")
    trial = results[
        (results.architecture == "tiny-linear") & (results.seed == 0) & (results.status == "ok")
    ].index[0]
    val = curves[(curves.trial_id == trial) & (curves.split == "val") & (curves.metric == "accuracy")]
    assert list(val.step) == [10, 20, 30]
    assert val.train_s.is_monotonic_increasing
    assert results.loc[trial, "val_score"] == val.value.max()  # the selected checkpoint is the best one
    assert len(curves[(curves.trial_id == trial) & (curves.split == "test")]) >= 1


def test_same_seed_gives_identical_metrics_across_executors(write_suite, tmp_path):
    path = write_suite(SUITE.replace("seeds: [0, 1]", "seeds: [0]"))
    inline = run_suite(path, db=tmp_path / "a.db", executor="inline", quiet=True)
    process = run_suite(path, db=tmp_path / "b.db", executor="process", quiet=True)
    key = ("trial_id", "val_score", "test_score", "final_loss", "steps", "flops_per_step", "params")
    by_id = {r["trial_id"]: tuple(r[k] for k in key) for r in inline.records}
    assert by_id == {r["trial_id"]: tuple(r[k] for k in key) for r in process.records}


def test_warm_up_is_undone(write_suite, tmp_path):
    """The timed run starts from the same state whatever the number of warm-up steps."""
    scores = []
    for warmup in (1, 5):
        path = write_suite(SUITE.replace("warmup_steps: 2", f"warmup_steps: {warmup}"), f"w{warmup}.yaml")
        summary = run_suite(path, db=tmp_path / f"w{warmup}.db", quiet=True)
        scores.append(
            sorted(
                (r["trial_id"][:0] + r["architecture"], r["seed"], r["final_loss"]) for r in summary.records
            )
        )
    assert scores[0] == scores[1]


def test_dry_run_trains_nothing(write_suite, db):
    path = write_suite(SUITE)
    plan = run_suite(path, db=db, dry_run=True, quiet=True)
    assert len(plan.to_run) == 4 and plan.not_applicable == 4
    assert not db.exists() or nnbench.load_results(db).empty


def test_time_budget_ends_a_trial(write_suite, db):
    path = write_suite(
        SUITE.replace("{steps: 30}", "{time: 0.5s}")
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace("[tiny-linear, gauss]", "[gauss]")
    )
    [record] = run_suite(path, db=db, quiet=True).records
    assert record["status"] == "ok"
    assert 0.5 <= record["train_s"] < 1.5
    assert record["steps"] > 30


class TestFailures:
    @pytest.fixture
    def faulty(self, tmp_path):
        plugin = tmp_path / "faulty.py"
        plugin.write_text(
            (TEST_PLUGINS / "tiny.py").read_text()
            + '''

class Explodes(TinyLinear):
    """Builds a model whose loss is NaN from the first step."""

    name = "explodes"

    def build(self, task, config):
        model = super().build(task, config)
        with torch.no_grad():
            model[1].weight.fill_(float("nan"))
        return model


class Raises(TinyLinear):
    """Fails in build."""

    name = "raises"

    def build(self, task, config):
        raise ValueError("planted failure")


@hookimpl
def register_architectures(register):
    register(TinyLinear())
    register(Explodes())
    register(Raises())
'''
        )
        return plugin

    def test_diverged_and_error_statuses(self, write_suite, db, faulty):
        path = write_suite(
            f"name: f\nseeds: [0]\nbudget: {{steps: 20}}\nplugins: [{faulty}]\nexecutor: {{kind: inline}}\n"
            "tasks: [tabular-real]\narchitectures: [tiny-linear, explodes, raises]\n"
        )
        summary = run_suite(path, db=db, quiet=True)
        by_arch = {r["architecture"]: r for r in summary.records}
        assert by_arch["tiny-linear"]["status"] == "ok"
        assert by_arch["explodes"]["status"] == "diverged"
        assert by_arch["explodes"]["steps"] == 1  # stopped at once
        assert by_arch["raises"]["status"] == "error"
        assert "ValueError: planted failure" in by_arch["raises"]["error"]
        assert "Traceback" in by_arch["raises"]["traceback"]
        assert summary.exit_code == 1
        again = run_suite(path, db=db, quiet=True)  # diverged is final; error is re-run
        assert [r["architecture"] for r in again.records] == ["raises"]
