"""Who wins a task, by how much, and how sure: the comparison procedure of VERDICTS.md, in one place.

Every consumer calls these functions: leaderboards and ranks (:func:`nnbench.stats.leaderboard`),
``nnbench verdict``, ``nnbench compare`` and the regression gate, and the adaptive-seed scheduler.
Everything here is a pure function of numbers; nothing reads the store or writes files.

The procedure, for one task:

- scores are oriented so that higher is better; the **leader** is the entry with the best mean;
- for every other entry the difference ``d = leader - entry`` gets a **t-interval**: paired by seed
  when both entries hold the same seeds (n - 1 degrees of freedom), Welch's otherwise; fewer than
  2 seeds on either side gives no interval and the outcome ``undecided``, said in words;
- the **outcome** against the leader, with the task's equivalence margin ``m``: ``equivalent`` when
  the interval lies inside ``(-m, m)`` (two one-sided tests), else ``worse`` when it lies above 0,
  else ``undecided``;
- **error rates**: alpha is split by Bonferroni over every pair of the task's scored entries
  (``pairs = k (k - 1) / 2``); with a fixed list of seeds every interval is at ``1 - alpha / pairs``.
  With adaptive seeds (:class:`Looks`, ``{min, max}``) each pair's share is spent over the planned
  looks by a group-sequential boundary (below), and an interval is at ``1 -`` the nominal level of
  its look. Outcomes are read off those intervals, so intervals and outcomes always agree;
- **ranks**: rank 1 is the leader and every entry not decided ``worse`` than it; remove them and
  repeat for rank 2, and so on; a rank is shared unless a test separates.

One departure from VERDICTS.md's letter: an entry with a single seed can be tested against nothing,
so it is left out of the leader, the family and the ranks (it is listed, unranked, with the outcome
``undecided`` and the reason). Read literally, the best single lucky seed would be the leader and
leave every comparison undecided, and a one-seed entry far behind would share rank 1 with the leader
while a measured entry just behind it is ranked 2.

Why every pair and not only the ``k - 1`` comparisons with the leader (VERDICTS.md allows either
family): the leader is chosen by the data, so with three or more equal entries the comparison of
the leader with the last one is a comparison of the extremes, and Bonferroni over ``k - 1`` lets two
copies of one architecture be separated more often than alpha (simulated, paired t, 5 seeds: 6.0%
with 3 equal entries, 7.1% with 4, 9.1% with 6; ``benchmarks/bench_verdicts.py`` prints it). Over
every pair, each interval a rank could be read from is in the family, and the rate stays below
alpha. With two entries both families are the same single comparison.

Why a group-sequential boundary over looks: adding seeds and testing again is optional stopping,
which inflates false verdicts unless alpha is spent over the planned looks. Splitting it evenly
(Bonferroni over ``max - min + 1`` looks) holds alpha whatever the looks' correlation, but the looks
are strongly correlated (look 5 holds look 4's seeds), so it wastes most of alpha: simulated at an
effect of two noise deviations, 2 to 10 seeds, it decides 81% of the time against 98% for ten fixed
seeds. nnbench spends each pair's alpha over the looks with the O'Brien-Fleming-type function of
Lan and DeMets (1983), ``alpha(f) = 2 - 2 Phi(z_{1 - alpha / 2} / sqrt(f))`` at the information
fraction ``f = seeds / max``: little at the first looks, where two or three seeds decide almost
nothing anyway, most at the last ones. The nominal level of each look is the one at which the
paired t-statistic's path under the null crosses for the first time with exactly the spent
probability; that path's law does not depend on the noise's scale, and it is computed once per
design by simulating :data:`CALIBRATION_PATHS` paths of normal noise with a fixed seed
(:func:`sequential_levels`; a look whose share is too small to calibrate gets its share as its
level, which holds it by the union bound). ``benchmarks/bench_verdicts.py`` shows the adaptive rule
holding alpha under normal and skewed noise with this boundary, and its power (96% at that effect).
Bonferroni over looks stays available (``Looks(..., spending="bonferroni")``) for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nnbench.types import Margin

ALPHA = 0.05  # the error rate of a verdict: one task's leaderboard, or one family of run comparisons
CONFIDENCE = 0.95  # an entry's own interval of its mean (not a verdict)
MIN_SEEDS = 2  # an interval needs a spread: fewer seeds than this on either side is undecided
MAX_SEEDS_ESTIMATE = 100  # the estimate of seeds that would decide looks no further than this
# The group-sequential boundary of adaptive seeds is computed from this many simulated null paths
# (Monte Carlo error of the spent alpha: about 1/sqrt(alpha' * paths), 2% at alpha' = 0.0024) ...
CALIBRATION_PATHS = 1_000_000
CALIBRATION_SEED = 20130613  # ... with this seed, so every consumer computes the same boundary
CALIBRATION_MIN_CROSSINGS = 50  # a look whose share of alpha is rarer than this many paths: its share
OBRIEN_FLEMING = "obrien-fleming"
BONFERRONI = "bonferroni"
SPENDINGS = (OBRIEN_FLEMING, BONFERRONI)
# Two-run comparisons of times and costs (lower is better): changes smaller than 5% are "equivalent".
TIME_MARGIN = Margin(0.05, relative=True)

LEADER = "leader"
WORSE = "worse"
EQUIVALENT = "equivalent"
UNDECIDED = "undecided"
BETTER = "better"

Samples = Mapping[Hashable, float]  # one entry's scores on one task, by seed


# ---------------------------------------------------------------------------------------------
# samples and quantiles


def as_samples(values: Samples | Iterable[float]) -> dict[Hashable, float]:
    """``{seed: score}`` of the finite scores in ``values``: a mapping by seed, or a sequence whose
    positions stand for the seeds (so two sequences of one length are paired position by position)."""
    items = values.items() if isinstance(values, Mapping) else enumerate(values)
    out = {}
    for key, value in items:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[key] = number
    return out


@lru_cache(maxsize=8192)
def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (cached: the
    adaptive scheduler and the simulations ask for the same few again and again).

    ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` computes, without the distribution
    object's argument checks: 50 times faster, which counts where Welch's degrees of freedom (a
    real number) make every pair of a large store ask for a quantile of its own."""
    from scipy.special import stdtrit

    return float(stdtrit(df, probability))


