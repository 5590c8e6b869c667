"""Every statistic a report shows, in one module: intervals, medians, time to target, rankings,
performance profiles, Pareto fronts and the two-run comparison.

The rules come from MEASUREMENT.md ("Across seeds and trials"):

- quality: mean, standard deviation and a 95% percentile-bootstrap interval of the mean over seeds
  (:func:`mean_interval`, seeded, so a report is reproducible);
- times: median and interquartile range (:func:`median_iqr`);
- time to target: the median with misses counted as infinite, success rate beside it
  (:func:`time_to_target`);
- across tasks: an AlgoPerf-style performance profile (:func:`performance_profile`);
- ranks tie when 95% intervals overlap (:func:`rank_with_ties`);
- two runs: ratio of medians with a significance test; within the noise is "same"
  (:func:`compare_samples`);
- tuning studies: the best score so far (:func:`best_so_far`) and the one a study selects
  (:func:`best_index`);
- size sweeps: a power law fitted by least squares on logarithms with a t interval for its exponent
  (:func:`power_law_fit`), and the compute-efficient frontier (:func:`compute_frontier`).

Everything here is a pure function of numbers (numpy arrays, pandas frames); nothing reads the store
or writes files, so each is tested against known answers in ``tests/test_stats.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
ALPHA = 0.05  # significance level of the two-run comparison
PERMUTATIONS = 10_000  # resamples of the permutation test when scipy is not installed
# A bootstrap over two seeds only spans their two values: too narrow to call a winner clear.
MIN_SEEDS_TO_JUDGE = 3
# The performance profile's factors: from 1 (as fast as the best) to 4 (four times slower).
PROFILE_TAUS: tuple[float, ...] = tuple(float(t) for t in np.round(np.linspace(1.0, 4.0, 61), 6))


def _finite(values: Iterable[Any]) -> np.ndarray:
    """The finite floats of ``values`` (None, NaN, infinities and non-numbers dropped)."""
    if isinstance(values, pd.Series | np.ndarray) and values.dtype.kind in "fiub":
        array = np.asarray(values, dtype=float)
    else:
        array = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)]


# ---------------------------------------------------------------------------------------------
# one sample: quality over seeds, times over trials


def bootstrap_interval(
    values: Iterable[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (resampling seeds); NaNs for n < 2.

    The random generator is seeded, so the same values always give the same interval.
    """
    values = _finite(values)
    if len(values) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class MeanInterval:
    """Mean, sample standard deviation and bootstrap interval of the mean of ``n`` values."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def mean_interval(values: Iterable[float], **bootstrap: Any) -> MeanInterval:
    """Mean, standard deviation (ddof=1) and 95% bootstrap interval of the finite ``values``.

    With one value the mean is that value and the rest NaN; with none everything is NaN.
    """
    values = _finite(values)
    n = len(values)
    low, high = bootstrap_interval(values, **bootstrap)
    return MeanInterval(
        mean=float(values.mean()) if n else math.nan,
        std=float(values.std(ddof=1)) if n > 1 else math.nan,
        low=low,
        high=high,
        n=n,
    )


@dataclass(frozen=True)
class Spread:
    """Median and quartiles of ``n`` values; ``iqr`` is q3 - q1."""

    median: float
    q1: float
    q3: float
    n: int

    @property
    def iqr(self) -> float:
        """The interquartile range."""
        return self.q3 - self.q1


def median_iqr(values: Iterable[float]) -> Spread:
    """Median and quartiles (linear interpolation) of the finite ``values``; NaNs when there are none."""
    values = _finite(values)
    if not len(values):
        return Spread(math.nan, math.nan, math.nan, 0)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return Spread(float(median), float(q1), float(q3), len(values))


@dataclass(frozen=True)
class TimeToTarget:
    """Median time to target over ``n`` trials (``inf`` when half or more missed) and the success rate."""

    median: float
    success_rate: float
    reached: int
    n: int


def time_to_target(times: Iterable[Any], reached: Iterable[Any] | None = None) -> TimeToTarget:
    """The median time to target with misses counted as infinite, and the share that reached it.

    ``times`` holds each trial's time to target; ``reached`` says whether it reached the target
    (without it, a finite time means reached). A trial that missed, or has no finite time, counts as
    infinitely slow, so the median is ``inf`` once half or more of the trials missed. No trials: NaNs.
    """
    times = pd.to_numeric(pd.Series(list(times), dtype=object), errors="coerce").to_numpy(dtype=float)
    hit = np.isfinite(times)
    if reached is not None:
        flags = np.array([_truthy(v) for v in reached], dtype=bool)
        if len(flags) != len(times):
            raise ValueError("times and reached differ in length")
        hit &= flags
    n = len(times)
    if n == 0:
        return TimeToTarget(math.nan, math.nan, 0, 0)
    counted = np.where(hit, times, np.inf)
    return TimeToTarget(float(np.median(counted)), float(hit.mean()), int(hit.sum()), n)


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float | np.floating) and math.isnan(value):
        return False
    return bool(value)


def ran_to_time_cap(train_s: Iterable[Any], budget_s: Iterable[Any] | None, tolerance: float = 0.05) -> float | None:
    """The time budget every trial trained to, or None when the trials' training times tell them apart.

    A time budget stops training once the clock passes it, so trials that all hit the same cap
    have training times equal to it up to one step: their differences are timer noise. Returns the
    common budget when every trial has the same finite ``budget_s`` and trained for at least
    ``1 - tolerance`` of it; None otherwise (steps-only budgets, trials that stopped early).
    """
    if budget_s is None:
        return None
    times = pd.to_numeric(pd.Series(list(train_s), dtype=object), errors="coerce").to_numpy(dtype=float)
    budgets = pd.to_numeric(pd.Series(list(budget_s), dtype=object), errors="coerce").to_numpy(dtype=float)
    if len(times) < 2 or len(times) != len(budgets) or not np.isfinite(budgets).all():
        return None
    if np.ptp(budgets) != 0 or not np.isfinite(times).all():
        return None
    cap = float(budgets[0])
    return cap if bool((times >= (1.0 - tolerance) * cap).all()) else None


# ---------------------------------------------------------------------------------------------
# many architectures: ranks, fronts, normalised scores, profiles


def rank_with_ties(
    means: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    higher_is_better: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Competition ranks that tie when 95% intervals overlap; returns ``(ranks, tied)``.

    An entry's rank is 1 + the number of entries whose interval lies entirely on the better side of
    its own; so entries whose intervals overlap are not told apart, and the leader and everything
    that overlaps it share rank 1. An entry without an interval (fewer than two seeds) counts as the
    point ``[mean, mean]``. Entries without a mean get rank NaN. ``tied`` marks ranks held by more
    than one entry.
    """
    means = np.asarray(means, dtype=float)
    lows = np.where(np.isfinite(np.asarray(lows, dtype=float)), lows, means)
    highs = np.where(np.isfinite(np.asarray(highs, dtype=float)), highs, means)
    present = np.isfinite(means)
    ranks = np.full(len(means), np.nan)
    for i in np.flatnonzero(present):
        if higher_is_better:
            better = lows[present] > highs[i]
        else:
            better = highs[present] < lows[i]
        ranks[i] = 1 + int(better.sum())
    values, counts = np.unique(ranks[present], return_counts=True)
    shared = set(values[counts > 1].tolist())
    tied = np.array([r in shared for r in ranks], dtype=bool)
    return ranks, tied


