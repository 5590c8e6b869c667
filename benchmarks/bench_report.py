"""How long the report takes on a large store: 10,000 trials (10 tasks x 20 architectures x 50 seeds).

Run with ``pytest benchmarks/bench_report.py -s`` (benchmarks/ is not in the default test paths).
The store is synthetic but realistic: every measured column, failures, n/a pairs, a non-neural
reference, and five evaluation points per trial (validation metric and loss, plus the test point).
The time covers everything ``nnbench report`` does after the command line: loading the store,
statistics, figures, rendering and writing the page.
"""

from __future__ import annotations

import time

import pytest

from nnbench.report import synthetic
from nnbench.report.from_store import build_report

TASKS, ARCHITECTURES, SEEDS, POINTS = 10, 20, 50, 5
MAX_SECONDS = 15.0
MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "big.db"
    started = time.perf_counter()
    synthetic.write_store(path, tasks=TASKS, architectures=ARCHITECTURES, seeds=SEEDS, points=POINTS)
    print(
        f"\nwrote a synthetic store of {TASKS * ARCHITECTURES * SEEDS:,} trials in {time.perf_counter() - started:.1f} s"
    )
    return path


def test_report_of_10000_trials(benchmark, big_store, tmp_path):
    output = tmp_path / "report.html"
    build_report(big_store, output=tmp_path / "warm-up.html")  # imports, registry and plotly.js load once
    seconds: list[float] = []

    def build():
        started = time.perf_counter()
        build_report(big_store, output=output)
        seconds.append(time.perf_counter() - started)

    benchmark.pedantic(build, rounds=3, iterations=1)
    size = output.stat().st_size
    worst = max(seconds)
    benchmark.extra_info.update(
        {
            "trials": TASKS * ARCHITECTURES * SEEDS,
            "seconds": round(worst, 3),
            "bytes": size,
            "megabytes": round(size / 2**20, 2),
        }
    )
    print(
        f"\nbuild_report on {TASKS * ARCHITECTURES * SEEDS:,} trials: "
        f"{', '.join(f'{s:.2f}' for s in seconds)} s (worst {worst:.2f} s); page {size / 2**20:.1f} MiB"
    )
    assert worst < MAX_SECONDS, f"report took {worst:.1f} s (limit {MAX_SECONDS} s)"
    assert size < MAX_BYTES, f"report is {size / 2**20:.1f} MiB (limit {MAX_BYTES / 2**20:.0f} MiB)"
