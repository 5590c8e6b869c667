"""The verdict procedure (nnbench.verdict) against known answers: intervals, outcomes, families, ranks,
the estimate of seeds that would decide, and the two-run comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from nnbench import verdict
from nnbench.types import Margin


def test_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    leader = {0: 0.93, 1: 0.95, 2: 0.94}
    other = {0: 0.90, 1: 0.91, 2: 0.93}
    d = verdict.difference(leader, other, confidence=0.95)
    diffs = np.array([0.03, 0.04, 0.01])
    half = scipy_stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert d.method == "paired t" and d.df == 2 and (d.n_first, d.n_second) == (3, 3)
    assert d.estimate == pytest.approx(diffs.mean())
    assert (d.low, d.high) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    # the same against scipy's paired test: the interval excludes 0 exactly when p < 0.05
    assert (d.low > 0) == (scipy_stats.ttest_rel([0.93, 0.95, 0.94], [0.90, 0.91, 0.93]).pvalue < 0.05)


def test_lower_is_better_is_oriented_so_positive_means_the_first_is_better():
    d = verdict.difference([0.10, 0.12, 0.11], [0.20, 0.25, 0.21], higher_is_better=False)
    assert d.estimate == pytest.approx(0.11) and d.low > 0


def test_different_seeds_give_welchs_interval():
    a, b = {0: 1.0, 1: 2.0, 2: 3.0}, {5: 0.0, 6: 0.5, 7: 1.0, 8: 0.2}
    d = verdict.difference(a, b)
    result = scipy_stats.ttest_ind([1.0, 2.0, 3.0], [0.0, 0.5, 1.0, 0.2], equal_var=False)
    assert d.method == "Welch t"
    half = scipy_stats.t.ppf(0.975, d.df) * d.se
    assert d.df == pytest.approx(result.df)
    assert d.estimate / d.se == pytest.approx(result.statistic)
    assert (d.low, d.high) == pytest.approx((d.estimate - half, d.estimate + half))


def test_fewer_than_two_seeds_or_no_spread_gives_no_interval_and_says_why():
    one = verdict.difference([0.9], [0.5, 0.6])
    assert not one.has_interval and "fewer than 2 seeds" in one.reason and math.isnan(one.low)
    # 0.90 vs 0.95 on each of three seeds: no spread, so no verdict from a width-0 interval
    flat = verdict.compare_to_baseline([0.90] * 3, [0.95] * 3, margin=Margin(0.01))
    assert flat.outcome == "undecided" and "no spread" in flat.reason
    # identical scores on every seed are no difference at all: [0, 0], inside any margin
    same = verdict.compare_to_baseline([0.9, 0.8, 0.7], [0.9, 0.8, 0.7], margin=Margin(0.01))
    assert same.outcome == "equivalent" and (same.difference.low, same.difference.high) == (0.0, 0.0)
    assert verdict.compare_to_baseline([0.9, 0.8], [0.9, 0.8]).outcome == "undecided"  # no margin


def test_outcomes_read_off_the_interval():
    assert verdict.classify(0.001, 0.004, 0.01) == "equivalent"  # apart from 0, but inside the margin
    assert verdict.classify(0.002, 0.02, 0.01) == "above"
    assert verdict.classify(-0.02, -0.002, 0.01) == "below"
    assert verdict.classify(-0.002, 0.02, 0.01) == "undecided"
    assert verdict.classify(-0.01, 0.005, 0.01) == "undecided"  # the margin is open: -0.01 is not inside
    assert verdict.classify(0.0, 0.0, 0.0) == "undecided"  # no margin: never equivalent
    assert verdict.classify(math.nan, math.nan, 1.0) == "undecided"


def test_the_family_is_every_pair_and_every_look():
    assert verdict.interval_confidence(0.05, entries=2) == pytest.approx(0.95)
    assert verdict.interval_confidence(0.05, entries=4) == pytest.approx(1 - 0.05 / 6)
    bonferroni = verdict.Looks(2, 10, spending="bonferroni")
    assert verdict.interval_confidence(0.05, entries=3, looks=bonferroni) == pytest.approx(1 - 0.05 / 27)
    with pytest.raises(ValueError, match="Looks"):
        verdict.interval_confidence(0.05, entries=3, looks=9)  # a count alone cannot place the boundary
    assert verdict.interval_confidence(0.05, entries=1) == pytest.approx(0.95)
    assert verdict.looks_of(2, 10) == 9 and verdict.looks_of(3, 3) == 1
    with pytest.raises(ValueError):
        verdict.looks_of(5, 2)
    with pytest.raises(ValueError):
        verdict.interval_confidence(0.0)


def test_task_verdict_names_the_leader_decides_and_ranks():
    samples = {
        "cnn": [0.93, 0.95, 0.94],
        "rnn": [0.85, 0.86, 0.86],  # far behind on every seed: worse
        "mlp": [0.92, 0.95, 0.935],  # close, with spread: undecided
        "copy": [0.93, 0.951, 0.939],  # within 0.01 on every seed: equivalent
        "broken": [],
    }
    task = verdict.task_verdict(samples, margin=Margin(0.01))
    assert task.leader == "cnn" and task.pairs == 6
    assert task.confidence == pytest.approx(1 - 0.05 / 6)
    outcomes = {c.entry: c.outcome for c in task.comparisons}
    assert outcomes == {"copy": "equivalent", "mlp": "undecided", "rnn": "worse"}
    assert task.ranks == {"cnn": 1, "copy": 1, "mlp": 1, "rnn": 2}
    assert task.unscored == ("broken",)
    assert not task.decided and task.undecided == ["mlp"] and task.contenders == ["cnn", "mlp"]
    assert task.runner_up.entry == "copy"
    rnn = task.comparison("rnn")
    assert rnn.interval[0] > 0 and rnn.seeds == (3, 3) and "above 0" in rnn.reason
    assert task.comparison("mlp").seeds_needed is not None
    assert "Bonferroni over 6 pairs" in task.procedure()


def test_a_relative_margin_is_a_share_of_the_leaders_mean():
    samples = {"diffusion": [0.0040, 0.0042, 0.0041], "gan": [0.0041, 0.0042, 0.0042]}
    task = verdict.task_verdict(samples, higher_is_better=False, margin=Margin(0.1, relative=True))
    assert task.leader == "diffusion" and task.margin_abs == pytest.approx(0.00041)
    assert task.comparison("gan").outcome == "equivalent"
    assert verdict.task_verdict(samples, higher_is_better=False).comparison("gan").outcome == "undecided"


def test_ranks_are_not_transitive_ties():
    # b is not told from a, c is not told from b, but c is decidedly behind a: ranks 1, 1, 2
    samples = {"a": [10.0, 10.2, 9.9, 10.1], "b": [9.0, 10.0, 9.4, 10.4], "c": [8.0, 8.3, 7.9, 8.0]}
    task = verdict.task_verdict(samples)
    assert task.comparison("b").outcome == "undecided" and task.comparison("c").outcome == "worse"
    assert task.ranks == {"a": 1, "b": 1, "c": 2}


def test_one_seed_entries_are_neither_leader_nor_ranked():
    task = verdict.task_verdict({"lucky": [0.99], "a": [0.90, 0.91], "b": [0.50, 0.52, 0.51]})
    assert task.leader == "a" and task.ranks == {"a": 1, "b": 2} and task.pairs == 1
    lucky = task.comparison("lucky")
    assert (
        lucky.outcome == "undecided"
        and "fewer than 2 seeds" in lucky.reason
        and lucky.difference.estimate < 0
    )
    alone = verdict.task_verdict({"x": [0.5]})
    assert alone.leader == "x" and alone.ranks == {} and not alone.decided and alone.contenders == []


def test_seeds_to_decide_is_the_plug_in_estimate():
    # d ~ 0.01 with sd 0.01: at n seeds the paired interval is 0.01 ± t(n-1) * 0.01 / sqrt(n)
    diff = verdict.difference({0: 1.00, 1: 1.02, 2: 1.01}, {0: 1.0, 1: 1.0, 2: 1.0})
    needed = verdict.seeds_to_decide(diff, 0.0)
    assert needed == next(
        n for n in range(4, 100) if 0.01 - scipy_stats.t.ppf(0.975, n - 1) * 0.01 / math.sqrt(n) > 0
    )
    assert verdict.seeds_to_decide(verdict.difference([1.0], [2.0, 3.0]), 0.1) is None
    # a difference of exactly 0 without a margin can never be decided
    tie = verdict.difference({0: 1.0, 1: 2.0}, {0: 2.0, 1: 1.0})
    assert verdict.seeds_to_decide(tie, 0.0) is None


def test_compare_to_baseline_outcomes_and_family():
    base = {0: 0.80, 1: 0.82, 2: 0.81, 3: 0.80}
    better = {0: 0.85, 1: 0.86, 2: 0.86, 3: 0.84}
    worse = {0: 0.70, 1: 0.73, 2: 0.71, 3: 0.70}
    assert verdict.compare_to_baseline(base, better, margin=0.01).outcome == "better"
    out = verdict.compare_to_baseline(base, worse, margin=0.01)
    assert out.outcome == "worse" and out.ratio == pytest.approx(0.71 / 0.8075, abs=1e-3)
    # times: lower is better, a 5% relative margin
    slow = verdict.compare_to_baseline([10, 11, 10.5], [20, 22.2, 20.9], higher_is_better=False,
                                       margin=verdict.TIME_MARGIN)  # fmt: skip
    assert slow.outcome == "worse" and slow.margin == pytest.approx(0.525)
    # a family of many comparisons widens each interval
    close = {0: 0.84, 1: 0.85, 2: 0.85, 3: 0.83}
    assert verdict.compare_to_baseline(base, close).outcome == "better"
    assert verdict.compare_to_baseline(base, close, comparisons=50).outcome == "undecided"


def test_json_form_has_the_keys_of_verdicts_md():
    task = verdict.task_verdict({"cnn": [0.93, 0.95, 0.94], "rnn": [0.85, 0.86, 0.86]}, margin=Margin(0.01))
    data = verdict.task_dict("mnist1d", "accuracy", task)
    assert {"task", "metric", "higher_is_better", "margin", "leader", "decided", "comparisons"} <= set(data)
    assert data["leader"] == "cnn" and data["decided"] is True and data["margin"] == 0.01
    [rnn] = data["comparisons"]
    assert {"architecture", "outcome", "difference", "interval", "seeds"} <= set(rnn)
    assert rnn["architecture"] == "rnn" and rnn["outcome"] == "worse" and rnn["seeds"] == [3, 3]
    assert rnn["interval"][0] > 0 and rnn["difference"] == pytest.approx(0.0833333, abs=1e-6)


def test_margin_type():
    assert Margin(0.01).absolute(0.9) == 0.01
    assert Margin(0.1, relative=True).absolute(-2.0) == pytest.approx(0.2)
    assert verdict.describe_margin(Margin(0.1, relative=True)) == "10% relative"
    assert verdict.describe_margin(None) == "none"
    with pytest.raises(ValueError):
        Margin(-0.1)
    with pytest.raises(ValueError):
        Margin(math.nan)


def test_builtin_tasks_declare_margins_and_anchors():
    from nnbench import registry

    reg = registry.get_registry()
    for name, task_cls in sorted(reg.tasks.items()):
        required = [k for k, f in task_cls.Config.model_fields.items() if f.is_required()]
        if required:
            continue  # a local dataset: its metric needs the files
        metric = task_cls().metric()
        assert metric.margin is not None, name
        assert metric.anchors is not None, name
        zero, one = metric.anchors
        # 1 is better than 0 in the metric's own direction
        assert (one > zero) == metric.higher_is_better, name
        if metric.name == "accuracy":
            assert metric.margin == Margin(0.01) and 0 < zero < 1, name


def test_the_python_example_of_the_docs_runs():
    import re

    from .conftest import REPO

    text = (REPO / "docs" / "verdicts.md").read_text()
    [example] = re.findall(r"## In Python\n\n```python\n(.*?)```", text, re.S)
    namespace: dict = {}
    exec(compile(example, "docs/verdicts.md", "exec"), namespace)  # its asserts are the test
    assert namespace["low"] == pytest.approx(0.069, abs=0.001)
    assert namespace["high"] == pytest.approx(0.098, abs=0.001)
