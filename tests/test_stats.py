"""The report's statistics against known answers: intervals, medians, time to target, ranks with ties,
performance profiles, Pareto fronts, curve bands and the two-run comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nnbench import stats

INF = math.inf


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    values = [0.1, 0.2, 0.4, 0.3]
    low, high = stats.bootstrap_interval(values)
    assert (low, high) == stats.bootstrap_interval(values)
    assert 0.1 <= low < 0.25 < high <= 0.4
    wider = [0.1, 0.2, 0.4, 0.3, 0.25, 0.15, 0.35]
    assert stats.bootstrap_interval(wider, seed=1) != stats.bootstrap_interval(wider, seed=2)
    assert all(math.isnan(v) for v in stats.bootstrap_interval([0.5]))
    assert all(math.isnan(v) for v in stats.bootstrap_interval([math.nan, 0.5, None]))


def test_bootstrap_interval_of_constant_values_is_that_value():
    assert stats.bootstrap_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = sum(
        low <= 0 <= high
        for low, high in (stats.bootstrap_interval(rng.normal(size=30), resamples=500) for _ in range(200))
    )
    assert 0.88 <= covered / 200 <= 0.99


def test_mean_interval_known_answer():
    result = stats.mean_interval([1.0, 2.0, 3.0, None, math.nan])
    assert (result.mean, result.n) == (2.0, 3)
    assert result.std == pytest.approx(1.0)
    assert 1.0 <= result.low < 2.0 < result.high <= 3.0
    one = stats.mean_interval([5.0])
    assert (one.mean, one.n) == (5.0, 1) and math.isnan(one.std) and math.isnan(one.low)
    assert math.isnan(stats.mean_interval([]).mean)


def test_median_iqr_known_answer():
    spread = stats.median_iqr([1, 2, 3, 4, 5, math.nan])
    assert (spread.median, spread.q1, spread.q3, spread.iqr, spread.n) == (3.0, 2.0, 4.0, 2.0, 5)
    assert math.isnan(stats.median_iqr([None]).median)


def test_time_to_target_counts_misses_as_infinite():
    # two of four reached: the median is the mean of 20 and inf
    result = stats.time_to_target([10.0, 20.0, 5.0, math.nan], [True, True, False, False])
    assert result.median == INF and result.success_rate == 0.5 and (result.reached, result.n) == (2, 4)
    three = stats.time_to_target([10.0, 20.0, math.nan], [True, True, False])
    assert (three.median, three.success_rate) == (20.0, pytest.approx(2 / 3))
    # without flags a finite time means reached
    assert stats.time_to_target([3.0, 1.0, 2.0]).median == 2.0
    none = stats.time_to_target([], [])
    assert math.isnan(none.median) and math.isnan(none.success_rate)


def test_ranks_tie_when_intervals_overlap():
    # a and b overlap, c is clearly below both, d clearly below c
    means = [0.95, 0.93, 0.80, 0.50]
    lows = [0.92, 0.90, 0.78, 0.45]
    highs = [0.97, 0.94, 0.82, 0.55]
    ranks, tied = stats.rank_with_ties(means, lows, highs)
    assert ranks.tolist() == [1, 1, 3, 4]
    assert tied.tolist() == [True, True, False, False]


def test_ranks_lower_is_better_and_points_without_intervals():
    ranks, tied = stats.rank_with_ties(
        [0.1, 0.3, math.nan, 0.2],
        [0.05, math.nan, math.nan, 0.0],
        [0.15, math.nan, math.nan, 0.4],
        higher_is_better=False,
    )
    # 0.3 has no interval: the point [0.3, 0.3] lies above 0.1's interval but inside 0.2's
    assert ranks[[0, 1, 3]].tolist() == [1, 2, 1] and math.isnan(ranks[2])
    assert tied.tolist() == [True, False, False, True]


def test_ranks_are_not_transitive_ties():
    # a overlaps b, b overlaps c, but a is clearly above c: c is ranked below a only
    ranks, _ = stats.rank_with_ties([10, 9, 8], [9.5, 8.5, 7.0], [10.5, 9.6, 9.0])
    assert ranks.tolist() == [1, 1, 2]


def test_pareto_front():
    cost = [1.0, 2.0, 3.0, 2.5, math.nan, 0.5]
    quality = [0.5, 0.9, 0.95, 0.8, 1.0, 0.4]
    assert stats.pareto_front(cost, quality).tolist() == [True, True, True, False, False, True]
    # lower is better: the cheapest with the lowest error only
    assert stats.pareto_front([1, 2, 3], [0.2, 0.1, 0.3], higher_is_better=False).tolist() == [
        True,
        True,
        False,
    ]
    assert stats.pareto_front([1, 1], [0.5, 0.5]).tolist() == [True, False]


def test_normalized_scores():
    means = pd.DataFrame(
        {"acc": [0.9, 0.8, 0.7], "mse": [0.1, 0.3, math.nan], "flat": [1, 1, 1]}, index=["a", "b", "c"]
    )
    norm = stats.normalized_scores(means, {"acc": True, "mse": False, "flat": True})
    assert norm["acc"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert norm.loc["a", "mse"] == 1.0 and norm.loc["b", "mse"] == 0.0 and math.isnan(norm.loc["c", "mse"])
    assert norm["flat"].tolist() == [1.0, 1.0, 1.0]


def test_performance_profile_on_a_hand_made_example():
    # three tasks; "none" is reached by nobody and is left out; c did not run t2 (NaN: a miss)
    times = pd.DataFrame(
        {
            "t1": [10.0, 20.0, 40.0],
            "t2": [30.0, 10.0, math.nan],
            "t3": [5.0, INF, 6.0],
            "none": [INF, INF, INF],
        },
        index=["a", "b", "c"],
    )
    ratios = stats.profile_ratios(times)
    assert list(ratios.columns) == ["t1", "t2", "t3"]
    assert ratios.loc["a"].tolist() == [1.0, 3.0, 1.0]
    assert ratios.loc["b"].tolist() == [2.0, 1.0, INF]
    assert ratios.loc["c"].tolist() == [4.0, INF, 1.2]
    profile = stats.performance_profile(times, taus=[1.0, 1.2, 2.0, 3.0, 4.0])
    assert profile.loc["a"].tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    assert profile.loc["b"].tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert profile.loc["c"].tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3, 2 / 3])
    assert stats.PROFILE_TAUS[0] == 1.0 and stats.PROFILE_TAUS[-1] == 4.0


def test_performance_profile_without_any_reached_task_is_empty():
    profile = stats.performance_profile(pd.DataFrame({"t": [INF, math.nan]}, index=["a", "b"]), taus=[1, 2])
    assert profile.isna().all().all()


def test_leaderboard_ranks_marks_references_and_counts_failures():
    rows = []
    for arch, scores in {
        "mlp": [0.90, 0.91, 0.92],
        "gbt": [0.95, 0.96, 0.97],
        "cnn": [0.90, None, 0.91],
    }.items():
        for seed, score in enumerate(scores):
            rows.append(
                {
                    "arch_label": arch,
                    "architecture": arch,
                    "arch_config": "{}",
                    "status": "ok" if score is not None else "error",
                    "test_score": score,
                    "train_s": 1.0 + seed,
                    "reference": arch == "gbt",
                    "target": 0.9,
                    "reached_target": score is not None and score >= 0.91,
                    "time_to_target_s": 0.5 if score is not None and score >= 0.91 else None,
                    "cost_usd": None,
                }
            )
    rows.append({"arch_label": "rnn", "architecture": "rnn", "status": "skipped", "test_score": None})
    board = stats.leaderboard(pd.DataFrame(rows), higher_is_better=True)
    assert board["arch_label"].tolist() == ["gbt", "mlp", "cnn"]
    assert board["rank"].tolist() == [1, 2, 2] and board["tied"].tolist() == [False, True, True]
    assert board["reference"].tolist() == [True, False, False]
    cnn = board.iloc[2]
    assert (cnn["n"], cnn["n_trials"], cnn["n_failed"]) == (2, 3, 1)
    assert cnn["ttt_median"] == INF and cnn["success_rate"] == pytest.approx(1 / 3)
    assert board.iloc[0]["train_s"] == 2.0 and math.isnan(board.iloc[0]["cost_usd"])


def test_curve_band_means_and_ranges_over_seeds():
    points = pd.DataFrame(
        {
            "arch_label": ["a"] * 4 + ["b"],
            "step": [10, 20, 10, 20, 10],
            "train_s": [1.0, 2.0, 1.2, 2.4, 0.5],
            "value": [0.5, 0.7, 0.6, 0.9, math.nan],
        }
    )
    band = stats.curve_band(points)
    assert band[["step", "mean", "low", "high", "n"]].to_numpy().ravel().tolist() == pytest.approx(
        [10, 0.55, 0.5, 0.6, 2, 20, 0.8, 0.7, 0.9, 2]
    )
    assert band["train_s"].tolist() == pytest.approx([1.1, 2.2])
    assert stats.curve_band(points.iloc[:0]).empty


@pytest.mark.parametrize("test", ["mann-whitney", "permutation"])
def test_compare_says_same_for_one_distribution_and_slower_for_a_shifted_one(test):
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, 20), rng.normal(10, 1, 20)
    same = stats.compare_samples(a, b, test=test)
    assert same.verdict == "same" and same.p_value >= 0.05 and same.ratio == pytest.approx(1.0, abs=0.15)
    slower = stats.compare_samples(a, rng.normal(13, 1, 20), test=test)
    assert (
        slower.verdict == "slower" and slower.p_value < 0.01 and slower.ratio == pytest.approx(1.3, abs=0.1)
    )
    faster = stats.compare_samples(a, a * 0.5, test=test)
    assert faster.verdict == "faster" and faster.ratio == pytest.approx(0.5)
    assert (same.test, same.n_a, same.n_b) == (test, 20, 20)


def test_compare_scores_and_small_samples():
    better = stats.compare_samples(
        [0.80, 0.81, 0.82, 0.80, 0.81], [0.90, 0.91, 0.92, 0.93, 0.90], higher_is_better=True
    )
    assert better.verdict == "better"
    worse = stats.compare_samples(
        [0.1, 0.11, 0.12, 0.1, 0.11], [0.2, 0.21, 0.22, 0.2, 0.21], higher_is_better=False
    )
    assert worse.verdict == "worse"
    # two seeds each can never be told apart at 5%: the honest answer is "same"
    assert stats.compare_samples([1.0, 1.1], [5.0, 5.1]).verdict == "same"
    assert stats.compare_samples([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]).p_value == 1.0
    assert stats.compare_samples([], [1.0]).verdict == "n/a"


def test_permutation_test_is_exact_for_small_samples():
    # 3 vs 3 fully separated: the medians differ by 9; of the 20 splits, the observed one, its mirror
    # and {1, 2, 10} | {3, 11, 12} with its mirror differ by as much
    assert stats.permutation_p([1, 2, 3], [10, 11, 12]) == pytest.approx(0.2)
    assert stats.permutation_p([1, 2, 3], [1, 2, 3]) == 1.0


# -- tuning studies and scaling sweeps ----------------------------------------------------------------


def test_best_so_far_carries_the_best_across_failures():
    assert stats.best_so_far([0.5, None, 0.3, 0.7, math.nan]) == pytest.approx([0.5, 0.5, 0.5, 0.7, 0.7])
    low = stats.best_so_far([math.nan, 0.5, 0.6, 0.3], higher_is_better=False)
    assert math.isnan(low[0]) and list(low[1:]) == [0.5, 0.5, 0.3]
    assert len(stats.best_so_far([])) == 0


def test_best_index_takes_the_first_of_equal_scores():
    assert stats.best_index([0.2, 0.9, None, 0.9]) == 1
    assert stats.best_index([0.2, 0.1, 0.1], higher_is_better=False) == 1
    assert stats.best_index([None, math.nan]) is None


def test_power_law_fit_recovers_a_known_exponent_through_noise():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e12, 8)
    y = 3.0 * x**-0.3 * np.exp(rng.normal(0, 0.03, size=len(x)))
    fit = stats.power_law_fit(x, y)
    assert fit.n == 8 and (fit.x_min, fit.x_max) == (1e6, 1e12)
    assert fit.exponent == pytest.approx(-0.3, abs=0.02)
    assert fit.low < -0.3 < fit.high and fit.interval == (fit.low, fit.high)
    assert 0 < fit.high - fit.low < 0.05
    assert fit.predict([1e9]) == pytest.approx(3.0 * 1e9**-0.3, rel=0.1)


def test_power_law_fit_of_an_exact_law_has_a_zero_width_interval():
    x = np.array([1.0, 10.0, 100.0])
    fit = stats.power_law_fit(x, 2.0 * x**0.5)
    assert fit.exponent == pytest.approx(0.5) and fit.intercept == pytest.approx(math.log(2.0))
    assert fit.high - fit.low == pytest.approx(0.0, abs=1e-9)


def test_power_law_interval_uses_t_on_n_minus_2_degrees_of_freedom():
    # log y = 0, 1, 0 at log x = 0, 1, 2: slope 0, residuals 1/3, -2/3, 1/3, se = sqrt((2/3) / 1 / 2)
    x = np.exp([0.0, 1.0, 2.0])
    fit = stats.power_law_fit(x, np.exp([0.0, 1.0, 0.0]))
    half = 12.706204736 * math.sqrt(1 / 3)  # t(0.975, 1 df)
    assert fit.exponent == pytest.approx(0.0, abs=1e-12)
    assert (fit.low, fit.high) == pytest.approx((-half, half))


def test_power_law_interval_covers_the_true_exponent_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    x = np.geomspace(1, 1e4, 5)
    fits = [stats.power_law_fit(x, x**-0.5 * np.exp(rng.normal(0, 0.2, 5))) for _ in range(400)]
    covered = sum(fit.low <= -0.5 <= fit.high for fit in fits)
    assert 0.91 <= covered / 400 <= 0.99


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1.0, 10.0], [1.0, 0.5], "at least 3 points"),
        ([1.0, 10.0, 100.0], [1.0, 0.0, 0.5], "positive"),
        ([1.0, -10.0, 100.0], [1.0, 0.5, 0.5], "positive"),
        ([1.0, math.nan, 100.0], [1.0, 0.5, 0.5], "finite"),
        ([5.0, 5.0, 5.0], [1.0, 0.5, 0.2], "distinct x"),
    ],
)
def test_power_law_fit_refuses_what_it_cannot_fit(x, y, message):
    with pytest.raises(ValueError, match=message):
        stats.power_law_fit(x, y)


def test_compute_frontier_on_hand_made_points():
    flops = [1, 2, 3, 4, 5, 2, math.nan]
    score = [0.5, 0.4, 0.7, 0.7, 0.9, 0.6, 0.99]
    # 2 (0.4) is beaten by 1 (0.5); at equal compute 2 only the better (0.6) counts; 4 only ties 3;
    # the point without a FLOPs count is never on it
    assert list(stats.compute_frontier(flops, score)) == [0, 5, 2, 4]
    loss = [1.0, 0.8, 0.9, 0.5]
    assert list(stats.compute_frontier([4, 1, 2, 3], loss, higher_is_better=False)) == [1, 3]
    assert list(stats.compute_frontier([], [])) == []