def intervals_overlap(low_a: float, high_a: float, low_b: float, high_b: float) -> bool:
    """Whether two closed intervals share a point."""
    return low_a <= high_b and low_b <= high_a


def pareto_front(
    cost: Sequence[float], quality: Sequence[float], *, higher_is_better: bool = True
) -> np.ndarray:
    """Mask of the points no other point beats on both axes (lower cost, better quality).

    ``cost`` is what is spent (seconds, dollars: lower is better); ``quality`` is better when higher
    unless ``higher_is_better`` is False. Points with a missing coordinate are never on the front; of
    identical points only the first is.
    """
    cost = np.asarray(cost, dtype=float)
    quality = np.asarray(quality, dtype=float)
    good = quality if higher_is_better else -quality
    usable = np.flatnonzero(np.isfinite(cost) & np.isfinite(good))
    # cheapest first; at equal cost the best quality first
    order = usable[np.lexsort((-good[usable], cost[usable]))]
    front = np.zeros(len(cost), dtype=bool)
    best = -np.inf
    for i in order:
        if good[i] > best:
            front[i] = True
            best = good[i]
    return front


def normalized_scores(means: pd.DataFrame, higher_is_better: Mapping[str, bool]) -> pd.DataFrame:
    """Per task (column), scale architectures' mean scores (rows) so the best is 1 and the worst 0.

    Missing cells stay NaN. A task whose finite scores are all equal gives each of them 1.
    """
    out = pd.DataFrame(index=means.index, columns=means.columns, dtype=float)
    for task in means.columns:
        column = pd.to_numeric(means[task], errors="coerce").astype(float)
        finite = column[np.isfinite(column)]
        if finite.empty:
            continue
        best, worst = (
            (finite.max(), finite.min()) if higher_is_better.get(task, True) else (finite.min(), finite.max())
        )
        if best == worst:
            out.loc[finite.index, task] = 1.0
        else:
            out.loc[finite.index, task] = (finite - worst) / (best - worst)
    return out


