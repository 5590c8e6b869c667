"""Scores across tasks: fixed anchors, IQM and mean with stratified-bootstrap intervals, probability
of improvement, performance profiles with bands, and first places.

After Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(their ``rliable`` library is not a dependency; this module implements the paper's definitions):

- a run's score on a task is **normalised with the task's fixed anchors** (:func:`normalize`):
  ``(score - zero) / (one - zero)``, where ``zero`` is chance level or a trivial model and ``one`` the
  task's target (see each task's ``metric()``); never against whoever else is in the suite, so adding
  an entry moves no one else's score. 1 means "reached the target", above 1 beyond it, below 0 worse
  than chance;
- **tasks are strata and seeds the random draws**: intervals come from the stratified bootstrap,
  which resamples each task's runs with replacement and keeps the tasks fixed, and read the 2.5th and
  97.5th percentiles (the paper's percentile intervals) of ``BOOTSTRAP_RESAMPLES`` seeded resamples;
- every task weighs the same whatever its number of seeds (adaptive seeds give tasks different
  counts): a run on a task with ``N`` seeds among ``M`` tasks weighs ``1 / (M N)``.

Inputs are plain mappings ``{task: [normalised score of each run]}`` for one entry, so the caller
decides which tasks count: comparisons of two entries use only the tasks both competed on
(:func:`common_tasks`). Everything here is a pure function of numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nnbench import verdict

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95

Runs = Mapping[str, Sequence[float]]  # task -> one entry's normalised scores, one per run (seed)


def normalize(values: Iterable[float] | float, anchors: tuple[float, float]) -> np.ndarray:
    """``(value - zero) / (one - zero)`` with the task's fixed anchors ``(zero, one)``.

    Works for both directions: for a lower-is-better metric ``zero`` is the larger value, so a
    better (lower) score still maps higher.
    """
    zero, one = float(anchors[0]), float(anchors[1])
    if not (math.isfinite(zero) and math.isfinite(one)) or zero == one:
        raise ValueError(f"anchors must be two different finite numbers, got {anchors!r}")
    return (np.asarray(values, dtype=float) - zero) / (one - zero)


def _clean(runs: Runs) -> dict[str, np.ndarray]:
    out = {}
    for task, values in runs.items():
        array = np.asarray(list(values), dtype=float)
        array = array[np.isfinite(array)]
        if len(array):
            out[str(task)] = array
    return out


def common_tasks(*entries: Runs) -> list[str]:
    """The tasks on which every one of ``entries`` has at least one finite score, sorted."""
    sets = [set(_clean(runs)) for runs in entries]
    return sorted(set.intersection(*sets)) if sets else []


def restrict(runs: Runs, tasks: Iterable[str]) -> dict[str, Sequence[float]]:
    """``runs`` on ``tasks`` only."""
    keep = set(tasks)
    return {task: values for task, values in runs.items() if task in keep}


# ---------------------------------------------------------------------------------------------
# statistics of weighted runs


def weighted_iqm(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interquartile mean along the last axis: the mean of the middle half of the weight.

    Values are sorted; each keeps the part of its weight that lies between the 25% and the 75% of the
    total, and the IQM is the kept-weight mean. With equal weights and a count divisible by 4 this is
    the usual 25% trimmed mean (``scipy.stats.trim_mean(x, 0.25)``); otherwise the boundary values
    count in part instead of being dropped whole. ``values`` is ``(..., n)``, ``weights`` ``(n,)``.
    """
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, axis=-1, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=-1)
    w = np.broadcast_to(np.asarray(weights, dtype=float), values.shape)
    w = np.take_along_axis(w, order, axis=-1)
    w = w / w.sum(axis=-1, keepdims=True)
    upper = np.cumsum(w, axis=-1)
    lower = upper - w
    kept = np.clip(np.minimum(upper, 0.75) - np.maximum(lower, 0.25), 0.0, None)
    return (sorted_values * kept).sum(axis=-1) / kept.sum(axis=-1)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean along the last axis."""
    w = np.asarray(weights, dtype=float)
    return (np.asarray(values, dtype=float) * w).sum(axis=-1) / w.sum()


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "iqm": weighted_iqm,
    "mean": weighted_mean,
}


def _iqm_of_counts(values: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """:func:`weighted_iqm` of each resample given as ``counts`` ``(R, n)`` of the runs ``values`` ``(n,)``.

    A resample holds copies of the runs, so sorting the runs once orders every resample: each run's
    weight is its own times its count, and no resample is sorted. The arithmetic is done in place on
    one ``(R, n)`` array (with 2,000 resamples of 2,000 runs, each pass is 32 MB).
    """
    order = np.argsort(values, kind="stable")
    w = counts.take(order, axis=1)  # C-ordered (counts[:, order] is F-ordered: its cumsum is 6x slower)
    w *= weights[order]
    w /= w.sum(axis=1, keepdims=True)
    upper = np.cumsum(w, axis=1)
    lower = np.subtract(upper, w, out=w)
    np.maximum(lower, 0.25, out=lower)
    np.minimum(upper, 0.75, out=upper)
    kept = np.subtract(upper, lower, out=upper)
    np.clip(kept, 0.0, None, out=kept)
    return (kept @ values[order]) / kept.sum(axis=1)


def _mean_of_counts(values: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """:func:`weighted_mean` of each resample given as ``counts`` ``(R, n)``."""
    w = counts * weights
    return (w @ values) / w.sum(axis=1)


_OF_COUNTS = {"iqm": _iqm_of_counts, "mean": _mean_of_counts}


@dataclass(frozen=True)
class Estimate:
    """A statistic across tasks with its stratified-bootstrap interval, over ``tasks`` and ``runs``."""

    value: float
    low: float
    high: float
    tasks: int
    runs: int

    def as_dict(self, digits: int = 4) -> dict:
        """Plain data for JSON."""
        return {
            "value": _round(self.value, digits),
            "interval": [_round(self.low, digits), _round(self.high, digits)],
            "tasks": self.tasks,
            "runs": self.runs,
        }


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return low, high


def _pooled(runs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All runs in one array and each one's weight ``1 / (tasks * runs of its task)``."""
    tasks = sorted(runs)
    values = np.concatenate([runs[t] for t in tasks])
    weights = np.concatenate([np.full(len(runs[t]), 1.0 / (len(tasks) * len(runs[t]))) for t in tasks])
    return values, weights


