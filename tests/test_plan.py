"""The planner: trial ids of the shipped suites do not move, and every trial is built in one place."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from nnbench.plan import Pair, Placement, plain_trial, trial_id, trial_identity
from nnbench.runner import run_suite
from nnbench.types import Budget

from .conftest import REPO


def _pin_script():
    spec = importlib.util.spec_from_file_location("pin_trial_ids", REPO / "scripts" / "pin_trial_ids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PIN = _pin_script()
PINNED = json.loads(PIN.PINNED.read_text())


def test_every_shipped_suite_is_pinned():
    assert sorted(PINNED) == sorted(f"{path.name}@{device}" for path, device in PIN.pinned_keys())


@pytest.mark.parametrize("key", sorted(PINNED))
def test_shipped_suites_plan_the_pinned_trial_ids(key):
    # The ids were recorded from the planner before nnbench/config.py was split into suite.py and
    # plan.py; a store made by any earlier run must keep finding its trials. When ids are meant to
    # change (a suite edited, a task's version bumped), rerun scripts/pin_trial_ids.py and say why.
    name, device = key.split("@")
    planned = PIN.planned_ids(REPO / "suites" / name, device)
    pinned = PINNED[key]
    for part in ("trials", "studies"):
        now = [json.dumps(item, ensure_ascii=False) for item in planned[part]]
        before = [json.dumps(item, ensure_ascii=False) for item in pinned[part]]
        changed = sorted(set(now) ^ set(before))
        assert now == before, f"{key} {part}: {len(changed)} differ, e.g. " + "\n".join(changed[:4])


SAMPLES = sorted(p.stem.removeprefix("sample-") for p in (REPO / "reports").glob("sample-*.db"))


def test_every_sample_report_has_its_store_and_suite():
    for sample in SAMPLES:
        assert (REPO / "reports" / f"sample-{sample}.html").is_file()
        assert (REPO / "suites" / f"{sample}.yaml").is_file()


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_dry_run_finds_every_trial_of_the_sample_stores(sample, tmp_path):
    # The sample reports' stores were written by earlier runs of the shipped suites: a dry run of the
    # same suite finds every trial (plain, tuning and re-runs) there, and nothing left to run.
    db = tmp_path / f"{sample}.db"
    shutil.copy(REPO / "reports" / f"sample-{sample}.db", db)
    summary = run_suite(REPO / "suites" / f"{sample}.yaml", db=db, device="cpu", dry_run=True, quiet=True)
    assert summary.to_run == []
    assert all(study.to_tune == 0 for study in summary.studies)
    import sqlite3

    with sqlite3.connect(db) as connection:
        stored = connection.execute("select count(*) from trials where status != 'skipped'").fetchone()[0]
    assert summary.already_done == stored > 0


def _pair(**changes) -> Pair:
    values = dict(
        architecture="mlp",
        arch_label="mlp",
        arch_config={"width": 8},
        training={"lr": 0.001, "batch_size": 32},
        task="digits",
        task_config={},
        task_version=1,
        placement=Placement(device="cpu", threads=1, price_per_hour_usd=0.1),
    )
    values.update(changes)
    return Pair(**values)


def test_a_trial_id_is_the_hash_of_its_identity_and_nothing_else():
    budget = Budget(steps=10, seconds=None)
    spec = plain_trial(_pair(), 0, budget)
    assert spec.trial_id == trial_id(trial_identity(_pair(), 0, budget))
    # Where it runs (threads, price, plugin files) is not part of the id; the device is.
    elsewhere = _pair(
        placement=Placement(device="cpu", threads=8, price_per_hour_usd=None, plugin_files=("x.py",))
    )
    assert plain_trial(elsewhere, 0, budget).trial_id == spec.trial_id
    assert plain_trial(_pair(placement=Placement("cuda", 1, 0.1)), 0, budget).trial_id != spec.trial_id
    # Every resolved value is: seed, budget, config, training, task version, size.
    assert plain_trial(_pair(), 1, budget).trial_id != spec.trial_id
    assert plain_trial(_pair(), 0, Budget(steps=11, seconds=None)).trial_id != spec.trial_id
    assert plain_trial(_pair(arch_config={"width": 9}), 0, budget).trial_id != spec.trial_id
    assert plain_trial(_pair(training={"lr": 0.002, "batch_size": 32}), 0, budget).trial_id != spec.trial_id
    assert plain_trial(_pair(task_version=2), 0, budget).trial_id != spec.trial_id
    assert plain_trial(_pair(size="s"), 0, budget).trial_id != spec.trial_id
    assert spec.label == "mlp · digits · seed 0" and spec.threads == 1 and spec.training.lr == 0.001


def test_labels_show_only_the_options_that_tell_an_architectures_entries_apart(write_suite):
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    path = write_suite(
        """
        name: labels
        budget: {steps: 5}
        tasks: [tabular-real]
        architectures:
          - {name: mlp, width: [8, 16]}
          - {name: mlp, width: 8, training: {lr: 0.1}}
          - {name: transformer, depth: 1, training: {eval_every: 500}}
        """
    )
    labels = sorted({planned.arch_label for planned in expand(load_suite(path), "cpu").trials})
    assert labels == ["mlp width=16", "mlp width=8", "mlp width=8 lr=0.1", "transformer"]


def test_the_quick_suite_labels_its_generators_by_name_alone():
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    labels = {
        planned.arch_label for planned in expand(load_suite(REPO / "suites" / "quick.yaml"), "cpu").trials
    }
    assert {"gan", "diffusion"} <= labels and not any("eval_every" in label for label in labels)
