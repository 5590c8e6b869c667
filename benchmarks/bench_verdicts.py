"""Proof that the verdicts hold their error rates: thousands of simulated A/A and A/B comparisons.

Run: ``python benchmarks/bench_verdicts.py`` (about two minutes; ``--reps N`` per cell, default
2000), or ``pytest benchmarks/bench_verdicts.py -s``. tests/test_verdict_simulation.py runs a small
version and asserts the same bounds. Every comparison goes through :func:`nnbench.verdict.task_verdict`,
the function reports and the CLI call; nothing here re-implements the test.

The model of a score: ``mean + seed effect + noise``. The seed effect (standard deviation 1) is shared
by both entries of a seed, as when every architecture gets the same data split for a seed (pairing
removes it); the noise (standard deviation 1) is each trial's own:

- ``normal``: Gaussian noise;
- ``skewed``: ``1 - Exp(1)``, a long tail of bad seeds (a run that fails to converge), on both sides;
- ``skewed one side``: skewed noise for one entry, Gaussian for the other, so that even the per-seed
  differences are skewed (the hardest case for a t-interval).

Effects are in units of the noise's standard deviation; the equivalence margin is 0.5. Printed:

- **false separation** (A/A, two copies of one entry): how often one is decided ``worse``; must be at
  most alpha = 0.05. Also for a leaderboard of 4 equal entries (any ``worse`` at all), with the
  family nnbench uses (every pair) and with the k - 1 comparisons against the leader, which does not
  hold alpha: the reason nnbench uses every pair;
- **coverage**: how often the interval of ``leader - other`` holds the true difference (nominal 95%;
  the bound is nominal minus 2 points from 3 seeds up);
- **power**: how often the truly worse entry is decided ``worse`` at effects 0.5, 1 and 2 (and, beside
  it, how often the truly better one was, a wrong direction: at most alpha / 2);
- **false equivalence**: how often entries 1.0 apart (twice the margin) are called ``equivalent``;
- **adaptive seeds** (VERDICTS.md: 2 seeds, then one more seed for the leader and the undecided one
  while undecided, up to 10; alpha spent over the 9 looks by nnbench's group-sequential boundary,
  :func:`nnbench.verdict.sequential_levels`): the same rates at the final look and the mean number of
  seeds used; beside it the same rule with alpha split evenly over the looks (Bonferroni, the rule
  it replaced: it holds alpha but decides less), and the false separation of the rule without any
  looks correction (it does not hold alpha);
- **adaptive leaderboards** of k equal entries (A/A, the scheduler's whole rule: every undecided
  entry and the leader get seeds, a new leader catches up, decided entries stop): the share of
  leaderboards with any entry decided worse, and the mean seeds per entry;
- the same for **3..6**, the quick suite's ``seeds: {min: 3, max: 6}``.

Every adaptive cell runs the rule the scheduler runs: :func:`nnbench.verdict.seeds_wanted` after
each :func:`nnbench.verdict.task_verdict`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from nnbench import verdict

ALPHA = verdict.ALPHA
MARGIN = 0.5
NOISES = ("normal", "skewed", "skewed one side")
SEEDS = tuple(range(2, 11))
EFFECTS = (0.5, 1.0, 2.0)  # 1.0 is twice the margin: where false equivalence is counted
CELLS = (0.0, *EFFECTS)
MIN_SEEDS, MAX_SEEDS = 2, 10
LOOKS = verdict.Looks(MIN_SEEDS, MAX_SEEDS)  # what a suite's seeds: {min: 2, max: 10} plans
BONFERRONI_LOOKS = verdict.Looks(MIN_SEEDS, MAX_SEEDS, spending=verdict.BONFERRONI)
QUICK_LOOKS = verdict.Looks(3, 6)  # suites/quick.yaml's seeds: {min: 3, max: 6}


def noise(kind: str, side: int, size, rng: np.random.Generator) -> np.ndarray:
    """Standard deviation 1, mean 0: Gaussian, or ``1 - Exp(1)`` (a left tail of bad seeds)."""
    if kind == "normal" or (kind == "skewed one side" and side == 0):
        return rng.normal(size=size)
    return 1.0 - rng.exponential(size=size)


def draw(kind: str, effect: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeds of entry A (mean 0) and entry B (mean ``-effect``: behind by ``effect``)."""
    seed_effect = rng.normal(size=n)
    a = seed_effect + noise(kind, 0, n, rng)
    b = seed_effect + noise(kind, 1, n, rng) - effect
    return a, b


