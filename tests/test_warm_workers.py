"""Warm workers: a trial's result is what a fresh process gives, whatever ran before it and in whichever
worker; changed plugin code is picked up; a failure costs only its trial process; no worker outlives
its runner."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nnbench import plugins
from nnbench.executors import Job, ProcessExecutor
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.warm_worker import WarmWorker, supported

from .conftest import REPO, TEST_PLUGINS

pytestmark = pytest.mark.skipif(not supported(), reason="warm workers need a Linux fork")

COMPARED = (
    "status",
    "error",
    "val_score",
    "val_final",
    "test_score",
    "final_loss",
    "steps",
    "samples",
    "params",
    "flops_per_step",
    "total_train_flops",
    "torch_threads",
)

# Several families, each its own way to train (generic loop, an own loop, a fit without steps), two
# seeds each, and an architecture that leaves every process-wide setting it can changed behind it.
SUITE = f"""
name: warm-equal
seeds: [0, 1]
threads: 1
budget: {{steps: 30}}
training: {{batch_size: 64, lr: 3e-3, eval_every: 15, warmup_steps: 2}}
plugins: [{TEST_PLUGINS / "leftovers.py"}]
tasks: [digits, tabular-real, toy2d]
architectures: [leaves-state, mlp, cnn, gbdt, gan]
"""


def _jobs(write_suite, text: str, name: str = "suite.yaml") -> list[Job]:
    path = write_suite(text, name)
    suite = load_suite(path)
    plugins.load_plugin_files(suite.model.plugins)
    planned = [p for p in expand(suite, "cpu").trials if not p.not_applicable]
    return [Job(p.spec, p.arch_label) for p in planned]


def _results(executor, jobs: list[Job]) -> tuple[dict, dict]:
    records, curves = {}, {}
    for job, record, curve in executor.run(jobs):
        records[job.spec.trial_id] = record
        curves[job.spec.trial_id] = [(p["step"], p["split"], p["metric"], p["value"]) for p in curve]
    return records, curves


@pytest.mark.slow
def test_warm_workers_give_what_fresh_processes_give_in_any_order(write_suite):
    jobs = _jobs(write_suite, SUITE)
    assert len(jobs) >= 10 and sum(j.spec.architecture == "leaves-state" for j in jobs) == 2
    fresh, fresh_curves = _results(ProcessExecutor(workers=1, timeout_s=300, warm=False), jobs)
    shuffled = list(jobs)
    random.Random(0).shuffle(shuffled)
    runs = {
        "1 warm worker, reversed": _results(ProcessExecutor(workers=1, timeout_s=300), jobs[::-1]),
        "2 warm workers, shuffled": _results(ProcessExecutor(workers=2, timeout_s=300), shuffled),
    }
    assert all(r["status"] == "ok" for r in fresh.values()), {k: r["error"] for k, r in fresh.items()}
    assert {r["trial_process"] for r in fresh.values()} == {"fresh"}
    for name, (records, curves) in runs.items():
        assert {r["trial_process"] for r in records.values()} == {"warm"}, name
        for trial_id, record in fresh.items():
            assert {k: records[trial_id].get(k) for k in COMPARED} == {k: record.get(k) for k in COMPARED}, (
                name,
                record["architecture"],
                record["task"],
            )
            assert curves[trial_id] == fresh_curves[trial_id], (name, record["architecture"])


def test_the_leftover_detector_fires_in_a_shared_process(write_suite):
    # The inline executor runs trials in one process: the second trial of leaves-state finds what the
    # first left, so the equality test above would catch a worker that runs trials without a clean start.
    jobs = [j for j in _jobs(write_suite, SUITE) if j.spec.architecture == "leaves-state"]
    code = textwrap.dedent(
        """
        import json, pickle, sys
        from nnbench import plugins
        from nnbench.executors import InlineExecutor
        jobs = pickle.loads(sys.stdin.buffer.read())
        plugins.load_plugin_files(jobs[0].spec.plugin_files)
        print(json.dumps([[r["status"], r["error"]] for _, r, _ in InlineExecutor().run(jobs)]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(jobs), capture_output=True, timeout=300, cwd=REPO
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    first, second = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert first == ["ok", None]
    assert second[0] == "error" and "state left by an earlier trial: module counter at 1" in second[1]
    assert "default dtype torch.float64" in second[1] and "an environment variable" in second[1]


def _one(arch: str, steps: int = 5, plugin=None) -> str:
    """A suite of ``arch`` on tabular-real, three seeds, ``steps`` steps each."""
    return textwrap.dedent(
        f"""
        name: one
        seeds: [0, 1, 2]
        threads: 1
        budget: {{steps: {steps}}}
        training: {{batch_size: 32, eval_every: 0}}
        plugins: [{plugin or ""}]
        tasks: [tabular-real]
        architectures: [{arch}]
        """
    )


def test_a_failed_trial_costs_its_trial_process_not_the_worker(write_suite):
    faults = TEST_PLUGINS / "faults.py"
    crash, exits, ok = (
        _jobs(write_suite, _one(arch, plugin=faults), f"{arch}.yaml")[0]
        for arch in ("fault-abort", "fault-exit", "fault-none")
    )
    worker = WarmWorker()
    try:
        outcomes = [worker.run(job.spec, job.arch_label, timeout_s=120)[0] for job in (crash, exits, ok)]
        assert [r["status"] for r in outcomes] == ["crashed", "crashed", "ok"]
        assert "SIGABRT" in outcomes[0]["error"] and "exited with code 7" in outcomes[1]["error"]
        assert worker.starts == 1  # the worker ran none of it: it stayed warm
        assert (
            len({r["pid"] for r in outcomes[2:]} | {worker.pid}) == 2
        )  # the trial ran in a process of its own
    finally:
        worker.close()
    assert worker.pid is None


def test_a_timeout_replaces_the_worker(write_suite):
    faults = TEST_PLUGINS / "faults.py"
    hang, ok = (
        _jobs(write_suite, _one(arch, plugin=faults), f"{arch}.yaml")[0]
        for arch in ("fault-hang", "fault-none")
    )
    worker = WarmWorker()
    try:
        assert worker.run(ok.spec, ok.arch_label, timeout_s=120)[0]["status"] == "ok"
        first = worker.pid
        record = worker.run(hang.spec, hang.arch_label, timeout_s=3)[0]
        assert record["status"] == "timeout" and "3s" in record["error"]
        assert worker.pid is None and not _running(first)  # killed and reaped
        assert worker.run(ok.spec, ok.arch_label, timeout_s=120)[0]["status"] == "ok"
        assert worker.starts == 2
    finally:
        worker.close()


PLUGIN = '''
from torch import nn

import nnbench
from nnbench import hookimpl

WIDTH = {width}


class Probe(nnbench.Architecture):
    """A network whose hidden width is the module's WIDTH: its parameter count shows which code ran."""

    name = "{name}"
    modalities = {{"tabular"}}
    kinds = {{"classification"}}

    def build(self, task, config):
        return nn.Sequential(nn.Linear(task.input_shape[0], WIDTH), nn.Linear(WIDTH, task.output_shape[0]))


@hookimpl
def register_architectures(register):
    register(Probe())
'''


def test_a_changed_plugin_file_is_used_by_the_next_trial(write_suite, tmp_path):
    plugin = tmp_path / "probe.py"
    plugin.write_text(PLUGIN.format(width=4, name="file-probe"))
    first, second = _jobs(write_suite, _one("file-probe", steps=2, plugin=plugin))[:2]
    worker = WarmWorker()
    try:
        narrow = worker.run(first.spec, first.arch_label, timeout_s=120)[0]
        plugin.write_text(PLUGIN.format(width=40, name="file-probe"))
        wide = worker.run(second.spec, second.arch_label, timeout_s=120)[0]
        assert narrow["status"] == wide["status"] == "ok"
        assert wide["params"] > 5 * narrow["params"]
        assert worker.starts == 1  # plugin files load in each trial process: nothing to restart
    finally:
        worker.close()


def test_a_changed_plugin_module_restarts_the_worker(write_suite, tmp_path, monkeypatch):
    # An installed plugin package (an entry point), imported by the worker when it warms up.
    site = tmp_path / "site"
    info = site / "nnbench_probe-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nnbench-probe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nnbench]\nprobe = nnbench_probe\n")
    module = site / "nnbench_probe.py"
    module.write_text(PLUGIN.format(width=4, name="module-probe"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    first, second = _jobs(write_suite, _one("module-probe", steps=2))[:2]
    worker = WarmWorker()
    try:
        narrow = worker.run(first.spec, first.arch_label, timeout_s=120)[0]
        module.write_text(PLUGIN.format(width=40, name="module-probe"))
        wide = worker.run(second.spec, second.arch_label, timeout_s=120)[0]
        assert narrow["status"] == wide["status"] == "ok", (narrow["error"], wide["error"])
        assert wide["params"] > 5 * narrow["params"]
        assert worker.starts == 2  # the worker saw its module change and was replaced
    finally:
        worker.close()


def _running(pid: int | None) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


RUNNER = """
import sys, threading, time
from nnbench import plugins
from nnbench.executors import Job
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.warm_worker import WarmWorker

suite = load_suite(sys.argv[1])
job = expand(suite, "cpu").trials[0]
worker = WarmWorker()
threading.Thread(target=worker.run, args=(job.spec, job.arch_label, 600), daemon=True).start()
while worker.trial_pid is None:
    time.sleep(0.05)
print(worker.pid, worker.trial_pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_worker_and_its_trial_process_end_with_their_runner(write_suite):
    path = write_suite(_one("mlp", steps=10_000_000))
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        worker_pid, trial_pid = map(int, runner.stdout.readline().split())
        assert _running(worker_pid) and _running(trial_pid)
        runner.send_signal(signal.SIGKILL)  # the runner dies without a word
        runner.wait()
        deadline = time.monotonic() + 10
        while (_running(worker_pid) or _running(trial_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker_pid) and not _running(trial_pid)
    finally:
        runner.kill()
        runner.wait()
