"""Adaptive seeds with real training: the twins of the A/A test and a crippled model, on every executor.

``twin-a`` and ``twin-b`` are one architecture under two names (only their initial weights differ);
``crippled`` ignores its input (tests/plugins/twins.py). Steps budgets and one thread make every trial
deterministic, so runs on different executors, and a run killed midway and resumed, must end with the
same trials and the same scores as one uninterrupted inline run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from nnbench import load_results
from nnbench.runner import run_suite

from .conftest import TEST_PLUGINS, count_ok

SUITE = f"""
name: twins-adaptive
seeds: {{min: 3, max: 5}}
threads: 1
budget: {{steps: 40}}
training: {{eval_every: 20, lr: 0.003}}
plugins: [{TEST_PLUGINS / "twins.py"}]
executor: {{kind: inline}}
tasks: [tabular-real]
architectures: [twin-a, twin-b, crippled]
"""


def scores(db) -> dict[tuple[str, int], float]:
    """(entry, seed) -> test score of every trial in the store."""
    rows = load_results(db)
    return {(r.arch_label, int(r.seed)): round(float(r.test_score), 6) for r in rows.itertuples()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted inline run of the suite: its store and its summary."""
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "suite.yaml"
    path.write_text(SUITE)
    summary = run_suite(path, db=folder / "inline.db", quiet=True)
    return folder / "inline.db", summary


@pytest.mark.slow
def test_the_crippled_one_stops_at_min_and_the_twins_are_never_separated(reference):
    db, summary = reference
    assert summary.exit_code == 0
    seeds: dict[str, list[int]] = {}
    for label, seed in scores(db):
        seeds.setdefault(label, []).append(seed)
    assert sorted(seeds["crippled"]) == [0, 1, 2]  # decided worse at the first look
    assert len(seeds["twin-a"]) == len(seeds["twin-b"]) >= 3
    [(_, last, _, done)] = summary.adaptive_tasks
    assert done and last.comparison("crippled").outcome == "worse"
    twin = "twin-b" if last.leader == "twin-a" else "twin-a"
    assert last.comparison(twin).outcome != "worse"
    # undecided twins run to max; equivalent twins stop when decided
    if last.comparison(twin).outcome == "undecided":
        assert len(seeds[twin]) == 5


@pytest.mark.slow
def test_two_process_workers_end_where_the_inline_run_ends(reference, write_suite, tmp_path):
    db, _ = reference
    path = write_suite(SUITE.replace("executor: {kind: inline}", "executor: {kind: process, workers: 2}"))
    summary = run_suite(path, db=tmp_path / "process.db", quiet=True)
    assert summary.exit_code == 0
    assert scores(tmp_path / "process.db") == scores(db)


@pytest.mark.slow
def test_a_killed_adaptive_run_resumes_and_ends_where_an_uninterrupted_one_ends(
    reference, write_suite, tmp_path
):
    reference_db, _ = reference
    path = write_suite(SUITE)
    db = tmp_path / "killed.db"
    runner = subprocess.Popen([sys.executable, "-m", "nnbench", "run", str(path), "--db", str(db)])
    deadline = time.time() + 180
    while count_ok(db) < 10 and time.time() < deadline:  # past the 9 trials of the first look
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = load_results(db)
    finished = set(before[before.status == "ok"].trial_id)
    total = len(scores(reference_db))
    assert 10 <= len(finished) < total, "the run ended before it could be killed midway"
    summary = run_suite(path, db=db, quiet=True)
    assert {r["trial_id"] for r in summary.records}.isdisjoint(finished), "a finished trial was repeated"
    assert scores(db) == scores(reference_db)
    assert summary.already_done == len(finished)