def profile_ratios(times: pd.DataFrame) -> pd.DataFrame:
    """Per task (column), each architecture's (row) time to target over the best one's.

    Missing cells (the architecture did not run the task) and misses (``inf``) get ratio ``inf``.
    Tasks no architecture reached are dropped: they have no best time to compare with.
    """
    times = times.apply(pd.to_numeric, errors="coerce").astype(float)
    ratios = {}
    for task in times.columns:
        column = times[task]
        finite = column[np.isfinite(column)]
        if finite.empty:
            continue
        positive = finite[finite > 0]
        if positive.empty:  # every finisher reached the target at time 0: all equally fast
            ratios[task] = pd.Series(np.where(np.isfinite(column), 1.0, np.inf), index=column.index)
            continue
        # a target reached at time 0 (before training) is as fast as the fastest positive time
        ratios[task] = (column / positive.min()).where(np.isfinite(column), np.inf).clip(lower=1.0)
    return pd.DataFrame(ratios, index=times.index)


def performance_profile(times: pd.DataFrame, taus: Sequence[float] = PROFILE_TAUS) -> pd.DataFrame:
    """The AlgoPerf performance profile: per architecture, the share of tasks within a factor tau.

    ``times`` is architectures (rows) x tasks (columns) of the median time to target (``inf`` for a
    miss, NaN where the architecture did not run the task, which counts as a miss too). For each tau
    the result holds the share of tasks on which the architecture's time is at most tau times the
    best architecture's time on that task. Columns are the taus; tasks nobody reached are left out
    (see :func:`profile_ratios`); with no task left the result has no rows' values (all NaN).
    """
    ratios = profile_ratios(times)
    taus = [float(t) for t in taus]
    if ratios.shape[1] == 0:
        return pd.DataFrame(np.nan, index=times.index, columns=taus)
    values = np.stack([(ratios.to_numpy() <= tau).mean(axis=1) for tau in taus], axis=1)
    return pd.DataFrame(values, index=times.index, columns=taus)


# ---------------------------------------------------------------------------------------------
# two runs


