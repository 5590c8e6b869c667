"""Scores across tasks (nnbench.across_tasks) against known answers: anchors, IQM, stratified
bootstrap, probability of improvement, performance profiles and first places."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import trim_mean

from nnbench import across_tasks, verdict


def test_normalize_with_fixed_anchors_in_both_directions():
    assert across_tasks.normalize([0.1, 0.95, 0.525], (0.1, 0.95)).tolist() == pytest.approx([0, 1, 0.5])
    # lower is better: zero is the larger value
    assert across_tasks.normalize(0.0565, (0.0565, 0.00175)) == pytest.approx(0.0)
    assert across_tasks.normalize(0.00175, (0.0565, 0.00175)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        across_tasks.normalize([1.0], (0.5, 0.5))


def test_iqm_is_the_trimmed_mean_with_equal_weights_and_weighs_tasks_equally():
    x = np.random.default_rng(0).normal(size=20)
    assert across_tasks.weighted_iqm(x, np.ones(20)) == pytest.approx(trim_mean(x, 0.25))
    # two tasks, one with 2 runs and one with 6: each task holds half the weight
    runs = {"a": [0.0, 0.0], "b": [1.0] * 6}
    assert across_tasks.aggregate(runs, "mean").value == pytest.approx(0.5)
    assert across_tasks.aggregate(runs, "iqm").value == pytest.approx(0.5)


def test_stratified_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    runs = {f"t{i}": rng.normal(0.5, 0.1, size=5) for i in range(8)}
    estimate = across_tasks.aggregate(runs, "iqm")
    assert estimate.low < estimate.value < estimate.high and (estimate.tasks, estimate.runs) == (8, 40)
    assert across_tasks.aggregate(runs, "iqm") == estimate  # seeded: a report is reproducible
    # tasks are strata: one run per task has no spread to resample
    single = across_tasks.aggregate({"a": [0.2], "b": [0.8]}, "mean")
    assert (single.value, single.low, single.high) == pytest.approx((0.5, 0.5, 0.5))
    empty = across_tasks.aggregate({}, "mean")
    assert math.isnan(empty.value) and empty.tasks == 0


def test_stratified_bootstrap_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for i in range(200):
        runs = {f"t{k}": rng.normal(0.1 * k, 1.0, size=10) for k in range(5)}
        estimate = across_tasks.aggregate(runs, "mean", resamples=500, seed=i)
        covered += estimate.low <= 0.2 <= estimate.high  # the mean of 0.1 k over 5 tasks
    assert 0.88 <= covered / 200 <= 0.99


def test_probability_of_improvement_on_common_tasks_only():
    x = {"t1": [3.0, 4.0], "t2": [1.0, 1.0], "only_x": [9.0]}
    y = {"t1": [1.0, 2.0], "t2": [1.0, 2.0], "only_y": [0.0]}
    p = across_tasks.probability_of_improvement(x, y)
    # t1: x always ahead (1); t2: (1 vs 1) tie 0.5, (1 vs 2) 0 -> 0.25 per run -> 0.25; mean 0.625
    assert p.value == pytest.approx(0.625) and p.tasks == 2
    assert p.low <= p.value <= p.high
    assert across_tasks.common_tasks(x, y) == ["t1", "t2"]
    assert math.isnan(across_tasks.probability_of_improvement({"a": [1]}, {"b": [1]}).value)


def test_performance_profile_is_the_share_of_runs_above_tau_with_bands():
    runs = {"t1": [0.1, 0.5, 0.9], "t2": [0.3, 0.4], "t3": [1.2, 1.1, 0.9, 1.0]}
    profile = across_tasks.performance_profile(runs, [0.0, 0.5, 1.0])
    assert profile.share.tolist() == pytest.approx([1.0, (1 / 3 + 0 + 1) / 3, (0 + 0 + 2 / 4) / 3])
    assert (profile.low <= profile.share + 1e-12).all() and (profile.share <= profile.high + 1e-12).all()
    taus = across_tasks.default_taus(runs)
    assert taus[0] == 0.0 and taus[-1] == pytest.approx(1.2)


def test_first_places_count_only_contested_tasks():
    verdicts = {
        # diffusion beats the GAN on every seed: a sole first place
        "toy2d": verdict.task_verdict(
            {"diffusion": [0.1, 0.11, 0.12], "gan": [0.5, 0.6, 0.55]}, higher_is_better=False
        ),
        # cnn and mlp cannot be told apart: both hold a (shared) first place
        "mnist1d": verdict.task_verdict({"cnn": [0.9, 0.92, 0.91], "mlp": [0.91, 0.90, 0.915]}),
        # alone on a task: not a contest
        "digits-gen": verdict.task_verdict({"diffusion": [1.0, 1.1]}),
    }
    places = across_tasks.first_places(verdicts)
    assert places["diffusion"] == across_tasks.Places(competed=1, first=1, sole=1)
    assert places["gan"] == across_tasks.Places(competed=1, first=0, sole=0)
    assert places["cnn"] == places["mlp"] == across_tasks.Places(competed=1, first=1, sole=0)


def test_the_bootstraps_of_counts_equal_resampling_the_runs_themselves():
    # The intervals are computed from how often each run is drawn (no copies of the runs); drawing the
    # same indices and copying the runs must give the same statistics.
    rng = np.random.default_rng(3)
    x = {f"t{i}": rng.normal(size=rng.integers(2, 9)).round(1) for i in range(4)}
    y = {f"t{i}": rng.normal(size=rng.integers(2, 9)).round(1) for i in range(4)}
    resamples = 300

    def draws(runs, task, side=0):
        # each task's own stream (across_tasks.task_draws): what the counts are made from
        position = sorted(runs).index(task)
        return across_tasks.task_draws(
            len(runs[task]), resamples, across_tasks.BOOTSTRAP_SEED, position, side
        )

    brute = np.zeros(resamples)
    for task in sorted(x):
        xs = x[task][draws(x, task, 0)]
        ys = y[task][draws(y, task, 1)]
        brute += ((xs[:, :, None] > ys[:, None, :]) + 0.5 * (xs[:, :, None] == ys[:, None, :])).mean(
            axis=(1, 2)
        )
    brute /= len(x)
    estimate = across_tasks.probability_of_improvement(x, y, resamples=resamples)
    assert np.allclose([estimate.low, estimate.high], np.percentile(brute, [2.5, 97.5]))

    values, weights = across_tasks._pooled(x)
    pooled = np.concatenate([x[task][draws(x, task)] for task in sorted(x)], axis=1)
    for name, function in across_tasks.STATISTICS.items():
        estimate = across_tasks.aggregate(x, name, resamples=resamples)
        assert np.allclose(
            [estimate.low, estimate.high], np.percentile(function(pooled, weights), [2.5, 97.5])
        )
    taus = np.linspace(-2, 2, 9)
    profile = across_tasks.performance_profile(x, taus, resamples=resamples)
    shares = ((pooled[:, None, :] > taus[None, :, None]) * weights).sum(axis=2)
    assert np.allclose(profile.low, np.percentile(shares, 2.5, axis=0))
    assert np.allclose(profile.high, np.percentile(shares, 97.5, axis=0))
