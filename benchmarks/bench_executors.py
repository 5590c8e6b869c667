"""Executors on this machine: the speedup of 2 process workers over 1, and each executor's per-trial overhead.

Run: ``pytest benchmarks/bench_executors.py -s`` (prints the figures; pytest-benchmark keeps them in
``extra_info`` with ``--benchmark-json``). The issue's bar: a speedup of at least 1.4x on 2 cores.
"""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from nnbench import plugins
from nnbench.runner import run_suite

MATRIX = """
name: bench-matrix
seeds: [0, 1, 2, 3, 4, 5, 6, 7]
threads: 1
budget: {steps: 400}
training: {batch_size: 64, eval_every: 200}
tasks: [digits]
architectures: [mlp]
"""

TINY = """
name: bench-tiny
seeds: [0, 1, 2, 3, 4, 5]
threads: 1
budget: {steps: 1}
training: {eval_every: 0, warmup_steps: 1}
tasks: [tabular-real]
architectures: [mlp]
"""


def _suite(tmp_path, text: str, name: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _timed_run(path, db, **options) -> tuple[float, list]:
    plugins.reset()
    started = time.perf_counter()
    summary = run_suite(path, db=db, quiet=True, **options)
    elapsed = time.perf_counter() - started
    assert summary.exit_code == 0 and summary.records
    return elapsed, summary.records


def test_two_workers_speedup(benchmark, tmp_path):
    path = _suite(tmp_path, MATRIX, "matrix.yaml")
    figures = {}

    def measure():
        figures["1 worker"], _ = _timed_run(
            path, tmp_path / f"w1-{time.time_ns()}.db", executor="process", workers=1
        )
        figures["2 workers"], _ = _timed_run(
            path, tmp_path / f"w2-{time.time_ns()}.db", executor="process", workers=2
        )

    benchmark.pedantic(measure, rounds=1, iterations=1)
    speedup = figures["1 worker"] / figures["2 workers"]
    benchmark.extra_info.update({k + " s": round(v, 2) for k, v in figures.items()})
    benchmark.extra_info["speedup"] = round(speedup, 2)
    print(
        f"\n8 trials (mlp on digits, 400 steps, 1 thread each) on {os.cpu_count()} cores: "
        f"1 worker {figures['1 worker']:.1f} s, 2 workers {figures['2 workers']:.1f} s, speedup {speedup:.2f}x"
    )
    assert speedup >= 1.4


def test_per_trial_overhead(benchmark, tmp_path):
    path = _suite(tmp_path, TINY, "tiny.yaml")
    per_trial = {}

    def measure():
        for kind in ("inline", "process"):
            elapsed, records = _timed_run(path, tmp_path / f"{kind}-{time.time_ns()}.db", executor=kind)
            per_trial[kind] = elapsed / len(records)
        try:
            import ray
        except ImportError:
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        started = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        per_trial["ray start (once)"] = time.perf_counter() - started
        try:
            elapsed, records = _timed_run(path, tmp_path / f"ray-{time.time_ns()}.db", executor="ray")
            per_trial["ray"] = elapsed / len(records)
        finally:
            ray.shutdown()

    benchmark.pedantic(measure, rounds=1, iterations=1)
    inline = per_trial["inline"]
    print(f"\nper-trial wall time of a 1-step trial ({len(range(6))} trials, 1 thread):")
    for kind, seconds in per_trial.items():
        extra = "" if kind in ("inline", "ray start (once)") else f"  (+{seconds - inline:.2f} s over inline)"
        print(f"  {kind:>16}: {seconds:.2f} s{extra}")
        benchmark.extra_info[f"{kind} s"] = round(seconds, 3)
    assert per_trial["process"] > inline  # a fresh interpreter per trial is never free


@pytest.fixture(autouse=True)
def _fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()