@dataclass(frozen=True)
class Comparison:
    """Run B against run A: the ratio of medians B/A, the test's p-value and the verdict.

    ``verdict`` is "faster"/"slower"/"same" for times (lower is better) and "better"/"worse"/"same"
    for scores; "same" whenever the difference is within the noise (p >= alpha), and "n/a" when a
    side has no values.
    """

    median_a: float
    median_b: float
    ratio: float
    p_value: float
    verdict: str
    n_a: int
    n_b: int
    test: str


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy); 1.0 when every value is equal."""
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def permutation_p(
    a: Sequence[float], b: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = BOOTSTRAP_SEED
) -> float:
    """Two-sided permutation test of the difference of medians; exact when the splits are few.

    The p-value is the share of relabellings of the pooled values whose absolute difference of
    medians is at least the observed one (the observed labelling included, so never 0).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a, b])
    n_a = len(a)
    observed = abs(np.median(b) - np.median(a))
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(len(pooled), n_a) <= permutations:
        hits = total = 0
        for chosen in combinations(range(len(pooled)), n_a):
            mask = np.zeros(len(pooled), dtype=bool)
            mask[list(chosen)] = True
            total += 1
            hits += abs(np.median(pooled[~mask]) - np.median(pooled[mask])) >= observed - tolerance
        return hits / total
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((permutations, len(pooled))), axis=1)
    shuffled = pooled[order]
    diffs = np.abs(np.median(shuffled[:, n_a:], axis=1) - np.median(shuffled[:, :n_a], axis=1))
    return float((1 + np.sum(diffs >= observed - tolerance)) / (permutations + 1))


def significance_test() -> str:
    """The test :func:`compare_samples` uses here: Mann-Whitney U with scipy, else a permutation test."""
    try:
        import scipy.stats  # noqa: F401
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        return "permutation"
    return "mann-whitney"


def compare_samples(
    a: Iterable[float],
    b: Iterable[float],
    *,
    higher_is_better: bool | None = None,
    alpha: float = ALPHA,
    test: str | None = None,
) -> Comparison:
    """Compare sample ``b`` (run B) with sample ``a`` (run A): ratio of medians and a two-sided test.

    ``higher_is_better=None`` means the values are times or costs (lower is better): the verdict is
    "faster", "slower" or "same". Otherwise the values are scores and the verdict is "better",
    "worse" or "same". "same" means the test found no difference at level ``alpha``; with a few
    values per side that is all it can say (Mann-Whitney needs 4 per side to reach p < 0.05).
    ``test`` is "mann-whitney" or "permutation" (default: :func:`significance_test`).
    """
    a, b = _finite(a), _finite(b)
    test = test or significance_test()
    median_a = float(np.median(a)) if len(a) else math.nan
    median_b = float(np.median(b)) if len(b) else math.nan
    ratio = median_b / median_a if len(a) and len(b) and median_a != 0 else math.nan
    if not len(a) or not len(b):
        return Comparison(median_a, median_b, ratio, math.nan, "n/a", len(a), len(b), test)
    p = mann_whitney_p(a, b) if test == "mann-whitney" else permutation_p(a, b)
    verdict = "same"
    if p < alpha and median_b != median_a:
        b_higher = median_b > median_a
        if higher_is_better is None:
            verdict = "slower" if b_higher else "faster"
        else:
            verdict = "better" if b_higher == higher_is_better else "worse"
    return Comparison(median_a, median_b, ratio, p, verdict, len(a), len(b), test)


# ---------------------------------------------------------------------------------------------
# one task's trials: the leaderboard and its learning curves


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    if frame[column].dtype == float:
        return frame[column]
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


# Per-trial measurements a leaderboard summarises by their median over the trials that finished ok.
MEDIAN_COLUMNS = (
    "train_s",
    "step_ms_median",
    "samples_per_s",
    "params",
    "flops_per_step",
    "peak_mem_bytes",
    "energy_j",
    "mfu",
    "cost_usd",
)