def looks_of(min_seeds: int, max_seeds: int) -> int:
    """The planned looks of adaptive seeds ``{min, max}``: one after ``min`` seeds, then one per seed added."""
    if min_seeds < 1 or max_seeds < min_seeds:
        raise ValueError(f"adaptive seeds need 1 <= min <= max, got min {min_seeds}, max {max_seeds}")
    return max_seeds - min_seeds + 1


@dataclass(frozen=True)
class Looks:
    """The planned looks of a task's seeds: adaptive seeds ``{min, max}`` look after ``min`` seeds and
    after each seed added up to ``max``; a fixed list of seeds is one look (``Looks()``, the default).

    ``spending`` is how each pair's alpha is spent over the looks: ``"obrien-fleming"`` (the
    group-sequential boundary of the module's docstring) or ``"bonferroni"`` (evenly; kept to show
    what the boundary gains).
    """

    min_seeds: int = MIN_SEEDS
    max_seeds: int = MIN_SEEDS
    spending: str = OBRIEN_FLEMING

    def __post_init__(self) -> None:
        looks_of(self.min_seeds, self.max_seeds)  # raises on a bad range
        if self.spending not in SPENDINGS:
            raise ValueError(f"spending must be one of {', '.join(SPENDINGS)}, got {self.spending!r}")

    @property
    def count(self) -> int:
        """How many looks are planned (1 for a fixed list of seeds)."""
        return looks_of(self.min_seeds, self.max_seeds)

    def look(self, seeds: int) -> int:
        """The look (1-based) a comparison of ``seeds`` seeds a side belongs to: ``seeds - min + 1``,
        within ``1 .. count`` (fewer seeds than ``min``, after failures, count as the first look)."""
        return min(self.count, max(1, seeds - self.min_seeds + 1))

    def level(self, alpha: float, seeds: int) -> float:
        """The nominal two-sided level of a comparison of ``seeds`` seeds a side, for a family share
        ``alpha`` (:func:`sequential_levels`)."""
        return sequential_levels(alpha, self.min_seeds, self.max_seeds, self.spending)[self.look(seeds) - 1]

    def describe(self) -> str:
        """``looks 1``, or ``looks 9 (2 to 10 seeds, O'Brien-Fleming-type spending)``."""
        if self.count == 1:
            return "looks 1"
        how = "O'Brien-Fleming-type spending" if self.spending == OBRIEN_FLEMING else "Bonferroni over looks"
        return f"looks {self.count} ({self.min_seeds} to {self.max_seeds} seeds, {how})"


ONE_LOOK = Looks()  # a fixed list of seeds


def as_looks(looks: Looks | int) -> Looks:
    """``looks`` as :class:`Looks`: a :class:`Looks` as it is, the integer 1 as one look. Any other
    integer is refused: the boundary of adaptive seeds needs their ``min`` and ``max``."""
    if isinstance(looks, Looks):
        return looks
    if looks == 1:
        return ONE_LOOK
    raise ValueError(f"looks must be a verdict.Looks(min_seeds, max_seeds) or 1, got {looks!r}")


def obrien_fleming_spent(alpha: float, fraction: float) -> float:
    """Alpha spent by information ``fraction`` (0 < f <= 1) under Lan and DeMets' O'Brien-Fleming-type
    function ``2 - 2 Phi(z_{1 - alpha / 2} / sqrt(f))``: ``alpha`` at ``f = 1``, very little early."""
    from scipy.stats import norm

    return float(2.0 - 2.0 * norm.cdf(norm.ppf(1.0 - alpha / 2.0) / math.sqrt(fraction)))


