"""The report's statistics against known answers: intervals, medians, time to target, leaderboards
with the verdict's ranks, performance profiles, Pareto fronts and curve bands. The verdict procedure
itself is tested in tests/test_verdict.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nnbench import stats

INF = math.inf


def test_mean_interval_is_a_student_t_interval():
    result = stats.mean_interval([1.0, 2.0, 3.0, None, math.nan])
    assert (result.mean, result.n) == (2.0, 3)
    assert result.std == pytest.approx(1.0)
    # 2 ± t(0.975, 2) * 1 / sqrt(3) = 2 ± 4.3027 * 0.57735
    assert (result.low, result.high) == pytest.approx((2 - 2.48414, 2 + 2.48414), abs=1e-4)
    one = stats.mean_interval([5.0])
    assert (one.mean, one.n) == (5.0, 1) and math.isnan(one.std) and math.isnan(one.low)
    assert math.isnan(stats.mean_interval([]).mean)


def test_mean_interval_covers_the_mean_95_percent_of_the_time_with_two_seeds():
    # the percentile bootstrap it replaces covered about half the time over two seeds
    rng = np.random.default_rng(3)
    draws = [stats.mean_interval(rng.normal(size=2)) for _ in range(4000)]
    covered = np.mean([d.low <= 0 <= d.high for d in draws])
    assert 0.94 <= covered <= 0.96


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


def _rows(scores: dict, **extra) -> list[dict]:
    rows = []
    for arch, values in scores.items():
        for seed, score in enumerate(values):
            rows.append(
                {
                    "arch_label": arch,
                    "architecture": arch,
                    "arch_config": "{}",
                    "status": "ok" if score is not None else "error",
                    "seed": seed,
                    "test_score": score,
                    "train_s": 1.0 + seed,
                    "reference": arch == "gbt",
                    "target": 0.9,
                    "reached_target": score is not None and score >= 0.91,
                    "time_to_target_s": 0.5 if score is not None and score >= 0.91 else None,
                    "cost_usd": None,
                    **extra,
                }
            )
    return rows


def test_leaderboard_ranks_marks_references_and_counts_failures():
    rows = _rows({"mlp": [0.90, 0.91, 0.92], "gbt": [0.95, 0.965, 0.97], "cnn": [0.90, None, 0.91]})
    rows.append({"arch_label": "rnn", "architecture": "rnn", "status": "skipped", "test_score": None})
    board = stats.leaderboard(pd.DataFrame(rows), higher_is_better=True)
    assert board["arch_label"].tolist() == ["gbt", "mlp", "cnn"]
    # gbt is ahead of both on every seed (paired): rank 1 alone; mlp and cnn are not told apart
    assert board["rank"].tolist() == [1, 2, 2] and board["tied"].tolist() == [False, True, True]
    assert board["outcome"].tolist() == ["leader", "worse", "worse"]
    assert board["difference"].tolist() == pytest.approx(
        [0.0, 0.0516667, 0.0566667], abs=1e-6
    )  # cnn: Welch (seeds differ)
    assert board["reference"].tolist() == [True, False, False]
    cnn = board.iloc[2]
    assert (cnn["n"], cnn["n_trials"], cnn["n_failed"]) == (2, 3, 1)
    assert cnn["ttt_median"] == INF and cnn["success_rate"] == pytest.approx(1 / 3)
    assert board.iloc[0]["train_s"] == 2.0 and math.isnan(board.iloc[0]["cost_usd"])
    # ci_low/ci_high are each entry's own 95% t-interval
    gbt = stats.mean_interval([0.95, 0.965, 0.97])
    assert (board.iloc[0]["ci_low"], board.iloc[0]["ci_high"]) == pytest.approx((gbt.low, gbt.high))


def test_leaderboard_never_ranks_apart_on_two_noisy_seeds_or_one_seed():
    # two seeds that disagree share rank 1; a one-seed entry, far behind or far ahead, gets no rank
    rows = _rows({"a": [0.80, 0.90], "b": [0.85, 0.84], "c": [0.30], "d": [0.99]})
    board = stats.leaderboard(pd.DataFrame(rows), higher_is_better=True)
    assert board["arch_label"].tolist() == ["a", "b", "d", "c"]
    assert board["rank"].tolist()[:2] == [1, 1] and board["rank"].isna().tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert board["tied"].tolist() == [True, True, False, False]
    assert board["outcome"].tolist() == ["leader", "undecided", "undecided", "undecided"]
    assert math.isnan(board.iloc[3]["ci_low"])  # one seed: no interval


def test_leaderboard_reads_the_margin_its_trials_recorded():
    rows = _rows({"a": [0.900, 0.910, 0.905], "b": [0.899, 0.909, 0.905]}, margin=0.01, margin_relative=False)
    board = stats.leaderboard(pd.DataFrame(rows), higher_is_better=True)
    assert board["outcome"].tolist() == ["leader", "equivalent"] and board["rank"].tolist() == [1, 1]
    no_margin = stats.leaderboard(pd.DataFrame(rows).drop(columns=["margin", "margin_relative"]), True)
    assert no_margin["outcome"].tolist() == ["leader", "undecided"]
    assert stats.task_margin(pd.DataFrame(rows)) == stats.Margin(0.01)


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


def test_task_labels_tell_configurations_of_one_task_apart():
    frame = pd.DataFrame(
        {
            "task": ["tabular-real", "tabular-real", "digits", "digits"],
            "task_config": [
                '{"dataset": "breast_cancer"}',
                '{"dataset": "wine"}',
                '{"n": 1}',
                {"n": 1},  # a dict, as a frame built in memory holds it
            ],
        }
    )
    assert stats.task_labels(frame).tolist() == [
        "tabular-real dataset=breast_cancer",
        "tabular-real dataset=wine",
        "digits",
        "digits",
    ]
    assert stats.task_labels(frame.drop(columns="task_config")).tolist() == [
        "tabular-real",
        "tabular-real",
        "digits",
        "digits",
    ]