@dataclass
class Tally:
    """Counts over the repetitions of one cell."""

    reps: int = 0
    worse: int = 0  # the truly worse (or, A/A, either) entry decided worse
    wrong: int = 0  # the truly better entry decided worse
    equivalent: int = 0
    covered: int = 0
    intervals: int = 0
    seeds: int = 0

    def add(self, task: verdict.TaskVerdict, effect: float) -> None:
        """Score one verdict of entries "a" (mean 0) and "b" (mean -effect)."""
        self.reps += 1
        comparison = task.comparisons[0]
        self.seeds += task.seeds[task.leader]
        truth = effect if task.leader == "a" else -effect  # the true leader - other
        if comparison.outcome == verdict.WORSE:
            if effect > 0 and task.leader == "b":
                self.wrong += 1
            else:
                self.worse += 1
        elif comparison.outcome == verdict.EQUIVALENT:
            self.equivalent += 1
        if comparison.interval is not None:
            self.intervals += 1
            low, high = comparison.interval
            self.covered += low <= truth <= high

    def rate(self, what: str) -> float:
        """A count over the repetitions (coverage: over the comparisons that had an interval)."""
        if what == "covered":
            return self.covered / self.intervals if self.intervals else math.nan
        if what == "seeds":
            return self.seeds / self.reps
        return getattr(self, what) / self.reps


def fixed(kind: str, effect: float, n: int, reps: int, rng: np.random.Generator) -> Tally:
    """``reps`` comparisons of two entries with ``n`` seeds each."""
    tally = Tally()
    for _ in range(reps):
        a, b = draw(kind, effect, n, rng)
        tally.add(verdict.task_verdict({"a": a, "b": b}, margin=MARGIN), effect)
    return tally


def adaptive_verdict(
    samples: dict[str, np.ndarray],
    looks: verdict.Looks | int,
    seeds: tuple[int, int] = (MIN_SEEDS, MAX_SEEDS),
) -> verdict.TaskVerdict:
    """The scheduler's rule on seeds drawn up front and revealed look by look: ``min`` seeds each
    (``seeds``: ``(min, max)``), then :func:`nnbench.verdict.seeds_wanted` after every look, up to
    ``max``; the verdict of the last look. ``looks=1`` is the same rule without any looks correction."""
    low, high = seeds
    counts = dict.fromkeys(samples, low)
    while True:
        shown = {label: dict(enumerate(values[: counts[label]])) for label, values in samples.items()}
        task = verdict.task_verdict(shown, margin=MARGIN, looks=looks)
        wanted = verdict.seeds_wanted(task, max_seeds=high)
        if not wanted:
            return task
        counts.update(wanted)


def adaptive(
    kind: str, effect: float, reps: int, rng: np.random.Generator, *, looks: verdict.Looks | int = LOOKS
) -> Tally:
    """VERDICTS.md's adaptive seeds for two entries (:func:`adaptive_verdict`) under ``looks`` (a
    :class:`~nnbench.verdict.Looks` gives its own min and max; 1 is 2..10 without a correction)."""
    tally = Tally()
    design = (
        (looks.min_seeds, looks.max_seeds) if isinstance(looks, verdict.Looks) else (MIN_SEEDS, MAX_SEEDS)
    )
    for _ in range(reps):
        a, b = draw(kind, effect, design[1], rng)  # every seed drawn up front; revealed one look at a time
        tally.add(adaptive_verdict({"a": a, "b": b}, looks, design), effect)
    return tally


