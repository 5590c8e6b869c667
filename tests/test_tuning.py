"""Equal tuning budgets: N tuning trials per pair, selection on validation, re-runs on every seed, resume."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import nnbench
from nnbench import space
from nnbench.errors import ConfigError
from nnbench.runner import run_suite
from nnbench.tuning import best_trial

from .conftest import TEST_PLUGINS

TUNED = f"""
name: tuned
seeds: [0, 1]
threads: 1
budget: {{steps: 40}}
training: {{batch_size: 32, eval_every: 10, warmup_steps: 1}}
plugins: [{TEST_PLUGINS / "tunable.py"}]
executor: {{kind: inline}}
tune: {{trials: 5, sampler: tpe, budget: {{steps: 20}}}}
tasks: [digits, tabular-real]
architectures:
  - tiny-mlp
  - {{name: tiny-mlp, activation: tanh, search_space: {{hidden: {{choice: [4, 8]}}}}}}
"""


def _frame(db):
    frame = nnbench.load_results(db)
    return frame[frame.status != "skipped"]


def test_every_pair_gets_exactly_the_configured_tuning_trials(write_suite, db):
    summary = run_suite(write_suite(TUNED), db=db, quiet=True)
    assert summary.exit_code == 0, [r.get("error") for r in summary.failures]
    results = _frame(db)
    tune = results[results.stage == "tune"]
    final = results[results.stage == "final"]
    per_pair = tune.groupby(["arch_label", "task"]).size()
    assert len(per_pair) == 4 and (per_pair == 5).all()
    assert (tune.budget_steps == 20).all() and (tune.steps == 20).all()
    assert (tune.seed == 0).all()  # the suite's first seed
    assert sorted(tune.groupby("study").tune_index.apply(sorted).iloc[0]) == [0, 1, 2, 3, 4]
    # Re-runs: one per seed per pair, full budget, pointing at their study.
    assert len(final) == 8 and (final.steps == 40).all()
    assert set(final.tuned_from) == set(tune.study)
    assert set(final.seed) == {0, 1}
    # The second entry pins activation and narrows hidden: its studies only sampled what was left.
    narrowed = tune[tune.arch_label.str.contains("activation=tanh")]
    assert {h["hidden"] for h in narrowed.hparams} <= {4, 8}
    assert all("activation" not in h for h in narrowed.hparams)
    assert all(json.loads(c)["activation"] == "tanh" for c in narrowed.arch_config)
    # Sampled values reach the trial: the config and the trainer's learning rate.
    for _, row in tune.iterrows():
        assert json.loads(row.arch_config)["hidden"] == row.hparams["hidden"]
        assert row.lr == pytest.approx(row.hparams["training.lr"])


def test_the_rerun_uses_the_best_configuration_on_validation(write_suite, db):
    run_suite(write_suite(TUNED), db=db, quiet=True)
    results = _frame(db)
    for study, trials in results[results.stage == "tune"].groupby("study"):
        best = trials.loc[trials.val_score.idxmax()]
        finals = results[results.tuned_from == study]
        assert len(finals) == 2
        for hparams in finals.hparams:
            assert hparams == best.hparams
        assert (finals.arch_config.apply(lambda c: json.loads(c)["hidden"]) == best.hparams["hidden"]).all()


def test_a_second_run_repeats_nothing(write_suite, db):
    path = write_suite(TUNED)
    run_suite(path, db=db, quiet=True)
    again = run_suite(path, db=db, quiet=True)
    assert again.records == [] and again.already_done == 4 * 5 + 4 * 2
    assert len(_frame(db)) == 4 * 5 + 4 * 2


def test_best_trial_follows_the_metric_direction_and_ignores_failures():
    records = [
        {"status": "ok", "val_score": 0.5, "tune_index": 0},
        {"status": "ok", "val_score": 0.9, "tune_index": 1},
        {"status": "error", "val_score": None, "tune_index": 2},
        {"status": "diverged", "val_score": 0.99, "tune_index": 3},
        {"status": "ok", "val_score": 0.9, "tune_index": 4},
    ]
    assert best_trial(records, higher_is_better=True)["tune_index"] == 1  # ties: the earlier one
    assert best_trial(records, higher_is_better=False)["tune_index"] == 0
    assert best_trial([records[2]], higher_is_better=True) is None


def test_a_failed_tuning_trial_is_retried_with_the_same_values(write_suite, db):
    path = write_suite(TUNED)
    run_suite(path, db=db, quiet=True)
    with sqlite3.connect(db) as conn:
        victim, record = conn.execute(
            'SELECT trial_id, record FROM trials WHERE record LIKE \'%"stage": "tune"%\' LIMIT 1'
        ).fetchone()
        conn.execute("UPDATE trials SET status='error' WHERE trial_id=?", (victim,))
    before = _frame(db).set_index("trial_id")
    again = run_suite(path, db=db, quiet=True)
    rerun = [r for r in again.records if r["stage"] == "tune"]
    assert [r["trial_id"] for r in rerun] == [victim]
    assert rerun[0]["hparams"] == before.loc[victim, "hparams"]
    assert len(_frame(db)) == 4 * 5 + 4 * 2


def test_resume_asks_only_for_the_missing_trials(write_suite, db):
    path = write_suite(TUNED)
    run_suite(path, db=db, quiet=True)
    with sqlite3.connect(db) as conn:
        # As if the run had been killed after three tuning trials of one study: the rest never ran.
        study = conn.execute(
            "SELECT json_extract(record, '$.study') FROM trials WHERE json_extract(record, '$.stage')='tune' LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "DELETE FROM trials WHERE json_extract(record, '$.study')=? AND json_extract(record, '$.tune_index')>=3",
            (study,),
        )
        conn.execute("DELETE FROM trials WHERE json_extract(record, '$.tuned_from')=?", (study,))
    kept = set(_frame(db).trial_id)
    again = run_suite(path, db=db, quiet=True)
    assert {r["trial_id"] for r in again.records}.isdisjoint(kept)
    stages = sorted((r["stage"], r.get("tune_index")) for r in again.records)
    assert stages == [("final", None), ("final", None), ("tune", 3), ("tune", 4)]
    results = _frame(db)
    assert (results[results.stage == "tune"].groupby("study").size() == 5).all()


@pytest.mark.slow
def test_a_killed_tuning_run_resumes_without_repeating_trials(write_suite, db):
    slow = TUNED.replace("budget: {steps: 20}", "budget: {steps: 100000, time: 1s}")
    slow = slow.replace("tasks: [digits, tabular-real]", "tasks: [tabular-real]")
    path = write_suite(slow)
    runner = subprocess.Popen([sys.executable, "-m", "nnbench", "run", str(path), "--db", str(db), "-q"])
    deadline = time.time() + 180
    while time.time() < deadline:
        time.sleep(0.3)
        if db.exists() and len(nnbench.load_results(db)) >= 3:  # in the first study
            break
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = nnbench.load_results(db)
    finished = dict(zip(before.trial_id, before.finished_at))
    assert 3 <= len(finished) < 14
    summary = run_suite(path, db=db, quiet=True)
    assert summary.exit_code == 0
    assert {r["trial_id"] for r in summary.records}.isdisjoint(finished), "a finished trial was repeated"
    after = nnbench.load_results(db).set_index("trial_id")
    for trial, finished_at in finished.items():
        assert after.loc[trial, "finished_at"] == finished_at
    assert (after[after.stage == "tune"].groupby("study").size() == 5).all()
    assert len(after) == 2 * 5 + 2 * 2


@pytest.mark.parametrize(("sampler", "executor"), [("random", "process, workers: 2"), ("qmc", "inline")])
def test_other_samplers_and_parallel_workers(write_suite, db, sampler, executor):
    text = TUNED.replace("sampler: tpe", f"sampler: {sampler}").replace(
        "executor: {kind: inline}", f"executor: {{kind: {executor}}}"
    )
    text = text.replace("tasks: [digits, tabular-real]", "tasks: [tabular-real]")
    text = text.replace(
        "  - {name: tiny-mlp, activation: tanh, search_space: {hidden: {choice: [4, 8]}}}\n", ""
    )
    summary = run_suite(write_suite(text), db=db, quiet=True)
    assert summary.exit_code == 0
    results = _frame(db)
    assert (results.stage == "tune").sum() == 5 and (results.stage == "final").sum() == 2
    assert set(results.tune_sampler) == {sampler}
    assert results[results.stage == "tune"].hparams.apply(lambda h: h["training.lr"]).nunique() == 5


def test_a_task_entry_can_override_the_tuning(write_suite, db):
    text = TUNED.replace(
        "tasks: [digits, tabular-real]", "tasks: [digits, {name: tabular-real, tune: {trials: 2}}]"
    ).replace("  - {name: tiny-mlp, activation: tanh, search_space: {hidden: {choice: [4, 8]}}}\n", "")
    run_suite(write_suite(text), db=db, quiet=True)
    tune = _frame(db).query("stage == 'tune'")
    assert tune.groupby("task").size().to_dict() == {"digits": 5, "tabular-real": 2}
    # The task's tuning replaces the suite's: its budget is the suite's, not the suite tune's.
    assert set(tune[tune.task == "tabular-real"].budget_steps) == {40}


def test_untuned_suites_keep_their_trial_ids(write_suite, db):
    plain = TUNED.replace("tune: {trials: 5, sampler: tpe, budget: {steps: 20}}\n", "")
    plain = plain.replace(
        "  - {name: tiny-mlp, activation: tanh, search_space: {hidden: {choice: [4, 8]}}}\n", ""
    )
    summary = run_suite(write_suite(plain), db=db, quiet=True, dry_run=True)
    assert summary.studies == [] and len(summary.to_run) == 4
    assert {p.spec.stage for p in summary.to_run} == {"main"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("trials: 5", "trials: 0"), "tuned.yaml:8: tune.trials: Input should be greater than 0"),
        (
            ("sampler: tpe", "sampler: grid"),
            "tuned.yaml:8: tune.sampler: Input should be 'tpe', 'random' or 'qmc'",
        ),
        (("choice: [4, 8]", "choices: [4, 8]"), "architectures.1.search_space.hidden: expected one of"),
        (
            ("{hidden: {choice", "{hiden: {choice"),
            "search_space key 'hiden' is not an option of this architecture; did you mean 'hidden'?",
        ),
        (
            ("{hidden: {choice: [4, 8]}}", "{training.eval_every: {int: [1, 5]}}"),
            "tunable training settings are",
        ),
        (
            ("{hidden: {choice: [4, 8]}}", "{training.lr: {log_uniform: [0, 1]}}"),
            "log_uniform needs 0 < low < high",
        ),
        (("{hidden: {choice: [4, 8]}}", "{hidden: {int: [1.5, 4]}}"), "expected [low, high] integers"),
    ],
)
def test_bad_tuning_input_is_one_clear_error(write_suite, change, message):
    path = write_suite(TUNED.replace(*change), name="tuned.yaml")
    with pytest.raises(ConfigError) as caught:
        run_suite(path, dry_run=True, quiet=True)
    assert message in str(caught.value)


def test_an_architecture_without_a_search_space_cannot_be_tuned(write_suite):
    text = TUNED.replace("tasks: [digits, tabular-real]", "tasks: [tabular-real]").replace(
        "  - tiny-mlp\n", "  - untunable\n"
    )
    with pytest.raises(ConfigError, match=r"architectures.0: untunable has nothing to tune"):
        run_suite(write_suite(text), dry_run=True, quiet=True)


def test_the_cli_dry_run_shows_the_studies(write_suite, db):
    from .conftest import run_cli

    result = run_cli("run", str(write_suite(TUNED)), "--db", str(db), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "4 tuning studies (20 tuning trials to run" in result.stdout


def test_search_space_yaml_forms():
    assert space.parse_param({"log_uniform": ["1e-4", 0.01]}) == space.LogUniform(1e-4, 0.01)
    assert space.parse_param({"int_log": [8, 256]}) == space.IntRange(8, 256, log=True)
    assert space.parse_param({"choice": ["lstm", "gru"]}) == space.Choice(["lstm", "gru"])
    assert space.parse_param(3) == 3  # pinned
    with pytest.raises(ValueError, match="at least two values"):
        space.parse_param({"choice": [1]})
    assert space.describe(space.LogUniform(1e-4, 1e-2)) == "log_uniform[0.0001, 0.01]"


def test_tuning_trial_zero_is_the_entrys_own_configuration(write_suite, db):
    run_suite(write_suite(TUNED), db=db, quiet=True)
    first = _frame(db).query("stage == 'tune' and tune_index == 0")
    for label, hparams in zip(first.arch_label, first.hparams):
        if "activation=tanh" in label:  # its default width (16) is outside its narrowed space: sampled
            assert set(hparams) == {"training.lr", "hidden"} and hparams["training.lr"] == 1e-3
            assert hparams["hidden"] in (4, 8)
        else:
            assert hparams == {"training.lr": 1e-3, "hidden": 16, "activation": "relu"}


def test_defaults_first_can_be_turned_off(write_suite, db):
    text = TUNED.replace("sampler: tpe,", "sampler: tpe, defaults_first: false,").replace(
        "  - {name: tiny-mlp, activation: tanh, search_space: {hidden: {choice: [4, 8]}}}\n", ""
    )
    run_suite(
        write_suite(text.replace("tasks: [digits, tabular-real]", "tasks: [tabular-real]")), db=db, quiet=True
    )
    first = _frame(db).query("stage == 'tune' and tune_index == 0")
    assert first.hparams.iloc[0]["training.lr"] != 1e-3
