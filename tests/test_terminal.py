"""The README's main job as a person runs it: in a real terminal (a pty), with the live display on.

A run off a terminal prints plain lines; only a pty draws the live display from several threads,
and that path once crashed most trials. These tests drive the real CLI under a pty.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest

from .terminal import run_in_pty, worker_pids

# Short trials (2 s of a 5000-step budget) on 2 workers, 3 seeds each: progress lines arrive while
# bars are added and removed from two threads, as in the quick suite.
PLAIN = """\
name: terminal
seeds: [0, 1, 2]
budget: {steps: 5000, time: 2s}
training: {batch_size: 32, eval_every: 100}
threads: 1
executor: {kind: process, workers: 2, timeout: 2m}
tasks: [tabular-real]
architectures: [{name: mlp, width: [32, 64]}]
"""

TUNED = """\
name: terminal-tuned
seeds: [0, 1]
budget: {steps: 5000, time: 1.5s}
training: {batch_size: 32, eval_every: 100}
threads: 1
executor: {kind: process, workers: 2, timeout: 2m}
tune: {trials: 2, sampler: random}
tasks: [tabular-real]
architectures: [mlp]
"""


def _statuses(db) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT status, record FROM trials").fetchall()
    return [
        (status, json.loads(record).get("error") or "", json.loads(record).get("stage"))
        for status, record in rows
    ]


def _no_worker_left(marker: str) -> bool:
    deadline = time.monotonic() + 5
    while worker_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not worker_pids(marker)


@pytest.mark.slow
def test_a_plain_run_in_a_terminal_ends_every_trial_ok(tmp_path):
    (tmp_path / "suite.yaml").write_text(PLAIN)
    result = run_in_pty("run", "suite.yaml", "--db", "t.db", cwd=tmp_path)
    statuses = _statuses(tmp_path / "t.db")
    assert result.returncode == 0, result.text[-3000:]
    assert len(statuses) == 6 and all(status == "ok" for status, _, _ in statuses), statuses
    assert "\x1b[" in result.raw, "the live display should draw on a terminal"
    assert "warning: the progress display failed" not in result.text
    # What the terminal says: the plan and an estimate first, where the results are and what to
    # type next at the end.
    assert "6 trials to run, 0 already in the store, 0 n/a; about " in result.text
    assert "on 2 workers" in result.text
    assert f"results: {(tmp_path / 't.db').resolve()}" in result.text
    assert f"next: nnbench report --db {(tmp_path / 't.db').resolve()} -o report.html" in result.text
    # Never more trial processes than workers (nor warm workers), and none left behind.
    assert 1 <= result.max_trials_seen <= 2 and result.max_workers_seen <= 2
    assert _no_worker_left(result.marker)


@pytest.mark.slow
def test_a_tuned_run_in_a_terminal_ends_every_trial_ok(tmp_path):
    (tmp_path / "suite.yaml").write_text(TUNED)
    result = run_in_pty("run", "suite.yaml", "--db", "t.db", cwd=tmp_path)
    statuses = _statuses(tmp_path / "t.db")
    assert result.returncode == 0, result.text[-3000:]
    stages = sorted(stage for _, _, stage in statuses)
    assert stages == ["final", "final", "tune", "tune"], statuses
    assert all(status == "ok" for status, _, _ in statuses), statuses
    assert 1 <= result.max_trials_seen <= 2 and result.max_workers_seen <= 2
    assert _no_worker_left(result.marker)


def _one_job(write_suite, steps: int = 3000):
    from nnbench.executors import Job
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    path = write_suite(
        f"""
        name: one
        seeds: [0]
        budget: {{steps: {steps}, time: 3s}}
        training: {{batch_size: 32, eval_every: 0}}
        threads: 1
        tasks: [tabular-real]
        architectures: [mlp]
        """
    )
    planned = expand(load_suite(path), "cpu").trials[0]
    return Job(planned.spec, planned.arch_label)


@pytest.mark.slow
def test_a_display_that_raises_never_changes_a_trial(write_suite):
    from nnbench.executors import ProcessExecutor

    calls = []

    def broken_display(trial_id, step, train_s):
        calls.append(step)
        raise IndexError("list index out of range")

    results = list(ProcessExecutor(workers=1, timeout_s=60).run([_one_job(write_suite)], broken_display))
    assert calls, "the trial should have reported progress at least once"
    assert [record["status"] for _, record, _ in results] == ["ok"]


def _gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether process ``pid`` has ended and been reaped (no /proc entry, not even a zombie's)."""
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.exists(f"/proc/{pid}")


