"""Every statistic a report shows, in one module: intervals, medians, time to target, leaderboards,
performance profiles, Pareto fronts, tuning curves and scaling fits.

The rules come from MEASUREMENT.md ("Across seeds and trials") and VERDICTS.md:

- quality: mean, standard deviation and a 95% Student-t interval of the mean over seeds
  (:func:`mean_interval`; one seed has no interval);
- who wins a task, by how much and how sure, and the ranks: the verdict procedure of
  :mod:`nnbench.verdict` (paired t-intervals, Bonferroni, shared ranks unless a test separates),
  read from a task's trials by :func:`verdict_of_task` and put in every :func:`leaderboard`;
- times: median and interquartile range (:func:`median_iqr`);
- time to target: the median with misses counted as infinite, success rate beside it
  (:func:`time_to_target`);
- across tasks: an AlgoPerf-style performance profile of times to target (:func:`performance_profile`);
  scores across tasks on fixed anchors are in :mod:`nnbench.across_tasks`;
- tuning studies: the best score so far (:func:`best_so_far`) and the one a study selects
  (:func:`best_index`);
- size sweeps: a power law fitted by least squares on logarithms with a t interval for its exponent
  (:func:`power_law_fit`), and the compute-efficient frontier (:func:`compute_frontier`).

Everything here is a pure function of numbers (numpy arrays, pandas frames); nothing reads the store
or writes files, so each is tested against known answers in ``tests/test_stats.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nnbench import verdict
from nnbench.types import Margin

CONFIDENCE = 0.95
ALPHA = verdict.ALPHA  # the error rate of a verdict (see nnbench.verdict)
# Kept for the report's summary wording; verdicts themselves need 2 seeds a side (verdict.MIN_SEEDS).
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


MeanInterval = verdict.MeanInterval


def mean_interval(values: Iterable[float], *, confidence: float = CONFIDENCE) -> MeanInterval:
    """Mean, standard deviation (ddof=1) and 95% Student-t interval of the mean of the finite ``values``.

    See :func:`nnbench.verdict.mean_interval`: with one value the mean is that value and the rest
    NaN; with none everything is NaN.
    """
    return verdict.mean_interval(list(_finite(values)), confidence=confidence)


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


def ran_to_time_cap(
    train_s: Iterable[Any], budget_s: Iterable[Any] | None, tolerance: float = 0.05
) -> float | None:
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

    Missing cells stay NaN. A task whose finite scores are all equal gives each of them 1. These
    scores move when an entry joins the suite: they colour a heatmap, nothing more. Scores compared
    across tasks use each task's fixed anchors (:func:`nnbench.across_tasks.normalize`).
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
# one task's trials: the leaderboard and its learning curves


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Column ``column`` of ``frame`` as floats: NaN where a value is missing or not a number, or where
    the frame has no such column (a store or an export written before the column existed)."""
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


def _scored(task_trials: pd.DataFrame) -> pd.DataFrame:
    """The trials a verdict reads: status ok, not a tuning study's trial."""
    trials = task_trials
    if "stage" in trials:
        trials = trials[trials["stage"].fillna("main").astype(str) != "tune"]
    if "status" in trials:
        trials = trials[trials["status"] == "ok"]
    return trials


def task_samples(task_trials: pd.DataFrame) -> dict[str, dict[Any, float]]:
    """``{arch_label: {seed: test_score}}`` of one task's trials that finished ok (tuning trials left out).

    Labels with no score (every trial failed) map to ``{}``. Where one label holds two scores of one
    seed (e.g. a store with a CPU and a GPU run of it) both are kept, keyed ``(seed, i)``, which
    unpairs that label (Welch's interval) rather than silently dropping a trial.
    """
    out: dict[str, dict[Any, float]] = {}
    labels = task_trials["arch_label"] if "arch_label" in task_trials else task_trials["architecture"]
    for label in labels.dropna().astype(str).unique():
        out[label] = {}
    scored = _scored(task_trials)
    if scored.empty:
        return out
    scored_labels = scored["arch_label"] if "arch_label" in scored else scored["architecture"]
    seeds = scored["seed"] if "seed" in scored else pd.Series(range(len(scored)), index=scored.index)
    frame = pd.DataFrame(
        {"label": scored_labels, "seed": seeds, "score": numeric_column(scored, "test_score")}
    )
    frame = frame[frame["label"].notna()]
    for label, group in frame.groupby(frame["label"].astype(str), sort=False):
        pairs = [
            (seed, float(score))
            for seed, score in zip(group["seed"].tolist(), group["score"].tolist(), strict=True)
            if math.isfinite(score)
        ]
        keys = [seed for seed, _ in pairs]
        if len(set(keys)) < len(keys):
            out[label] = {(seed, i): score for i, (seed, score) in enumerate(pairs)}
        else:
            out[label] = dict(pairs)
    return out


