"""A small run of benchmarks/bench_verdicts.py: the verdicts hold their error rates.

A/A comparisons are separated at most alpha of the time (fixed and adaptive seeds, normal and skewed
noise), intervals cover the true difference at least 93% of the time from 3 seeds up, and real
differences are found. Fixed random seeds: the same figures on every run; the bounds allow three
Monte Carlo standard errors, and the same adaptive rule without its looks correction breaks them.
"""

from __future__ import annotations

import importlib.util
import sys

from .conftest import REPO


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_verdicts", REPO / "benchmarks" / "bench_verdicts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_simulated_verdicts_hold_their_error_rates():
    bench = load_benchmark()
    reps = 300
    results, boards = bench.simulate(reps, seeds=(3, 5), noises=("normal", "skewed"), boards=((4, 3),))
    assert bench.check(results, reps, boards) == []
    # the check has teeth: optional stopping without the looks correction separates copies far too often
    assert (
        results["uncorrected", "normal", "adaptive", 0.0].rate("worse")
        > 0.05 + 3 * (0.05 * 0.95 / reps) ** 0.5
    )
    # and the procedure decides real differences: two noise deviations apart, five seeds
    assert results["fixed", "normal", 5, 2.0].rate("worse") > 0.5
    assert results["adaptive", "normal", "adaptive", 2.0].rate("seeds") < 9  # stops early when decided
    # the quick suite's design, 3..6 seeds, is in the proof too, and decides real differences
    assert ("quick", "skewed", "adaptive", 0.0) in results
    assert results["quick", "normal", "adaptive", 2.0].rate("worse") > 0.5
    report = bench.report(results, reps, boards)
    assert "A/A worse" in report and "every pair (nnbench)" in report