@pytest.mark.slow
def test_a_driver_side_failure_kills_and_reaps_the_trial_process(write_suite, monkeypatch):
    import subprocess

    from nnbench import executors, subprocess_trial

    started = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        return proc

    def failing_relay(stdout, trial_id, on_progress):
        stdout.readline()  # the trial is running
        raise RuntimeError("the driver failed while the trial ran")

    monkeypatch.setattr(subprocess_trial.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(subprocess_trial, "relay_progress", failing_relay)
    executor = executors.ProcessExecutor(workers=1, timeout_s=60, warm=False)
    results = list(executor.run([_one_job(write_suite, steps=100_000)], lambda *a: None))
    record = results[0][1]
    assert record["status"] == "crashed" and "the driver failed" in record["error"]
    assert len(started) == 1 and started[0].returncode is not None  # killed and reaped


@pytest.mark.slow
def test_a_driver_side_failure_ends_the_warm_worker_and_its_trial_process(write_suite, monkeypatch):
    import subprocess

    from nnbench import executors, warm_worker
    from nnbench.worker import CONTROL_PREFIX

    started, trial_pids = [], []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        return proc

    def failing_follow(stdout, trial_id, on_progress, worker):
        for line in stdout:
            if line.startswith(f"{CONTROL_PREFIX}started "):
                trial_pids.append(int(line.split()[-1]))
                break
        stdout.readline()  # the trial is running
        raise RuntimeError("the driver failed while the trial ran")

    monkeypatch.setattr(warm_worker.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(warm_worker, "follow_worker", failing_follow)
    executor = executors.ProcessExecutor(workers=1, timeout_s=60, warm=True)
    results = list(executor.run([_one_job(write_suite, steps=100_000)], lambda *a: None))
    record = results[0][1]
    assert record["status"] == "crashed" and "the driver failed" in record["error"]
    assert len(started) == 1 and started[0].returncode is not None  # the worker: ended and reaped
    assert len(trial_pids) == 1 and _gone(trial_pids[0])  # its trial process too


@pytest.mark.slow
def test_ctrl_c_before_any_trial_finished_says_so(tmp_path):
    # 60 s of time and no step cap that ends sooner: 5000 steps take about 3 s on an idle core, which
    # would finish trials before the interrupt at 6 s.
    suite = PLAIN.replace("time: 2s", "time: 60s").replace("steps: 5000", "steps: 10000000")
    (tmp_path / "suite.yaml").write_text(suite)
    result = run_in_pty("run", "suite.yaml", "--db", "t.db", cwd=tmp_path, interrupt_after=6)
    assert result.returncode == 130, result.text[-2000:]
    assert "interrupted before any trial finished" in result.text
    assert "nothing to train" not in result.text
    assert _no_worker_left(result.marker)


def test_listings_piped_to_grep_are_whole_lines():
    import subprocess
    import sys

    def piped(command: str, pattern: str) -> str:
        shell = f"{sys.executable} -m nnbench {command} | grep -F -e '{pattern}'"
        return subprocess.run(shell, shell=True, capture_output=True, text=True, check=True).stdout

    line = piped("list architectures", "transformer").strip().split("\n")
    assert "transformer\timage, sequence, tabular\tclassification, regression\txs, s, m, l\t" in line[0]
    tasks = piped("list tasks", "mnist1d-shuffled").strip().split("\t")
    assert tasks[:5] == ["mnist1d-shuffled", "quick", "sequence", "classification", "accuracy"]
    plugins = piped("plugins", "nnbench_plugins.transformer").strip().split("\t")
    assert plugins == ["transformer (nnbench_plugins.transformer)", "register_architectures", "ok"]
    check = piped("check mlp --task digits", "output-shape").strip().split("\t")
    assert check == ["digits", "output-shape", "ok", "forward on (32, 1, 8, 8) -> (32, 10)"]