def _first_value(frame: pd.DataFrame, column: str) -> Any:
    if column not in frame:
        return None
    values = frame[column].dropna()
    return values.iloc[0] if len(values) else None


def task_margin(task_trials: pd.DataFrame) -> Margin | None:
    """The equivalence margin the task's trials recorded (``margin``, ``margin_relative``); None if none."""
    value = _first_value(_scored(task_trials), "margin")
    if value is None:
        value = _first_value(task_trials, "margin")
    if value is None:
        return None
    relative = _first_value(task_trials[task_trials["margin"].notna()], "margin_relative")
    return Margin(float(value), relative=bool(relative) if relative is not None else False)


def task_anchors(task_trials: pd.DataFrame) -> tuple[float, float] | None:
    """The ``(zero, one)`` normalisation anchors the task's trials recorded; None if none."""
    value = _first_value(task_trials, "anchors")
    if value is None or len(value) != 2:
        return None
    zero, one = float(value[0]), float(value[1])
    return (zero, one) if math.isfinite(zero) and math.isfinite(one) and zero != one else None


def _config(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def task_labels(results: pd.DataFrame) -> pd.Series:
    """Per row, its task's name, plus the options that tell configurations of one task apart.

    ``tabular-real`` when a store holds one configuration of it; ``tabular-real dataset=wine`` and
    ``tabular-real dataset=breast_cancer`` when it holds two: two configurations are two tasks, never
    one leaderboard.
    """
    if results.empty:
        return pd.Series([], index=results.index, dtype=object)
    names = results["task"].astype(str).tolist()
    configs = results["task_config"] if "task_config" in results else [None] * len(results)
    # A store repeats a handful of configurations over many trials: each distinct one is read once.
    keys = [
        (name, value if isinstance(value, str | None) else json.dumps(value, sort_keys=True, default=str))
        for name, value in zip(names, configs, strict=True)
    ]
    parsed = {key: _config(key[1]) for key in dict.fromkeys(keys)}
    variants: dict[str, dict[str, dict]] = {}  # name -> config key -> config
    for (name, _), config in parsed.items():
        variants.setdefault(name, {})[json.dumps(config, sort_keys=True, default=str)] = config
    differing: dict[str, list[str]] = {}
    for name, by_key in variants.items():
        options = {option for config in by_key.values() for option in config}
        differing[name] = sorted(
            option
            for option in options
            if len({json.dumps(c.get(option), default=str) for c in by_key.values()}) > 1
        )
    label_of = {
        key: " ".join([key[0], *(f"{option}={config.get(option)}" for option in differing[key[0]])])
        for key, config in parsed.items()
    }
    return pd.Series([label_of[key] for key in keys], index=results.index, dtype=object)


def task_metric(task_trials: pd.DataFrame) -> str:
    """The name of the task's primary metric its trials recorded; ``score`` when none did."""
    value = _first_value(task_trials, "metric")
    return "score" if value is None else str(value)


def task_direction(task_trials: pd.DataFrame) -> bool:
    """Whether higher is better on this task (from its trials' records; True when none recorded it)."""
    value = _first_value(task_trials, "higher_is_better")
    return True if value is None else bool(value)


def planned_looks(trials: pd.DataFrame) -> verdict.Looks:
    """The looks adaptive seeds planned for these trials; one look (:data:`nnbench.verdict.ONE_LOOK`)
    for a fixed list of seeds and for stores written before adaptive seeds.

    Every trial of a run with ``seeds: {min, max}`` records ``looks`` (how many: ``max - min + 1``),
    ``seeds_min`` and ``seeds_max`` (where the group-sequential boundary puts them). A store may hold
    one task's trials from runs with different plans (a fixed list, then adaptive seeds): the plan
    with the most looks wins, the most cautious reading (its boundary spends alpha over the most
    looks). Trials that recorded a count of looks without its seeds get Bonferroni over that count,
    which holds alpha whatever the looks' seed counts.
    """
    plans: set[tuple[int, int]] = set()
    if "seeds_min" in trials and "seeds_max" in trials:
        low = numeric_column(trials, "seeds_min")
        high = numeric_column(trials, "seeds_max")
        for lo, hi in zip(low, high, strict=True):
            if np.isfinite(lo) and np.isfinite(hi) and verdict.MIN_SEEDS <= lo <= hi:
                plans.add((int(lo), int(hi)))
    counted = 1
    if "looks" in trials:
        looks = numeric_column(trials, "looks")
        looks = looks[np.isfinite(looks)]
        counted = int(looks.max()) if len(looks) else 1
    if plans:
        low, high = max(plans, key=lambda plan: (plan[1] - plan[0], plan[1]))
        if high - low + 1 >= counted:
            return verdict.Looks(low, high)
    if counted > 1:
        return verdict.Looks(verdict.MIN_SEEDS, verdict.MIN_SEEDS + counted - 1, verdict.BONFERRONI)
    return verdict.ONE_LOOK


def verdict_of_task(
    task_trials: pd.DataFrame,
    higher_is_better: bool | None = None,
    *,
    margin: Margin | float | None = None,
    alpha: float = ALPHA,
    looks: verdict.Looks | int | None = None,
) -> verdict.TaskVerdict:
    """The verdict of one task from its trial rows (:func:`nnbench.verdict.task_verdict`).

    The direction, the margin and the planned looks default to what the trials recorded
    (:func:`task_direction`, :func:`task_margin`, :func:`planned_looks`): the verdict a store's reader
    gets is the one the run that wrote the trials decided with. Pass ``margin`` or ``looks`` to
    override them.
    """
    direction = task_direction(task_trials) if higher_is_better is None else higher_is_better
    return verdict.task_verdict(
        task_samples(task_trials),
        higher_is_better=direction,
        margin=task_margin(task_trials) if margin is None else margin,
        alpha=alpha,
        looks=planned_looks(task_trials) if looks is None else looks,
    )


def leaderboard(
    task_trials: pd.DataFrame,
    higher_is_better: bool,
    *,
    margin: Margin | float | None = None,
    alpha: float = ALPHA,
    looks: verdict.Looks | int | None = None,
    task_verdict: verdict.TaskVerdict | None = None,
) -> pd.DataFrame:
    """One row per architecture label of one task, best first; unscored architectures last, unranked.

    ``task_trials`` are result rows (``arch_label``, ``architecture``, ``status``, ``test_score`` and
    the measured columns); skipped trials (n/a pairs) are left out. Columns: ``n`` (seeds scored),
    ``mean``/``std`` of ``test_score`` over trials with status ok and ``ci_low``/``ci_high``, the 95%
    t-interval of the mean (NaN with one seed), ``rank`` and ``tied`` (a rank held by several) from
    the task's verdict (:func:`verdict_of_task`: rank 1 is the leader and every entry not decided
    worse than it, and so on; a one-seed entry is never decided worse, so never ranked apart),
    ``outcome`` against the leader ("leader", "worse", "equivalent", "undecided"), ``difference``
    (leader minus entry, oriented: positive means the leader is ahead) with ``diff_low``/``diff_high``
    (its Bonferroni interval), ``seeds_needed`` (undecided: seeds per entry that would likely decide
    it), ``n_trials`` and ``n_failed`` (attempted, not ok), the median
    of each of :data:`MEDIAN_COLUMNS` over ok trials with ``train_s_q1``/``train_s_q3``, ``noisy_share``
    (share of ok trials flagged ``timing_noisy``), ``reference``,
    and time and cost to target (``ttt_median``, ``success_rate``, ``n_reached``, ``ctt_median``;
    NaN when the task has no target) over every attempted trial, failures counting as misses.
    ``task_verdict``: the task's verdict when the caller has it (the same as :func:`verdict_of_task`).
    """
    trials = task_trials[task_trials["status"] != "skipped"] if "status" in task_trials else task_trials
    has_target = "target" in trials and bool(np.isfinite(numeric_column(trials, "target")).any())
    numeric = ("test_score", "time_to_target_s", "cost_to_target_usd", *MEDIAN_COLUMNS)
    trials = trials.assign(**{column: numeric_column(trials, column) for column in numeric})
    # The loop below reads these columns only: grouping a narrow frame is what keeps a task of
    # 50 entries x 100 seeds fast (each group of the full frame copies every measured column).
    used = (
        "arch_label",
        "architecture",
        "arch_config",
        "reference",
        "status",
        "timing_noisy",
        "reached_target",
    )
    narrow = trials[[c for c in (*used, *numeric) if c in trials]]
    ok_trials = narrow[narrow["status"] == "ok"]
    # medians of the finite values, like median_iqr's (a store holds no infinities: JSON has none)
    medians = (
        ok_trials[["arch_label", *MEDIAN_COLUMNS]]
        .replace([np.inf, -np.inf], np.nan)
        .groupby("arch_label", sort=True, dropna=False)
        .median()
    )
    medians_of = medians.to_dict("index")
    # Per entry, positions into plain arrays: a pandas selection per entry and column costs more than
    # everything computed from it (1,000 entries x 15 columns on a large store).
    column = {name: narrow[name].to_numpy() for name in narrow}
    is_ok = column["status"] == "ok"
    rows = []
    for label, index in narrow.groupby("arch_label", sort=True, dropna=False).indices.items():
        ok = index[is_ok[index]]
        quality = mean_interval(column["test_score"][ok])
        train = median_iqr(column["train_s"][ok])
        row = {
            "arch_label": label,
            "architecture": column["architecture"][index[0]],
            "arch_config": column["arch_config"][index[0]] if "arch_config" in column else None,
            "reference": bool("reference" in column and any(_truthy(v) for v in column["reference"][index])),
            "n": quality.n,
            "mean": quality.mean,
            "std": quality.std,
            "ci_low": quality.low,
            "ci_high": quality.high,
            "n_trials": len(index),
            "n_failed": int(len(index) - len(ok)),
            "train_s_q1": train.q1,
            "train_s_q3": train.q3,
        }
        for name in MEDIAN_COLUMNS:
            row[name] = float(medians_of[label][name]) if label in medians_of else math.nan
        noisy = [_truthy(v) for v in column["timing_noisy"][ok]] if "timing_noisy" in column else []
        row["noisy_share"] = float(np.mean(noisy)) if noisy else math.nan
        row["train_s"] = train.median
        if has_target:
            hits = column["reached_target"][index] if "reached_target" in column else [None] * len(index)
            reached = [bool(good) and _truthy(hit) for good, hit in zip(is_ok[index], hits, strict=True)]
            ttt = time_to_target(column["time_to_target_s"][index], reached)
            costs = column["cost_to_target_usd"][index]
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
    # A caller that already holds the task's verdict passes it: it is the costliest part at scale.
    task = task_verdict or verdict_of_task(trials, higher_is_better, margin=margin, alpha=alpha, looks=looks)
    _add_verdict(board, task)
    board["_key"] = -board["mean"] if higher_is_better else board["mean"]
    board = board.sort_values(["rank", "_key", "arch_label"], na_position="last", kind="stable")
    return board.drop(columns="_key").reset_index(drop=True)


def _add_verdict(board: pd.DataFrame, task: verdict.TaskVerdict) -> None:
    """The verdict's columns on a leaderboard (in place): rank, tied, outcome, difference, seeds needed."""
    labels = board["arch_label"].astype(str)
    ranks = labels.map(task.ranks).astype(float)
    counts = ranks.value_counts()
    board["rank"] = ranks
    board["tied"] = [bool(np.isfinite(r) and counts.get(r, 0) > 1) for r in ranks]
    outcome, diff, low, high, needed = [], [], [], [], []
    for label in labels:
        comparison = task.comparison(label)
        if comparison is None:
            outcome.append(verdict.LEADER if label == task.leader else None)
            diff.append(0.0 if label == task.leader else math.nan)
            low.append(math.nan)
            high.append(math.nan)
            needed.append(None)
            continue
        d = comparison.difference
        outcome.append(comparison.outcome)
        diff.append(d.estimate)
        low.append(d.low)
        high.append(d.high)
        needed.append(comparison.seeds_needed)
    board["outcome"], board["difference"] = outcome, diff
    board["diff_low"], board["diff_high"], board["seeds_needed"] = low, high, needed


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
