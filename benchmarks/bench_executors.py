"""Executors on this machine: the speedup of 2 process workers over 1, and each executor's per-trial overhead.

Run: ``pytest benchmarks/bench_executors.py -s`` (prints the figures; pytest-benchmark keeps them in
``extra_info`` with ``--benchmark-json``). The bars: a speedup of at least 1.4x on 2 cores; warm
workers at most 0.3 s a trial over running inline.

The per-trial overhead is measured so that a loaded machine (other people's tests on the same cores)
distorts it as little as possible: each executor runs the same 1-step trials in a short and a long
run, rounds interleave the executors (a burst of load hits them all), each run's best round is kept,
and the cost of one more trial is the difference of the long and short runs over the trials they
differ by. So what every run pays once (a worker's or Ray's start, the store, the plan) drops out, and
what is left is what each further trial costs; its overhead is that cost minus inline's.
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


SHORT, LONG, ROUNDS = 2, 8, 3
EXECUTORS = {  # label -> run_suite options
    "inline": {"executor": "inline"},
    "process, warm": {"executor": "process"},
    "process, fresh": {"executor": "process", "fresh": True},
    "ray": {"executor": "ray"},
}


def _tiny(tmp_path, seeds: int, warm: bool = True):
    text = TINY.replace("seeds: [0, 1, 2, 3, 4, 5]", f"seeds: {list(range(seeds))}")
    return _suite(tmp_path, text + f"executor: {{warm: {str(warm).lower()}}}\n", f"tiny-{seeds}-{warm}.yaml")


def _load() -> float:
    return os.getloadavg()[0]


def test_per_trial_overhead(benchmark, tmp_path):
    kinds = dict(EXECUTORS)
    try:
        import ray
    except ImportError:
        kinds.pop("ray")
    best: dict[tuple[str, int], float] = {}
    loads = [_load()]

    def measure():
        ray_started = None
        if "ray" in kinds:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            started = time.perf_counter()
            ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
            ray_started = time.perf_counter() - started
        try:
            for _ in range(ROUNDS):
                for label, options in kinds.items():
                    options = dict(options)
                    warm = not options.pop("fresh", False)
                    for seeds in (SHORT, LONG):
                        db = tmp_path / f"{label}-{seeds}-{time.time_ns()}.db"
                        elapsed, records = _timed_run(_tiny(tmp_path, seeds, warm), db, **options)
                        assert len(records) == seeds
                        best[label, seeds] = min(best.get((label, seeds), float("inf")), elapsed)
                loads.append(_load())
        finally:
            if ray_started is not None:
                ray.shutdown()
        per_trial["ray start (once)"] = ray_started

    per_trial: dict[str, float | None] = {}
    benchmark.pedantic(measure, rounds=1, iterations=1)
    marginal = {label: (best[label, LONG] - best[label, SHORT]) / (LONG - SHORT) for label in kinds}
    inline = marginal["inline"]
    print(
        f"\nper-trial cost of a 1-step trial (mlp on tabular-real, 1 thread): runs of {SHORT} and {LONG} "
        f"trials, best of {ROUNDS} interleaved rounds, (long - short) / {LONG - SHORT}"
    )
    for label, seconds in marginal.items():
        fixed = best[label, SHORT] - SHORT * seconds
        extra = "" if label == "inline" else f"  overhead +{seconds - inline:.3f} s a trial over inline"
        print(f"  {label:>15}: {seconds:.3f} s a trial (once a run: {fixed:.1f} s){extra}")
        benchmark.extra_info[f"{label} s per trial"] = round(seconds, 4)
        benchmark.extra_info[f"{label} overhead s"] = round(seconds - inline, 4)
    if per_trial.get("ray start (once)") is not None:
        print(f"  ray start (once, ray.init): {per_trial['ray start (once)']:.1f} s")
    print(
        f"  machine: {os.cpu_count()} cores, 1-minute load average {min(loads):.1f} to {max(loads):.1f} "
        f"over the rounds (this benchmark's own trials included)"
    )
    assert marginal["process, warm"] - inline <= 0.3  # the bar: warm workers
    assert (
        marginal["process, fresh"] > marginal["process, warm"]
    )  # a fresh interpreter per trial is never free


@pytest.fixture(autouse=True)
def _fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()
