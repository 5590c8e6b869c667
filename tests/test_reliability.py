"""Nothing lost: planted faults cost only their trial, a killed run resumes exactly, the store takes concurrent writers."""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import nnbench
from nnbench import store
from nnbench.errors import StoreError
from nnbench.runner import run_suite

from .conftest import TEST_PLUGINS, count_ok
from .terminal import default_interrupt


@pytest.mark.slow
def test_every_fault_ends_only_its_trial(write_suite, db):
    path = write_suite(
        f"""
        name: faults
        seeds: [0]
        threads: 1
        budget: {{steps: 20}}
        plugins: [{TEST_PLUGINS / "faults.py"}]
        executor: {{kind: process, timeout: 8s}}
        tasks: [tabular-real]
        architectures: [fault-none, fault-nan, fault-error, fault-abort, fault-hang, fault-oom, fault-exit]
        """
    )
    summary = run_suite(path, db=db, quiet=True)
    status = {r["architecture"]: r for r in summary.records}
    assert status["fault-none"]["status"] == "ok"
    assert status["fault-nan"]["status"] == "diverged"
    assert (
        status["fault-error"]["status"] == "error" and "planted build error" in status["fault-error"]["error"]
    )
    assert status["fault-abort"]["status"] == "crashed" and "SIGABRT" in status["fault-abort"]["error"]
    assert status["fault-hang"]["status"] == "timeout" and "8s" in status["fault-hang"]["error"]
    assert status["fault-oom"]["status"] == "oom"
    assert (
        status["fault-exit"]["status"] == "crashed" and "exited with code 7" in status["fault-exit"]["error"]
    )
    assert summary.exit_code == 1
    assert len(nnbench.load_results(db)) == 7


RESUME_SUITE = """
name: resume
seeds: [0, 1, 2, 3, 4, 5]
threads: 1
budget: {{time: 0.7s}}
training: {{eval_every: 0}}
plugins: [{plugin}]
executor: {{kind: process}}
tasks: [tabular-real]
architectures: [fault-none]
"""


@pytest.mark.slow
def test_a_killed_run_resumes_exactly(write_suite, db):
    path = write_suite(RESUME_SUITE.format(plugin=TEST_PLUGINS / "faults.py"))
    runner = subprocess.Popen([sys.executable, "-m", "nnbench", "run", str(path), "--db", str(db)])
    deadline = time.time() + 120
    while count_ok(db) < 2 and time.time() < deadline:
        time.sleep(0.2)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = nnbench.load_results(db)
    finished = set(before[before.status == "ok"].trial_id)
    assert 2 <= len(finished) < 6
    summary = run_suite(path, db=db, quiet=True)
    rerun = {r["trial_id"] for r in summary.records}
    assert rerun.isdisjoint(finished), "a finished trial was repeated"
    after = nnbench.load_results(db)
    assert len(after) == 6 and after.trial_id.is_unique and (after.status == "ok").all()
    assert summary.already_done == len(finished)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_what_finished(write_suite, db):
    path = write_suite(RESUME_SUITE.format(plugin=TEST_PLUGINS / "faults.py"))
    runner = subprocess.Popen(
        [sys.executable, "-m", "nnbench", "run", str(path), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_interrupt,
    )
    deadline = time.time() + 120
    while count_ok(db) < 1 and time.time() < deadline:
        time.sleep(0.2)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, out + err
    assert "Traceback" not in err and "run the same command to resume" in err
    runs = store.load_runs(db)
    assert runs.finished_at.notna().all()
    done = nnbench.load_results(db)
    assert (done.status == "ok").all() and len(done) >= 1


def _write_many(path: str, worker: int, count: int) -> None:
    with store.Store(path) as s:
        for i in range(count):
            s.write_trial(
                {
                    "trial_id": f"w{worker}-{i}",
                    "run_id": "r",
                    "architecture": "a",
                    "arch_config": {},
                    "task": "t",
                    "task_config": {},
                    "seed": i,
                    "device": "cpu",
                    "status": "ok",
                    "error": None,
                    "finished_at": time.time(),
                },
                [{"step": 1, "train_s": 0.1, "split": "val", "metric": "m", "value": float(i)}],
            )


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.db")
    store.Store(path).close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(path, w, 40)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert len(store.load_results(path)) == 160
    assert len(store.load_curves(path)) == 160


def test_a_damaged_store_is_refused(tmp_path):
    path = tmp_path / "s.db"
    _write_many(str(path), 0, 200)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 2 : page * 2 + 512] = b"\xff" * 512  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        store.Store(path)