@lru_cache(maxsize=256)
def sequential_levels(
    alpha: float, min_seeds: int, max_seeds: int, spending: str = OBRIEN_FLEMING
) -> tuple[float, ...]:
    """The nominal two-sided level of a paired t-interval at each look of adaptive seeds ``{min, max}``.

    Together the looks spend ``alpha``: the chance that a t-statistic of a null difference crosses
    any look's boundary is ``alpha``. With one look the level is ``alpha``; with ``"bonferroni"``
    every look gets ``alpha / looks``. With ``"obrien-fleming"`` the alpha spent by look ``j`` is
    :func:`obrien_fleming_spent` at ``f = seeds_j / max``, and each look's level is calibrated on
    :data:`CALIBRATION_PATHS` simulated null paths of the paired t-statistic (normal noise; the
    statistic's law does not depend on its scale): the paths that have not crossed yet and cross at
    look ``j`` are exactly the share spent there. A look whose share is rarer than
    :data:`CALIBRATION_MIN_CROSSINGS` paths gets that share as its level (the union bound holds it).
    Deterministic (a fixed seed) and cached: every consumer of a store computes the same levels.
    """
    count = looks_of(min_seeds, max_seeds)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if count == 1:
        return (alpha,)
    if spending == BONFERRONI:
        return (alpha / count,) * count
    if spending != OBRIEN_FLEMING:
        raise ValueError(f"spending must be one of {', '.join(SPENDINGS)}, got {spending!r}")
    if min_seeds < MIN_SEEDS:
        raise ValueError(f"a t-interval needs {MIN_SEEDS} seeds: adaptive seeds need min >= {MIN_SEEDS}")
    from scipy.stats import t as student_t

    spent = [obrien_fleming_spent(alpha, n / max_seeds) for n in range(min_seeds, max_seeds + 1)]
    spent[-1] = alpha
    shares = np.diff([0.0, *spent])
    paths = CALIBRATION_PATHS
    rng = np.random.default_rng(CALIBRATION_SEED)
    total = np.zeros(paths)
    squares = np.zeros(paths)
    alive = np.ones(paths, dtype=bool)  # not crossed at an earlier look
    levels = []
    for n in range(1, max_seeds + 1):
        x = rng.standard_normal(paths)
        total += x
        squares += x * x
        if n < min_seeds:
            continue
        variance = np.maximum(squares - total * total / n, 0.0) / (n - 1)
        statistic = np.abs(total / n) / np.sqrt(variance / n)
        crossings = int(round(shares[n - min_seeds] * paths))
        if crossings < CALIBRATION_MIN_CROSSINGS:
            level = float(shares[n - min_seeds])
            bound = float(student_t.ppf(1.0 - level / 2.0, n - 1))
        else:
            survivors = statistic[alive]
            k = len(survivors) - crossings - 1  # exactly `crossings` survivors lie above the bound
            bound = float(np.partition(survivors, k)[k])
            level = float(2.0 * student_t.sf(bound, n - 1))
        alive &= statistic <= bound
        levels.append(level)
    return tuple(levels)