def leaderboard_null(k: int, n: int, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """A/A for ``k`` equal entries: the share of leaderboards with any entry decided worse, with
    nnbench's family (every pair) and with the k - 1 comparisons against the leader."""
    any_pairs = any_leader = 0
    narrow = 1.0 - ALPHA / (k - 1)
    for _ in range(reps):
        seed_effect = rng.normal(size=n)
        samples = {f"e{i}": seed_effect + rng.normal(size=n) for i in range(k)}
        task = verdict.task_verdict(samples, margin=MARGIN)
        any_pairs += any(c.outcome == verdict.WORSE for c in task.comparisons)
        any_leader += any(
            verdict.difference(samples[task.leader], samples[c.entry], confidence=narrow).low > 0
            for c in task.comparisons
        )
    return any_pairs / reps, any_leader / reps


def adaptive_leaderboard_null(
    k: int, kind: str, reps: int, rng: np.random.Generator, looks: verdict.Looks = LOOKS
) -> tuple[float, float]:
    """A/A for ``k`` equal entries under adaptive seeds ``looks``: the share of leaderboards with any
    entry decided worse at the last look, and the mean seeds per entry."""
    separated = seeds = 0
    for _ in range(reps):
        seed_effect = rng.normal(size=looks.max_seeds)
        samples = {f"e{i}": seed_effect + noise(kind, 1, looks.max_seeds, rng) for i in range(k)}
        task = adaptive_verdict(samples, looks, (looks.min_seeds, looks.max_seeds))
        separated += any(c.outcome == verdict.WORSE for c in task.comparisons)
        seeds += sum(task.seeds.values()) / k
    return separated / reps, seeds / reps


def run(reps: int = 2000, *, seeds=SEEDS, noises=NOISES, seed: int = 0) -> dict:
    """Every cell of the simulation; returns ``{(section, noise, n or "adaptive", effect): Tally}``."""
    rng = np.random.default_rng(seed)
    results: dict = {}
    for kind in noises:
        for n in seeds:
            for effect in CELLS:
                results["fixed", kind, n, effect] = fixed(kind, effect, n, reps, rng)
        for effect in CELLS:
            results["adaptive", kind, "adaptive", effect] = adaptive(kind, effect, reps, rng)
        for effect in CELLS:
            results["bonferroni", kind, "adaptive", effect] = adaptive(
                kind, effect, reps, rng, looks=BONFERRONI_LOOKS
            )
        for effect in CELLS:
            results["quick", kind, "adaptive", effect] = adaptive(kind, effect, reps, rng, looks=QUICK_LOOKS)
        results["uncorrected", kind, "adaptive", 0.0] = adaptive(kind, 0.0, reps, rng, looks=1)
    return results


def report(results: dict, reps: int, leaderboards: dict) -> str:
    """The printed tables."""
    lines = [
        f"nnbench verdicts, simulated: {reps} comparisons per cell, alpha {ALPHA}, margin {MARGIN} "
        "(effects in noise standard deviations; a shared seed effect of the same size)",
    ]
    kinds = sorted({key[1] for key in results}, key=NOISES.index)
    seeds = sorted({key[2] for key in results if key[0] == "fixed"})
    for kind in kinds:
        lines += ["", f"noise: {kind}"]
        header = (
            f"{'seeds':>8}  {'A/A worse':>9}  {'coverage':>8}  "
            + "  ".join(f"{'power ' + format(e, 'g'):>9}" for e in EFFECTS)
            + f"  {'wrong dir':>9}  {'false equiv':>11}  {'A/A equiv':>9}  {'seeds A/A':>9}  {'seeds at 2':>10}"
        )
        lines.append(header)
        rows = [("fixed", n) for n in seeds] + [
            ("adaptive", "adaptive"), ("bonferroni", "adaptive"), ("quick", "adaptive")
        ]  # fmt: skip
        for section, n in rows:
            if (section, kind, n, 0.0) not in results:
                continue
            cells = {e: results[section, kind, n, e] for e in CELLS}
            coverage = min(cells[e].rate("covered") for e in CELLS)
            wrong = max(cells[e].rate("wrong") for e in EFFECTS)
            label = {"fixed": f"{n}", "adaptive": "2..10", "bonferroni": "2..10 B", "quick": "3..6"}[section]
            lines.append(
                f"{label:>8}  {cells[0.0].rate('worse'):>9.3f}  {coverage:>8.3f}  "
                + "  ".join(f"{cells[e].rate('worse'):>9.3f}" for e in EFFECTS)
                + f"  {wrong:>9.3f}  {cells[2 * MARGIN].rate('equivalent'):>11.3f}  "
                f"{cells[0.0].rate('equivalent'):>9.3f}  {cells[0.0].rate('seeds'):>9.2f}  "
                f"{cells[2.0].rate('seeds'):>10.2f}"
            )
        unc = results["uncorrected", kind, "adaptive", 0.0]
        lines.append(
            f"{'2..10*':>8}  {unc.rate('worse'):>9.3f}  (* the same adaptive rule without the looks correction)"
        )
    lines += [
        "",
        "2..10: adaptive seeds {min: 2, max: 10} with nnbench's boundary (O'Brien-Fleming-type spending, "
        "calibrated); 2..10 B: the same with alpha split evenly over the 9 looks (Bonferroni); "
        "3..6: {min: 3, max: 6}, the quick suite's, with nnbench's boundary.",
        "coverage: the lowest over the effects 0, 0.5, 1, 2; wrong dir: the truly better entry decided worse "
        "(highest over the effects); false equiv: entries 1.0 apart (twice the margin) called equivalent;",
        "A/A equiv: two copies called equivalent; seeds A/A, seeds at 2: mean seeds per entry at effects 0 and 2.",
        f"Monte Carlo standard error of a rate near {ALPHA}: {math.sqrt(ALPHA * (1 - ALPHA) / reps):.4f}. "
        "'skewed one side' at effect 0 is equal means with two different noise shapes, not two copies of "
        "one entry: its per-seed differences are skewed.",
        "",
        "A/A leaderboards of k equal entries (normal noise): share with any entry decided worse",
        f"{'k':>3}  {'seeds':>5}  {'every pair (nnbench)':>20}  {'k-1 vs the leader':>17}",
    ]
    for (k, n), (pairs, leader) in sorted(
        (key, v) for key, v in leaderboards.items() if key[0] != "adaptive"
    ):
        lines.append(f"{k:>3}  {n:>5}  {pairs:>20.3f}  {leader:>17.3f}")
    adaptive_boards = sorted(key for key in leaderboards if key[0] == "adaptive")
    if adaptive_boards:
        lines += [
            "",
            "A/A leaderboards of k equal entries, adaptive seeds (the scheduler's rule): "
            "share with any entry decided worse",
            f"{'k':>3}  {'seeds':>5}  {'noise':>8}  {'any worse':>9}  {'seeds per entry':>15}",
        ]
        for key in adaptive_boards:
            _, k, kind, design = key
            share, seeds_used = leaderboards[key]
            lines.append(f"{k:>3}  {design:>5}  {kind:>8}  {share:>9.3f}  {seeds_used:>15.2f}")
    return "\n".join(lines)


def check(results: dict, reps: int, leaderboards: dict) -> list[str]:
    """The bounds of VERDICTS.md, with Monte Carlo slack (3 standard errors at alpha): a list of failures."""
    failures = []
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    for key, tally in results.items():
        section, kind, n, effect = key
        if section == "uncorrected":
            continue
        if section == "bonferroni" and effect > 0:
            continue  # shown for its power; its error rates are those of a union bound
        if effect == 0.0 and tally.rate("worse") > ALPHA + slack:
            failures.append(f"{key}: false separation {tally.rate('worse'):.3f} > {ALPHA} + {slack:.3f}")
        if effect > 0 and tally.rate("wrong") > ALPHA / 2 + slack:
            failures.append(f"{key}: wrong direction {tally.rate('wrong'):.3f}")
        if effect == 2 * MARGIN and tally.rate("equivalent") > ALPHA / 2 + slack:
            failures.append(f"{key}: false equivalence {tally.rate('equivalent'):.3f}")
        coverage_slack = math.sqrt(0.95 * 0.05 / max(1, tally.intervals)) * 3
        if (n == "adaptive" or n >= 3) and tally.rate("covered") < 0.95 - 0.02 - coverage_slack:
            failures.append(f"{key}: coverage {tally.rate('covered'):.3f} < 0.93")
    for key, (pairs, _) in leaderboards.items():
        if pairs > ALPHA + slack:
            failures.append(f"leaderboard of equal entries {key}: {pairs:.3f} separated")
    return failures


def simulate(
    reps: int,
    *,
    seeds=SEEDS,
    noises=NOISES,
    boards=((4, 3), (4, 5), (6, 5)),
    adaptive_boards=((4, "normal", LOOKS), (4, "skewed", LOOKS), (4, "normal", QUICK_LOOKS)),
    seed: int = 0,
):
    """Run the simulation and the leaderboard A/A; returns ``(results, leaderboards)``."""
    results = run(reps, seeds=seeds, noises=noises, seed=seed)
    rng = np.random.default_rng(seed + 1)
    leaderboards: dict = {(k, n): leaderboard_null(k, n, reps, rng) for k, n in boards}
    for k, kind, looks in adaptive_boards:
        design = f"{looks.min_seeds}..{looks.max_seeds}"
        leaderboards["adaptive", k, kind, design] = adaptive_leaderboard_null(k, kind, reps, rng, looks)
    return results, leaderboards


def main(argv: list[str] | None = None) -> int:
    """Print the tables; exit 1 when a bound does not hold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="comparisons per cell (default 2000)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results, leaderboards = simulate(args.reps)
    print(report(results, args.reps, leaderboards))
    failures = check(results, args.reps, leaderboards)
    # the one case where a t-interval's tails are off, measured ten times as precisely
    precise_reps = 10 * args.reps
    for n in (3, 5, 9):
        tally = fixed("skewed one side", 0.0, n, precise_reps, np.random.default_rng(100 + n))
        error = math.sqrt(ALPHA * (1 - ALPHA) / precise_reps)
        print(
            f"skewed one side, {n} seeds, {precise_reps} A/A comparisons: worse {tally.rate('worse'):.4f} "
            f"(standard error {error:.4f})"
        )
    count = (len(results) + len(leaderboards) + 3 * 10) * args.reps
    print(f"\n{count} simulated comparisons in {time.perf_counter() - started:.0f} s")
    print("bounds hold" if not failures else "BOUNDS FAILED:\n" + "\n".join(failures))
    return 1 if failures else 0


def test_verdict_error_rates():
    """pytest entry point: the full simulation, with its bounds."""
    assert main([]) == 0


if __name__ == "__main__":
    sys.exit(main())
