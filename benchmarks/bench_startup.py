"""Start-up time of the command line: ``nnbench --help`` must not import torch; ``nnbench list`` loads plugins.

Run: ``pytest benchmarks/bench_startup.py -s``; prints the median wall time of five runs of each command
(a subprocess each, start-up of the interpreter included). The bars (issue 18): ``nnbench --help`` under
0.5 s, ``nnbench list architectures`` under 1 s. ``nnbench list tasks`` has no bar: it builds every
task's spec, which imports torch.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

BARS = {"nnbench --help": 0.5, "nnbench list architectures": 1.0}
COMMANDS = {
    "nnbench --help": ["--help"],
    "nnbench list architectures": ["list", "architectures"],
    "nnbench list tasks": ["list", "tasks"],
}


def _median_seconds(args: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nnbench", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_startup(benchmark):
    figures = {}
    benchmark.pedantic(
        lambda: figures.update({name: _median_seconds(args) for name, args in COMMANDS.items()}),
        rounds=1,
        iterations=1,
    )
    code = "import sys; from nnbench.cli import cli; cli(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    torch_on_help = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        .stdout.strip()
        .endswith("True")
    )
    print()
    for name, seconds in figures.items():
        bar = f" (bar: under {BARS[name]:g} s)" if name in BARS else ""
        print(f"{name:>28}: {seconds:.2f} s (median of 5){bar}")
        benchmark.extra_info[name] = round(seconds, 3)
    print(f"{'torch imported by --help':>28}: {torch_on_help}")
    print(f"{'machine':>28}: {os.cpu_count()} cores, 1-minute load average {os.getloadavg()[0]:.1f}")
    assert not torch_on_help
    for name, bar in BARS.items():
        assert figures[name] < bar, name