def interval_confidence(
    alpha: float = ALPHA, *, entries: int = 2, looks: Looks | int = 1, seeds: int | None = None
) -> float:
    """The confidence of an interval of a task with ``entries`` scored entries, between two entries
    with ``seeds`` seeds a side (the smaller side's count), under the planned ``looks``.

    Alpha is split by Bonferroni over ``pairs = entries (entries - 1) / 2`` (at least 1; see the
    module's docstring for why every pair), and each pair's share is spent over the looks: with one
    look the confidence is ``1 - alpha / pairs``; with adaptive seeds it is ``1 -`` the nominal level
    of the look ``seeds`` belongs to (:meth:`Looks.level`; the last look when ``seeds`` is None).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    plan = as_looks(looks)
    pairs = max(1, entries * (entries - 1) // 2)
    return 1.0 - plan.level(alpha / pairs, plan.max_seeds if seeds is None else seeds)


@dataclass(frozen=True)
class MeanInterval:
    """Mean, sample standard deviation and Student-t interval of the mean of ``n`` values."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def mean_interval(values: Samples | Iterable[float], *, confidence: float = CONFIDENCE) -> MeanInterval:
    """Mean, standard deviation (ddof 1) and ``confidence`` t-interval of the mean of the finite values.

    ``mean ± t(n - 1) * std / sqrt(n)``. With one value the mean is that value and the rest NaN (one
    seed has no spread, so no interval); with none everything is NaN.
    """
    array = np.array(list(as_samples(values).values()), dtype=float)
    n = len(array)
    if n == 0:
        return MeanInterval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(array.mean())
    if n < 2:
        return MeanInterval(mean, math.nan, math.nan, math.nan, n)
    std = float(array.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return MeanInterval(mean, std, mean - half, mean + half, n)


# ---------------------------------------------------------------------------------------------
# one difference


@dataclass(frozen=True)
class Difference:
    """``first - second`` of two entries' mean scores, oriented so that positive means ``first`` is
    better, with its t-interval at ``confidence``.

    ``method`` is "paired t" (same seeds: the per-seed differences, ``n - 1`` degrees of freedom) or
    "Welch t"; ``reason`` says in words why there is no interval (then ``low``/``high`` are NaN and
    ``method`` is empty). ``sd`` is the standard deviation of the per-seed differences (paired) and
    ``sd_first``/``sd_second`` those of each side; they feed :func:`seeds_to_decide`.
    """

    estimate: float
    low: float
    high: float
    se: float
    df: float
    n_first: int
    n_second: int
    method: str
    confidence: float
    sd: float = math.nan
    sd_first: float = math.nan
    sd_second: float = math.nan
    reason: str | None = None

    @property
    def has_interval(self) -> bool:
        """Whether an interval was computed (both sides had at least two seeds)."""
        return self.reason is None

    @property
    def paired(self) -> bool:
        """Whether the interval pairs the two sides by seed."""
        return self.method == "paired t"


def _interval(estimate: float, se: float, df: float, confidence: float) -> tuple[float, float]:
    if se == 0:
        return estimate, estimate
    half = t_quantile(0.5 + confidence / 2, df) * se
    return estimate - half, estimate + half


def welch_df(var_first: float, n_first: int, var_second: float, n_second: int) -> float:
    """Welch-Satterthwaite degrees of freedom (``n1 + n2 - 2`` when both variances are zero)."""
    a, b = var_first / n_first, var_second / n_second
    if a + b == 0:
        return float(n_first + n_second - 2)
    return (a + b) ** 2 / (a**2 / (n_first - 1) + b**2 / (n_second - 1))


def difference(
    first: Samples | Iterable[float],
    second: Samples | Iterable[float],
    *,
    higher_is_better: bool = True,
    confidence: float = 1.0 - ALPHA,
) -> Difference:
    """The difference ``first - second`` (positive: ``first`` better) and its t-interval.

    Paired by seed when both hold exactly the same seeds, Welch's unequal-variance interval
    otherwise. No interval (``reason`` set) when either side has fewer than :data:`MIN_SEEDS` scores,
    or when there is no spread but a difference (every seed differs by the same amount): a t-interval
    of width 0 would decide from a coincidence. Identical scores on every seed give ``[0, 0]``.
    """
    return _difference(_Sample(as_samples(first)), _Sample(as_samples(second)), higher_is_better, confidence)


class _Sample:
    """One entry's clean ``{seed: score}`` with what every comparison of it reads, computed once (a
    leaderboard compares each entry with many others)."""

    __slots__ = ("scores", "order", "values", "n", "mean", "sd", "absmax")

    def __init__(self, scores: dict):
        self.scores = scores
        self.order = tuple(scores)
        self.values = np.fromiter(scores.values(), dtype=float, count=len(scores))
        self.n = len(scores)
        self.mean = float(self.values.mean()) if self.n else math.nan
        self.sd = float(self.values.std(ddof=1)) if self.n >= MIN_SEEDS else math.nan
        self.absmax = float(np.abs(self.values).max()) if self.n else 0.0

    def paired_values(self, other: _Sample) -> np.ndarray | None:
        """``other``'s scores in this sample's seed order, or None when the seeds differ."""
        if other.order == self.order:
            return other.values
        if other.n != self.n or set(other.order) != set(self.order):
            return None
        return np.fromiter((other.scores[seed] for seed in self.order), dtype=float, count=self.n)


def _difference(a: _Sample, b: _Sample, higher_is_better: bool, confidence: float) -> Difference:
    """:func:`difference` of two prepared samples."""
    sign = 1.0 if higher_is_better else -1.0
    n_a, n_b = a.n, b.n
    estimate = sign * (a.mean - b.mean)
    if min(n_a, n_b) < MIN_SEEDS:
        reason = f"fewer than {MIN_SEEDS} seeds on a side ({n_a} and {n_b}): no spread to judge by"
        nan = math.nan
        return Difference(estimate, nan, nan, nan, nan, n_a, n_b, "", confidence, reason=reason)
    sd_a, sd_b = a.sd, b.sd
    # rounding noise of float arithmetic is no spread
    tolerance = 1e-12 * max(1.0, a.absmax, b.absmax)
    paired = a.paired_values(b)
    if paired is not None:
        diffs = sign * (a.values - paired)
        estimate = float(diffs.mean())
        sd = float(diffs.std(ddof=1))
        method, se, df = "paired t", sd / math.sqrt(len(diffs)), float(len(diffs) - 1)
        flat = sd <= tolerance
    else:
        sd = math.nan
        method = "Welch t"
        se = math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)
        df = welch_df(sd_a**2, n_a, sd_b**2, n_b)
        flat = max(sd_a, sd_b) <= tolerance
    if flat:
        if abs(estimate) <= tolerance:  # the same score on every seed: no difference at all
            return Difference(0.0, 0.0, 0.0, 0.0, df, n_a, n_b, method, confidence, 0.0, sd_a, sd_b)
        # A t-interval of width 0 would decide from two seeds that happen to differ by the same
        # amount (scores rounded to a test set's size do); without a spread there is nothing to judge.
        reason = "every seed gave the same difference: no spread to judge by (a t-interval needs one)"
        nan = math.nan
        return Difference(estimate, nan, nan, nan, nan, n_a, n_b, "", confidence, sd, sd_a, sd_b, reason)
    low, high = _interval(estimate, se, df, confidence)
    return Difference(estimate, low, high, se, df, n_a, n_b, method, confidence, sd, sd_a, sd_b)


