"""How long the report takes on large stores: 10,000 trials (10 tasks x 20 architectures x 50 seeds) and
100,000 trials (20 tasks x 50 architectures x 100 seeds), the second within 20 s and 40 MB (issue 18).

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

POINTS = 5
# (tasks, architectures, seeds) -> the limits on the worst of three builds and on the page's size.
SIZES = {
    (10, 20, 50): (8.0, 10 * 2**20),
    (20, 50, 100): (20.0, 40 * 2**20),
}


@pytest.fixture(scope="module", params=list(SIZES), ids=lambda s: f"{s[0] * s[1] * s[2]}-trials")
def big_store(request, tmp_path_factory):
    tasks, architectures, seeds = request.param
    path = tmp_path_factory.mktemp("bench") / "big.db"
    started = time.perf_counter()
    synthetic.write_store(path, tasks=tasks, architectures=architectures, seeds=seeds, points=POINTS)
    print(
        f"\nwrote a synthetic store of {tasks * architectures * seeds:,} trials in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return request.param, path


def test_report_of_a_large_store(benchmark, big_store, tmp_path):
    (tasks, architectures, seeds), big_store = big_store
    trials = tasks * architectures * seeds
    max_seconds, max_bytes = SIZES[(tasks, architectures, seeds)]
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
            "trials": trials,
            "seconds": round(worst, 3),
            "bytes": size,
            "megabytes": round(size / 2**20, 2),
        }
    )
    print(
        f"\nbuild_report on {trials:,} trials: "
        f"{', '.join(f'{s:.2f}' for s in seconds)} s (worst {worst:.2f} s); page {size / 2**20:.1f} MiB"
    )
    assert worst < max_seconds, f"report took {worst:.1f} s (limit {max_seconds} s)"
    assert size < max_bytes, f"report is {size / 2**20:.1f} MiB (limit {max_bytes / 2**20:.0f} MiB)"