def leaderboard(task_trials: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """One row per architecture label of one task, best first; unscored architectures last, unranked.

    ``task_trials`` are result rows (``arch_label``, ``architecture``, ``status``, ``test_score`` and
    the measured columns); skipped trials (n/a pairs) are left out. Columns: ``n`` (seeds scored),
    ``mean``/``std``/``ci_low``/``ci_high`` of ``test_score`` over trials with status ok, ``rank`` and
    ``tied`` (:func:`rank_with_ties`), ``n_trials`` and ``n_failed`` (attempted, not ok), the median
    of each of :data:`MEDIAN_COLUMNS` over ok trials with ``train_s_q1``/``train_s_q3``, ``noisy_share``
    (share of ok trials flagged ``timing_noisy``), ``reference``,
    and time and cost to target (``ttt_median``, ``success_rate``, ``n_reached``, ``ctt_median``;
    NaN when the task has no target) over every attempted trial, failures counting as misses.
    """
    trials = task_trials[task_trials["status"] != "skipped"] if "status" in task_trials else task_trials
    has_target = "target" in trials and bool(np.isfinite(_numeric(trials, "target")).any())
    numeric = ("test_score", "time_to_target_s", "cost_to_target_usd", *MEDIAN_COLUMNS)
    trials = trials.assign(**{column: _numeric(trials, column) for column in numeric})
    rows = []
    for label, group in trials.groupby("arch_label", sort=True, dropna=False):
        ok = group[group["status"] == "ok"]
        quality = mean_interval(_numeric(ok, "test_score"))
        train = median_iqr(_numeric(ok, "train_s"))
        row = {
            "arch_label": label,
            "architecture": group["architecture"].iloc[0],
            "arch_config": group["arch_config"].iloc[0] if "arch_config" in group else None,
            "reference": bool("reference" in group and any(_truthy(v) for v in group["reference"])),
            "n": quality.n,
            "mean": quality.mean,
            "std": quality.std,
            "ci_low": quality.low,
            "ci_high": quality.high,
            "n_trials": len(group),
            "n_failed": int((group["status"] != "ok").sum()),
            "train_s_q1": train.q1,
            "train_s_q3": train.q3,
        }
        for column in MEDIAN_COLUMNS:
            row[column] = median_iqr(_numeric(ok, column)).median
        noisy = [_truthy(v) for v in ok["timing_noisy"]] if "timing_noisy" in ok else []
        row["noisy_share"] = float(np.mean(noisy)) if noisy else math.nan
        row["train_s"] = train.median
        if has_target:
            reached = [
                status == "ok" and _truthy(hit)
                for status, hit in zip(
                    group["status"], group.get("reached_target", [None] * len(group)), strict=True
                )
            ]
            ttt = time_to_target(_numeric(group, "time_to_target_s"), reached)
            costs = _numeric(group, "cost_to_target_usd")
            ctt = time_to_target(costs, reached)
            if not np.isfinite(costs[np.array(reached, dtype=bool)]).all():  # a cost not measured
                ctt = TimeToTarget(math.nan, ctt.success_rate, ctt.reached, ctt.n)
            row |= {
                "ttt_median": ttt.median,
                "success_rate": ttt.success_rate,
                "n_reached": ttt.reached,
                "ctt_median": ctt.median,
            }
        else:
            row |= {"ttt_median": math.nan, "success_rate": math.nan, "n_reached": 0, "ctt_median": math.nan}
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    ranks, tied = rank_with_ties(
        board["mean"], board["ci_low"], board["ci_high"], higher_is_better=higher_is_better
    )
    board["rank"], board["tied"] = ranks, tied
    board["_key"] = -board["mean"] if higher_is_better else board["mean"]
    board = board.sort_values(["rank", "_key", "arch_label"], na_position="last", kind="stable")
    return board.drop(columns="_key").reset_index(drop=True)


def curve_band(points: pd.DataFrame, by: str = "arch_label") -> pd.DataFrame:
    """Aggregate learning curves over seeds: per group and evaluation step, the mean and the range.

    ``points`` has columns ``by``, ``step``, ``train_s`` and ``value`` (one row per trial and
    evaluation). The result has one row per (group, step): ``train_s`` (median over the trials at
    that step), ``mean``, ``low`` and ``high`` (the lowest and highest trial) and ``n`` (trials),
    sorted by group and step.
    """
    columns = [by, "step", "train_s", "mean", "low", "high", "n"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    frame = points[[by, "step", "train_s", "value"]].copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["train_s"] = pd.to_numeric(frame["train_s"], errors="coerce").astype(float)
    frame = frame[np.isfinite(frame["value"])]
    grouped = frame.groupby([by, "step"], sort=True)
    band = grouped.agg(
        train_s=("train_s", "median"),
        mean=("value", "mean"),
        low=("value", "min"),
        high=("value", "max"),
        n=("value", "size"),
    ).reset_index()
    return band[columns]


# ---------------------------------------------------------------------------------------------
# tuning studies and scaling sweeps


def best_so_far(values: Iterable[Any], *, higher_is_better: bool = True) -> np.ndarray:
    """The best value among the first ``i + 1`` of ``values``, for each ``i`` (a tuning curve).

    Missing values (a tuning trial that failed) carry the best so far forward; positions before the
    first finite value are NaN.
    """
    array = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    out = np.full(len(array), np.nan)
    best = math.nan
    for i, value in enumerate(array):
        if math.isfinite(value) and (
            math.isnan(best) or (value > best if higher_is_better else value < best)
        ):
            best = value
        out[i] = best
    return out


def best_index(values: Sequence[Any], *, higher_is_better: bool = True) -> int | None:
    """Position of the best finite value (the first of equal ones, as a study selects); None if none."""
    array = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    finite = np.flatnonzero(np.isfinite(array))
    if not len(finite):
        return None
    scores = array[finite] if higher_is_better else -array[finite]
    return int(finite[int(np.argmax(scores))])  # argmax returns the first of equal maxima


@dataclass(frozen=True)
class PowerLawFit:
    """``y = exp(intercept) * x ** exponent``, fitted on ``n`` points of ``x`` from ``x_min`` to ``x_max``.

    ``low`` and ``high`` bound the exponent's interval at ``confidence``.
    """

    exponent: float
    intercept: float
    low: float
    high: float
    n: int
    x_min: float
    x_max: float
    confidence: float = CONFIDENCE

    @property
    def interval(self) -> tuple[float, float]:
        """The exponent's confidence interval ``(low, high)``."""
        return self.low, self.high

    def predict(self, x: Any) -> np.ndarray:
        """The fitted ``y`` at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.exponent


def power_law_fit(x: Sequence[float], y: Sequence[float], *, confidence: float = CONFIDENCE) -> PowerLawFit:
    """Fit ``log(y) = a + b log(x)`` by ordinary least squares; ``b`` is the power law's exponent.

    The exponent's interval is ``b ± t * se(b)``, with the OLS standard error
    ``se(b) = sqrt(SSR / (n - 2) / sum((log x - mean log x) ** 2))`` and ``t`` the two-sided
    ``confidence`` quantile of Student's t on ``n - 2`` degrees of freedom; points on an exact power
    law give an interval of width zero (up to rounding). Refuses (ValueError) fewer than three points,
    values that are not finite and positive (they have no logarithm), and x values that are all equal.
    """
    from scipy.stats import t as student_t

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be one-dimensional and of the same length")
    n = len(x)
    if n < 3:
        raise ValueError(f"a power-law fit needs at least 3 points, got {n}")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and (x > 0).all() and (y > 0).all()):
        raise ValueError("a power-law fit needs finite, positive x and y (it fits their logarithms)")
    log_x, log_y = np.log(x), np.log(y)
    centred = log_x - log_x.mean()
    spread = float(np.sum(centred**2))
    if spread == 0:
        raise ValueError("a power-law fit needs at least two distinct x values")
    slope = float(np.sum(centred * (log_y - log_y.mean())) / spread)
    intercept = float(log_y.mean() - slope * log_x.mean())
    residual = log_y - (intercept + slope * log_x)
    stderr = math.sqrt(float(np.sum(residual**2)) / (n - 2) / spread)
    half = float(student_t.ppf(0.5 + confidence / 2, n - 2)) * stderr
    return PowerLawFit(
        slope, intercept, slope - half, slope + half, n, float(x.min()), float(x.max()), confidence
    )


def compute_frontier(
    compute: Sequence[float], quality: Sequence[float], *, higher_is_better: bool = True
) -> np.ndarray:
    """Indices of the compute-efficient frontier, cheapest first.

    Over the points sorted by ``compute`` (e.g. training FLOPs), a point is on the frontier when its
    quality is better than that of every cheaper point: each one is where spending more compute first
    buys a better result. Of points with equal compute only the best can be on it; points with a
    missing coordinate never are (see :func:`pareto_front`, whose mask this orders).
    """
    compute = np.asarray(compute, dtype=float)
    on = np.flatnonzero(pareto_front(compute, quality, higher_is_better=higher_is_better))
    return on[np.argsort(compute[on], kind="stable")]