def classify(low: float, high: float, margin: float) -> str:
    """Read an interval of ``d`` (positive: the first side better) against 0 and the margin ``m``.

    "equivalent" when it lies inside ``(-m, m)``; else "above" when it lies above 0, "below" when
    below 0; else "undecided" (also when there is no interval).
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return UNDECIDED
    if -margin < low and high < margin:
        return EQUIVALENT
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return UNDECIDED


def seeds_to_decide(diff: Difference, margin: float, *, limit: int = MAX_SEEDS_ESTIMATE) -> int | None:
    """Seeds per entry at which this comparison would likely be decided at the observed spread.

    A plug-in estimate: the difference and the standard deviations are held at their observed
    values, the confidence at the comparison's own, and seeds are added to both sides until the
    interval lies inside ``(-margin, margin)`` or entirely on one side of 0. None when there is no
    spread to go by (fewer than two seeds, or a spread of exactly 0) or when more than ``limit``
    seeds would be needed (e.g. a difference of exactly the margin).
    """
    if not diff.has_interval:
        return None
    start = max(diff.n_first, diff.n_second) + 1
    for n in range(start, limit + 1):
        if diff.paired:
            if not diff.sd > 0:
                return None
            se, df = diff.sd / math.sqrt(n), float(n - 1)
        else:
            var_a, var_b = diff.sd_first**2, diff.sd_second**2
            if not var_a + var_b > 0:
                return None
            se, df = math.sqrt((var_a + var_b) / n), welch_df(var_a, n, var_b, n)
        low, high = _interval(diff.estimate, se, df, diff.confidence)
        if classify(low, high, margin) != UNDECIDED:
            return n
    return None


def resolve_margin(margin: Margin | float | None, reference: float) -> float:
    """The margin in the metric's units: a relative margin is a share of ``|reference|``; None is 0."""
    if margin is None:
        return 0.0
    if isinstance(margin, Margin):
        value = margin.absolute(reference)
        return value if math.isfinite(value) else 0.0
    return float(margin)


def describe_margin(margin: Margin | float | None) -> str:
    """The margin in words for tables: ``0.01``, ``10% relative`` or ``none``."""
    if margin is None:
        return "none"
    if isinstance(margin, Margin) and margin.relative:
        return f"{100 * margin.value:.3g}% relative"
    return f"{float(margin.value if isinstance(margin, Margin) else margin):.4g}"


# ---------------------------------------------------------------------------------------------
# one task: the leader, the comparisons against it, the ranks