def _stratified_counts(runs: dict[str, np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """``(resamples, total runs)``: how often each run is drawn when each task's runs are drawn with
    replacement and the tasks kept (the stratified bootstrap), in :func:`_pooled`'s order."""
    blocks = [
        _task_counts(len(runs[t]), resamples, seed, position) for position, t in enumerate(sorted(runs))
    ]
    return np.concatenate(blocks, axis=1, dtype=float)


def task_draws(size: int, resamples: int, seed: int, position: int, side: int = 0) -> np.ndarray:
    """``(resamples, size)``: the indices drawn with replacement from the ``size`` runs of an entry's
    task at ``position`` (of its sorted tasks); ``side`` 1 for the second entry of a comparison.

    Each task has a random stream of its own, keyed by ``(seed, position, size, side)``: the tasks'
    draws are independent, and entries with the same run counts share them, so a store of many
    entries draws each task's resamples once (:func:`_task_counts` caches their counts).
    """
    rng = np.random.default_rng([seed, position, size, side])
    return rng.integers(0, size, size=(resamples, size))


@functools.lru_cache(maxsize=256)
def _task_counts(size: int, resamples: int, seed: int, position: int, side: int = 0) -> np.ndarray:
    # The smallest integers that hold a count (at most the task's runs) keep the cache small: 200 kB
    # for 2,000 resamples of 100 runs, so at most about 50 MB for tasks of 100 seeds. Read-only: shared.
    drawn = task_draws(size, resamples, seed, position, side)
    dtype = np.uint8 if size < 2**8 else np.uint16 if size < 2**16 else np.int64
    counts = _counts_of_draws(drawn, size).astype(dtype)
    counts.flags.writeable = False
    return counts


def aggregate(
    runs: Runs,
    statistic: str = "iqm",
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> Estimate:
    """The IQM (``statistic="iqm"``) or mean (``"mean"``) of one entry's normalised runs across tasks,
    with a stratified-bootstrap percentile interval. NaNs when there are no runs."""
    return aggregates(runs, (statistic,), resamples=resamples, seed=seed, confidence=confidence)[statistic]


def aggregates(
    runs: Runs,
    statistics: Sequence[str] = tuple(STATISTICS),
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Estimate]:
    """``{"iqm": ..., "mean": ...}`` of one entry's runs (see :func:`aggregate`), over the same resamples."""
    clean = _clean(runs)
    if not clean:
        return {name: Estimate(math.nan, math.nan, math.nan, 0, 0) for name in statistics}
    values, weights = _pooled(clean)
    counts = _stratified_counts(clean, resamples, seed)
    out = {}
    for name in statistics:
        low, high = _percentiles(_OF_COUNTS[name](values, weights, counts), confidence)
        point = float(STATISTICS[name](values, weights))
        out[name] = Estimate(point, float(low), float(high), len(clean), len(values))
    return out


# ---------------------------------------------------------------------------------------------
# two entries: the probability of improvement


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over every pair of runs; ``x`` ``(..., n)``, ``y`` ``(..., m)``."""
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def _improvement_of_counts(
    x: np.ndarray, y: np.ndarray, x_counts: np.ndarray, y_counts: np.ndarray
) -> np.ndarray:
    """:func:`_improvement` of each resample given as counts ``(R, n)`` of ``x`` and ``(R, m)`` of ``y``.

    With ``y`` sorted once, the resample's count of y-runs below (and equal to) each x-run is a
    difference of cumulative counts: ``O(R (n + m))`` per resample set instead of ``O(R n m)``.
    """
    order = np.argsort(y, kind="stable")
    cumulative = np.concatenate(
        [np.zeros((len(y_counts), 1)), np.cumsum(y_counts.take(order, axis=1), axis=1, dtype=float)], axis=1
    )
    below = cumulative[:, np.searchsorted(y[order], x, side="left")]  # (R, n): y-runs < each x-run
    up_to = cumulative[:, np.searchsorted(y[order], x, side="right")]  # (R, n): y-runs <= each x-run
    wins = (x_counts * (below + 0.5 * (up_to - below))).sum(axis=1)
    return wins / (len(x) * len(y))


def _counts_of_draws(drawn: np.ndarray, size: int) -> np.ndarray:
    """``(resamples, size)``: how often each of ``size`` runs is drawn in each resample with
    replacement, from the drawn indices ``(resamples, size)``.

    A statistic that is a sum over the drawn runs becomes a matrix product with these counts, with no
    copy of the runs.
    """
    resamples = len(drawn)
    offsets = (np.arange(resamples) * size)[:, None]
    return np.bincount((drawn + offsets).ravel(), minlength=resamples * size).reshape(resamples, size)


def probability_of_improvement(
    x: Runs,
    y: Runs,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> Estimate:
    """P(X > Y): the chance that a run of X beats a run of Y on a task drawn at random, with its interval.

    Over the tasks both competed on only: per task the Mann-Whitney statistic
    ``P(x > y) + P(x = y) / 2`` over every pair of their runs, then the mean over tasks (Agarwal et
    al., 2021). Scores need not be normalised (only their order on each task counts). The interval
    resamples X's runs and Y's runs independently within each task (stratified bootstrap). 0.5 means
    no tendency either way; NaNs when they share no task.
    """
    cx, cy = _clean(x), _clean(y)
    tasks = sorted(set(cx) & set(cy))
    if not tasks:
        return Estimate(math.nan, math.nan, math.nan, 0, 0)
    point = float(np.mean([_improvement(cx[t], cy[t]) for t in tasks]))
    boot = np.zeros(resamples)
    for position, task in enumerate(tasks):
        x_counts = _task_counts(len(cx[task]), resamples, seed, position, 0)
        y_counts = _task_counts(len(cy[task]), resamples, seed, position, 1)
        boot += _improvement_of_counts(cx[task], cy[task], x_counts, y_counts)
    boot /= len(tasks)
    low, high = _percentiles(boot, confidence)
    runs = sum(len(cx[t]) + len(cy[t]) for t in tasks)
    return Estimate(point, float(low), float(high), len(tasks), runs)


# ---------------------------------------------------------------------------------------------
# performance profiles (score distributions)


@dataclass(frozen=True)
class Profile:
    """A performance profile: at each threshold ``tau``, the share of runs scoring above it, with a band."""

    taus: np.ndarray
    share: np.ndarray
    low: np.ndarray
    high: np.ndarray
    tasks: int
    runs: int


def default_taus(*entries: Runs, points: int = 101) -> np.ndarray:
    """Thresholds from min(0, lowest score) to max(1, highest score): the whole range of the runs."""
    values = [v for runs in entries for array in _clean(runs).values() for v in array]
    low = min([0.0, *values])
    high = max([1.0, *values])
    return np.linspace(low, high, points)


def performance_profile(
    runs: Runs,
    taus: Sequence[float] | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> Profile:
    """The run-score distribution of Agarwal et al. (2021): ``F(tau)`` is the share of runs whose
    normalised score exceeds ``tau``, each task weighing the same, with pointwise stratified-bootstrap
    percentile bands. A curve above another everywhere is better everywhere (stochastic dominance)."""
    clean = _clean(runs)
    taus = np.asarray(default_taus(runs) if taus is None else taus, dtype=float)
    if not clean:
        nan = np.full(len(taus), np.nan)
        return Profile(taus, nan, nan, nan, 0, 0)
    values, weights = _pooled(clean)
    share = ((values[None, :] > taus[:, None]) * weights).sum(axis=1)
    # A resample's share above tau is a count-weighted sum of the runs' indicators: one matrix product
    # (resamples x runs) @ (runs x taus) instead of a resamples x taus x runs comparison.
    counts = _stratified_counts(clean, resamples, seed)
    above = (values[:, None] > taus[None, :]) * weights[:, None]  # (runs, taus)
    boot_share = counts @ above  # (R, taus)
    low, high = _percentiles(boot_share, confidence)
    return Profile(taus, share, low, high, len(clean), len(values))


# ---------------------------------------------------------------------------------------------
# first places


@dataclass(frozen=True)
class Places:
    """One entry's places over tasks; only tasks where it competed against at least one rival count.

    ``competed``: tasks where the entry and at least one other entry were scored. ``first``: of
    those, tasks where it holds rank 1 (the leader, or not decided worse than the leader: a shared
    first place). ``sole``: tasks where it is the leader and every rival is decided worse.
    """

    competed: int = 0
    first: int = 0
    sole: int = 0


def first_places(verdicts: Mapping[str, verdict.TaskVerdict]) -> dict[str, Places]:
    """Per entry label, its :class:`Places` over the tasks' verdicts.

    A task counts for an entry only when the entry was scored on it (at least one seed finished ok)
    and at least one other entry was too; a task an entry had to itself, or did not run (n/a),
    gives it nothing. Entries scored on no contested task are absent.
    """
    places: dict[str, dict[str, int]] = {}
    for task in verdicts.values():
        if len(task.ranks) < 2:
            continue
        sole_leader = task.leader if all(c.outcome == verdict.WORSE for c in task.comparisons) else None
        for entry, rank in task.ranks.items():
            counts = places.setdefault(entry, {"competed": 0, "first": 0, "sole": 0})
            counts["competed"] += 1
            counts["first"] += rank == 1
            counts["sole"] += entry == sole_leader
    return {entry: Places(**counts) for entry, counts in sorted(places.items())}


def _round(value: float, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")
