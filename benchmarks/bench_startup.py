"""Start-up time of the command line: ``nnbench --help`` must not import torch; ``nnbench list`` loads plugins.

Run: ``pytest benchmarks/bench_startup.py -s``; prints the median of five runs of each command.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

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
        print(f"{name:>28}: {seconds:.2f} s (median of 5)")
        benchmark.extra_info[name] = round(seconds, 3)
    print(f"{'torch imported by --help':>28}: {torch_on_help}")
    assert not torch_on_help