@dataclass(frozen=True)
class Comparison:
    """One entry against its task's leader: ``outcome`` is "worse", "equivalent" or "undecided".

    ``difference`` is ``leader - entry`` (positive: the leader is ahead) with its interval;
    ``margin`` the equivalence margin in the metric's units; ``reason`` the outcome in words;
    ``seeds_needed`` (undecided only) the seeds per entry that would likely decide it
    (:func:`seeds_to_decide`), None when it cannot be estimated.
    """

    entry: str
    leader: str
    outcome: str
    difference: Difference
    margin: float
    reason: str
    seeds_needed: int | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The interval of ``leader - entry``, or None when there is none."""
        d = self.difference
        return (d.low, d.high) if d.has_interval else None

    @property
    def seeds(self) -> tuple[int, int]:
        """Scored seeds of (leader, entry)."""
        return self.difference.n_first, self.difference.n_second


def _compare_with_leader(leader: str, entry: str, diff: Difference, margin: float) -> Comparison:
    if not diff.has_interval:
        return Comparison(entry, leader, UNDECIDED, diff, margin, diff.reason or "no interval")
    side = classify(diff.low, diff.high, margin)
    if side == EQUIVALENT:
        reason = f"the interval lies inside ±{margin:.4g}: practically the same as {leader}"
        return Comparison(entry, leader, EQUIVALENT, diff, margin, reason)
    if side == "above":
        return Comparison(entry, leader, WORSE, diff, margin, f"the interval lies above 0: behind {leader}")
    # "below" cannot happen against the best mean; read it, like a straddle, as not decided
    reason = "the interval holds 0" + (f" and reaches beyond ±{margin:.4g}" if margin > 0 else "")
    return Comparison(entry, leader, UNDECIDED, diff, margin, reason, seeds_to_decide(diff, margin))


@dataclass(frozen=True)
class TaskVerdict:
    """The verdict of one task: its leader, every other scored entry against it, and the ranks.

    ``leader`` is the best mean among the entries with at least two seeds (the best mean overall when
    none has two); ``comparisons`` holds every other scored entry against it, in rank order (then
    best mean first; unranked entries last); ``ranks`` the rank of every entry with at least two
    seeds (1 = the leader's): an entry with one seed has no interval, so it gets no rank at all,
    neither a strict one from a point nor a shared one it was never tested for; ``unscored`` the
    entries without any score (every trial failed). ``margin_abs`` is the margin in the metric's
    units against the leader's mean. ``looks`` is the number of planned looks, ``design`` the
    planned looks themselves and ``look`` the one the leader's seeds have reached; ``confidence`` is
    that of an interval at that look (with one look, every interval's). With adaptive seeds each
    interval's own confidence follows its own look, its smaller side's seed count
    (``comparison.difference.confidence``).
    """

    leader: str | None
    higher_is_better: bool
    margin: Margin | float | None
    margin_abs: float
    alpha: float
    looks: int
    confidence: float
    means: dict[str, float]
    seeds: dict[str, int]
    comparisons: tuple[Comparison, ...]
    ranks: dict[str, int]
    unscored: tuple[str, ...] = ()
    pairs: int = 0
    design: Looks = ONE_LOOK
    look: int = 1

    @property
    def decided(self) -> bool:
        """Whether no comparison is undecided (a task with a single scored entry is not decided)."""
        return bool(self.comparisons) and all(c.outcome != UNDECIDED for c in self.comparisons)

    @property
    def undecided(self) -> list[str]:
        """The entries undecided against the leader, in rank order."""
        return [c.entry for c in self.comparisons if c.outcome == UNDECIDED]

    @property
    def contenders(self) -> list[str]:
        """What adaptive seeds runs another seed of: the leader and every undecided entry (or nothing
        when the task is decided)."""
        undecided = self.undecided
        return [self.leader, *undecided] if undecided and self.leader is not None else []

    @property
    def runner_up(self) -> Comparison | None:
        """The comparison of the entry with the second-best mean (None with fewer than two entries)."""
        if not self.comparisons:
            return None
        return min(self.comparisons, key=lambda c: (-self._oriented(c.entry), c.entry))

    def comparison(self, entry: str) -> Comparison | None:
        """``entry`` against the leader (None for the leader itself or an unknown entry)."""
        return next((c for c in self.comparisons if c.entry == entry), None)

    def seeds_needed(self) -> int | None:
        """Seeds per entry that would likely decide every undecided comparison (the largest of their
        estimates); None when the task is decided or one of them cannot be estimated."""
        needs = [c.seeds_needed for c in self.comparisons if c.outcome == UNDECIDED]
        if not needs or any(n is None for n in needs):
            return None
        return max(needs)

    def procedure(self) -> str:
        """The procedure in one line: method, family, alpha and looks."""
        return procedure_text(self.alpha, self.design, self.pairs)

    def _oriented(self, entry: str) -> float:
        mean = self.means[entry]
        return mean if self.higher_is_better else -mean


def procedure_text(alpha: float = ALPHA, looks: Looks | int = 1, pairs: int | None = None) -> str:
    """``t-intervals paired by seed (Welch otherwise), Bonferroni over 6 pairs, alpha 0.05, looks 1``;
    with adaptive seeds the looks say how: ``looks 9 (2 to 10 seeds, O'Brien-Fleming-type spending)``."""
    family = "every pair of a task's entries" if pairs is None else f"{pairs} pair{'s' if pairs != 1 else ''}"
    how = looks.describe() if isinstance(looks, Looks) else f"looks {looks}"
    return f"t-intervals paired by seed (Welch otherwise), Bonferroni over {family}, alpha {alpha:g}, {how}"


def task_verdict(
    samples: Mapping[str, Samples | Iterable[float]],
    *,
    higher_is_better: bool = True,
    margin: Margin | float | None = None,
    alpha: float = ALPHA,
    looks: Looks | int = 1,
) -> TaskVerdict:
    """The verdict of one task from each entry's scores by seed (``{label: {seed: score}}``).

    ``margin`` is the task's equivalence margin (a :class:`~nnbench.types.Margin`, a number in the
    metric's units, or None for none: then nothing is ever "equivalent"). ``looks`` are the planned
    looks of adaptive seeds (:class:`Looks`; 1 for a fixed list of seeds): each interval is at the
    level of the look its smaller side's seed count belongs to. The adaptive scheduler calls this
    after each look with the same ``looks`` and asks :func:`seeds_wanted` what to run next.
    """
    design = as_looks(looks)
    clean = {str(label): as_samples(values) for label, values in samples.items()}
    scored = {label: values for label, values in clean.items() if values}
    unscored = tuple(sorted(label for label, values in clean.items() if not values))
    sign = 1.0 if higher_is_better else -1.0
    means = {label: float(np.mean(list(values.values()))) for label, values in scored.items()}
    seeds = {label: len(values) for label, values in scored.items()}
    order = sorted(scored, key=lambda label: (-sign * means[label], label))
    # only entries with a spread can be tested: they alone form the family, the ranks and the leader
    judged = [label for label in order if seeds[label] >= MIN_SEEDS]
    pairs = len(judged) * (len(judged) - 1) // 2

    def confidence_at(n: int | None) -> float:
        return interval_confidence(alpha, entries=len(judged), looks=design, seeds=n)

    if not order:
        return TaskVerdict(
            None, higher_is_better, margin, 0.0, alpha, design.count, confidence_at(None),
            {}, {}, (), {}, unscored, 0, design, design.count,
        )  # fmt: skip
    cache: dict[tuple[str, str], Comparison] = {}
    prepared = {label: _Sample(values) for label, values in scored.items()}

    def versus(leader: str, entry: str) -> Comparison:
        if (leader, entry) not in cache:
            confidence = confidence_at(min(seeds[leader], seeds[entry]))
            diff = _difference(prepared[leader], prepared[entry], higher_is_better, confidence)
            cache[leader, entry] = _compare_with_leader(
                leader, entry, diff, resolve_margin(margin, means[leader])
            )
        return cache[leader, entry]

    ranks = _ranks(judged, versus)
    leader = judged[0] if judged else order[0]
    unranked = len(ranks) + 1  # entries without a rank (one seed) come after every ranked one
    comparisons = sorted(
        (versus(leader, entry) for entry in order if entry != leader),
        key=lambda c: (ranks.get(c.entry, unranked), -sign * means[c.entry], c.entry),
    )
    return TaskVerdict(
        leader=leader,
        higher_is_better=higher_is_better,
        margin=margin,
        margin_abs=resolve_margin(margin, means[leader]),
        alpha=alpha,
        looks=design.count,
        confidence=confidence_at(seeds[leader]),
        means=means,
        seeds=seeds,
        comparisons=tuple(comparisons),
        ranks=ranks,
        unscored=unscored,
        pairs=pairs,
        design=design,
        look=design.look(seeds[leader]),
    )


def seeds_wanted(
    task: TaskVerdict, attempted: Mapping[str, int] | None = None, *, max_seeds: int | None = None
) -> dict[str, int]:
    """What adaptive seeds runs after a look: the seed count each entry should reach before the next.

    The leader and every entry undecided against it (:attr:`TaskVerdict.contenders`) get one seed
    more than the most any of them has, at most ``max``: a new leader with fewer seeds catches up,
    so the next look compares them paired again. ``attempted`` counts each entry's seeds tried
    (scored or failed; default: the scored ones), so a seed that failed is not asked for again.
    Empty when the task is decided or every contender has ``max`` seeds: the task is done.
    ``max_seeds`` overrides the design's ``max`` (the benchmark's rule without the looks correction).
    """
    counts = {**task.seeds, **(attempted or {})}
    contenders = task.contenders
    if not contenders:
        return {}
    cap = task.design.max_seeds if max_seeds is None else max_seeds
    target = min(cap, max(counts.get(e, 0) for e in contenders) + 1)
    return {entry: target for entry in contenders if counts.get(entry, 0) < target}


def _ranks(order: Sequence[str], versus) -> dict[str, int]:
    """Rank 1: the leader and every entry not decided worse than it; remove them, repeat for rank 2."""
    ranks: dict[str, int] = {}
    remaining = list(order)  # best mean first
    rank = 1
    while remaining:
        leader = remaining[0]
        group = [leader] + [e for e in remaining[1:] if versus(leader, e).outcome != WORSE]
        for entry in group:
            ranks[entry] = rank
        remaining = [e for e in remaining if e not in ranks]
        rank += 1
    return ranks


# ---------------------------------------------------------------------------------------------
# two runs: a new result against a baseline


@dataclass(frozen=True)
class RunComparison:
    """A new result against a baseline: ``outcome`` "better", "worse", "equivalent" or "undecided".

    ``difference`` is ``new - baseline``, oriented so that positive means the new one is better
    (for times: faster); ``margin`` is in the metric's units (a relative margin is a share of the
    baseline's mean); ``reason`` says it in words.
    """

    outcome: str
    difference: Difference
    margin: float
    baseline_mean: float
    new_mean: float
    reason: str

    @property
    def ratio(self) -> float:
        """New mean over baseline mean (NaN when either is missing or the baseline's is 0)."""
        if (
            not (math.isfinite(self.baseline_mean) and math.isfinite(self.new_mean))
            or self.baseline_mean == 0
        ):
            return math.nan
        return self.new_mean / self.baseline_mean


def compare_to_baseline(
    baseline: Samples | Iterable[float],
    new: Samples | Iterable[float],
    *,
    higher_is_better: bool = True,
    margin: Margin | float | None = None,
    alpha: float = ALPHA,
    comparisons: int = 1,
    looks: Looks | int = 1,
) -> RunComparison:
    """Compare a new result with a baseline, by seed: the same procedure as a leaderboard's.

    The interval of ``new - baseline`` is paired by seed when both hold the same seeds (Welch's
    otherwise) at ``1 - alpha / comparisons``: pass the size of the family (e.g. every
    (architecture, task) pair two runs share) so that the chance of any false "better" or "worse"
    among them stays at most alpha. When the seeds were adaptive (their count depends on how the
    scores fell), pass the runs' planned ``looks``: the interval is then at the level of the look the
    smaller side's seed count belongs to, as in a leaderboard.
    """
    base, fresh = as_samples(baseline), as_samples(new)
    design = as_looks(looks)
    seeds = min(len(base), len(fresh))
    confidence = 1.0 - design.level(alpha / max(1, comparisons), max(seeds, design.min_seeds))
    diff = difference(fresh, base, higher_is_better=higher_is_better, confidence=confidence)
    base_mean = float(np.mean(list(base.values()))) if base else math.nan
    new_mean = float(np.mean(list(fresh.values()))) if fresh else math.nan
    m = resolve_margin(margin, base_mean)
    if not diff.has_interval:
        return RunComparison(UNDECIDED, diff, m, base_mean, new_mean, diff.reason or "no interval")
    side = classify(diff.low, diff.high, m)
    words = {
        EQUIVALENT: (EQUIVALENT, f"the interval lies inside ±{m:.4g}"),
        "above": (BETTER, "the interval lies above 0"),
        "below": (WORSE, "the interval lies below 0"),
        UNDECIDED: (UNDECIDED, "the interval holds 0" + (f" and reaches beyond ±{m:.4g}" if m > 0 else "")),
    }
    outcome, reason = words[side]
    return RunComparison(outcome, diff, m, base_mean, new_mean, reason)


# ---------------------------------------------------------------------------------------------
# plain data for JSON


def comparison_dict(comparison: Comparison, *, digits: int = 6) -> dict:
    """One comparison as VERDICTS.md's JSON: architecture, outcome, difference, interval, seeds, ..."""
    d = comparison.difference
    return {
        "architecture": comparison.entry,
        "outcome": comparison.outcome,
        "difference": _round(d.estimate, digits),
        "interval": [_round(d.low, digits), _round(d.high, digits)] if d.has_interval else None,
        "seeds": [d.n_first, d.n_second],
        "method": d.method or None,
        "confidence": _round(d.confidence, digits),
        "reason": comparison.reason,
        "seeds_needed": comparison.seeds_needed,
    }


def task_dict(task: str, metric: str, verdict: TaskVerdict, *, digits: int = 6) -> dict:
    """One task's verdict as VERDICTS.md's JSON (with ranks, means, seeds and the family besides)."""
    margin = verdict.margin
    return {
        "task": task,
        "metric": metric,
        "higher_is_better": verdict.higher_is_better,
        "margin": _round(verdict.margin_abs, digits),
        "margin_declared": _margin_dict(margin),
        "leader": verdict.leader,
        "decided": verdict.decided,
        "confidence": _round(verdict.confidence, digits),
        "pairs": verdict.pairs,
        "looks": verdict.looks,
        "look": verdict.look,
        "seeds_min": verdict.design.min_seeds if verdict.looks > 1 else None,
        "seeds_max": verdict.design.max_seeds if verdict.looks > 1 else None,
        "seeds_needed": verdict.seeds_needed(),
        "entries": [
            {
                "architecture": label,
                "rank": verdict.ranks[label],
                "mean": _round(verdict.means[label], digits),
                "seeds": verdict.seeds[label],
            }
            for label in sorted(verdict.ranks, key=lambda x: (verdict.ranks[x], -verdict._oriented(x), x))
        ],
        "unscored": list(verdict.unscored),
        "comparisons": [comparison_dict(c, digits=digits) for c in verdict.comparisons],
    }


def _margin_dict(margin: Margin | float | None) -> dict | None:
    if margin is None:
        return None
    if isinstance(margin, Margin):
        return {"value": margin.value, "relative": margin.relative}
    return {"value": float(margin), "relative": False}


def _round(value: float, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


__all__ = [
    "ALPHA",
    "BETTER",
    "CONFIDENCE",
    "EQUIVALENT",
    "LEADER",
    "ONE_LOOK",
    "TIME_MARGIN",
    "UNDECIDED",
    "WORSE",
    "Comparison",
    "Difference",
    "Looks",
    "Margin",
    "MeanInterval",
    "RunComparison",
    "TaskVerdict",
    "as_looks",
    "as_samples",
    "classify",
    "compare_to_baseline",
    "comparison_dict",
    "describe_margin",
    "difference",
    "interval_confidence",
    "looks_of",
    "mean_interval",
    "obrien_fleming_spent",
    "procedure_text",
    "resolve_margin",
    "seeds_to_decide",
    "seeds_wanted",
    "sequential_levels",
    "task_dict",
    "task_verdict",
    "welch_df",
]
