"""Two runs side by side: the same trials matched, and the verdict procedure on each difference.

``nnbench compare A.db B.db`` (or ``A.db:RUN_ID``) matches trials on ``trial_id``; trials whose ids
differ (the id includes the device kind and budget, so a GPU run never shares ids with a CPU run) are
matched on architecture, its config, task, its config and seed. Per (architecture, task), for
quality (test score), median step time, training time and cost, it gives the means of A and B,
their ratio B/A, the difference B - A with its t-interval (paired by seed, Welch otherwise) and an
outcome from :func:`nnbench.verdict.compare_to_baseline`: "better", "worse", "equivalent" (inside
the margin: the task's for quality, 5% of A's mean for times and cost) or "undecided". Each measure's
comparisons are one family: Bonferroni over them at alpha 0.05. Matched trials that differ in budget,
batch size, threads, workers or device are named in a warning. Tuning trials (stage ``tune``) are
matched but not compared: they share a label with their study's final re-runs, which ran on another
budget. ``nnbench verdict --baseline`` is the same comparison, read as a regression gate.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nnbench import stats, verdict
from nnbench.errors import NnbenchError
from nnbench.report import fmt as f
from nnbench.types import Margin

# (column, what it is, unit, higher is better: False for times and costs)
METRICS = (
    ("test_score", "quality (test score)", "", True),
    ("step_ms_median", "median step time", "ms", False),
    ("train_s", "training time", "s", False),
    ("cost_usd", "cost", "USD", False),
)
IDENTITY = ("architecture", "arch_config", "task", "task_config", "seed")
# Settings that change a result without changing the trial's identity: named when matched trials differ.
SETTINGS = (
    ("budget_steps", "budget (steps)"),
    ("budget_s", "budget (seconds)"),
    ("batch_size", "batch size"),
    ("threads", "threads"),
    ("workers", "workers"),
    ("device_name", "device"),
)
# How an outcome reads for each measure: times and costs are better when lower.
WORDS = {
    "test_score": {},
    "step_ms_median": {"better": "faster", "worse": "slower"},
    "train_s": {"better": "faster", "worse": "slower"},
    "cost_usd": {"better": "cheaper", "worse": "dearer"},
}


@dataclass
class Side:
    """One side of a comparison: where it came from and its trials."""

    spec: str
    db: pathlib.Path
    run_id: str | None
    results: pd.DataFrame
    runs: pd.DataFrame

    def describe(self) -> dict:
        """What the page says about this side: store, run, suite, device, trial count."""
        runs = self.runs
        devices = sorted({str(d) for d in runs.get("device_name", pd.Series(dtype=object)).dropna()})
        suites = sorted({str(s) for s in runs.get("suite_name", pd.Series(dtype=object)).dropna()})
        return {
            "spec": self.spec,
            "db": str(self.db),
            "run": self.run_id or "every run",
            "suite": ", ".join(suites) or f.BLANK,
            "device": ", ".join(devices) or f.BLANK,
            "trials": len(self.results),
        }


@dataclass
class Comparison:
    """The matched trials and one row per (architecture, task) and metric."""

    a: Side
    b: Side
    matched: int
    by_id: int
    only_a: int
    only_b: int
    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    alpha: float = verdict.ALPHA
    families: dict[str, int] = field(default_factory=dict)  # measure -> comparisons in its family

    def verdict_counts(self, column: str) -> dict[str, int]:
        """How many (architecture, task) pairs got each verdict for ``column``."""
        counts: dict[str, int] = {}
        for row in self.rows:
            verdict = row[column]["verdict"]
            counts[verdict] = counts.get(verdict, 0) + 1
        return counts


def parse_side(spec: str) -> tuple[pathlib.Path, str | None]:
    """``A.db`` or ``A.db:RUN_ID`` as (path, run id); a path that exists as given wins over a split."""
    path = pathlib.Path(spec)
    if path.exists() or ":" not in spec:
        return path, None
    head, _, run_id = spec.rpartition(":")
    if head and run_id and pathlib.Path(head).exists():
        return pathlib.Path(head), run_id
    return path, None


def load_side(spec: str, *, run_id: str | None = None, what: str = "compare") -> Side:
    """Load one side: its trials (of one run if given, in ``spec`` or as ``run_id``) and run records."""
    from nnbench.report.load import load_store

    db, spec_run = parse_side(spec)
    run_id = run_id or spec_run
    if not db.exists():
        raise NnbenchError(f"{what} {spec}: no such results store")
    data = load_store(db, run_id)
    return Side(spec, db, run_id, data.results, data.runs)


def _identity(frame: pd.DataFrame) -> pd.Series:
    columns = [frame[c] if c in frame else pd.Series(None, index=frame.index) for c in IDENTITY]
    return pd.Series(
        [json.dumps([str(v) for v in values]) for values in zip(*columns, strict=True)],
        index=frame.index,
        dtype=object,
    )


def match(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """Pair the trials of A and B: on trial_id, else on the identity (architecture, configs, task, seed).

    Returns the pairs (columns of A suffixed ``_a``, of B ``_b``), the number matched by id and the
    numbers left unmatched on each side. Where one side holds several trials of one identity (e.g.
    the same trial on two devices), the last one stored is used.
    """
    if a.empty or b.empty or "trial_id" not in a or "trial_id" not in b:
        return pd.DataFrame(), 0, len(a), len(b)
    ids = set(a["trial_id"]) & set(b["trial_id"])
    a = a.assign(_key="id:" + a["trial_id"].astype(str))
    b = b.assign(_key="id:" + b["trial_id"].astype(str))
    rest_a, rest_b = ~a["trial_id"].isin(ids), ~b["trial_id"].isin(ids)
    a.loc[rest_a, "_key"] = "identity:" + _identity(a[rest_a])
    b.loc[rest_b, "_key"] = "identity:" + _identity(b[rest_b])
    a = a.drop_duplicates("_key", keep="last")
    b = b.drop_duplicates("_key", keep="last")
    pairs = a.add_suffix("_a").merge(b.add_suffix("_b"), left_on="_key_a", right_on="_key_b")
    return pairs, len(ids), len(a) - len(pairs), len(b) - len(pairs)


def compare_runs(a_spec: str, b_spec: str, *, alpha: float = verdict.ALPHA) -> Comparison:
    """Load both sides, match their trials and compare each (architecture, task) on every measure."""
    return compare_sides(load_side(a_spec), load_side(b_spec), alpha=alpha)


def _by_seed(rows: pd.DataFrame, column: str, side: str) -> dict:
    """``{seed: value}`` of ``column`` on one side over its trials that finished ok."""
    # plain arrays, not pandas lookups: the history pages call this thousands of times
    name = f"{column}_{side}"
    if name in rows:
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
    else:
        values = np.full(len(rows), np.nan)
    status = rows.get(f"status_{side}")
    keep = (status == "ok").to_numpy() if status is not None else np.ones(len(rows), dtype=bool)
    seeds = rows[f"seed_{side}"].to_numpy() if f"seed_{side}" in rows else rows.index.to_numpy()
    out = {}
    for i, (seed, value) in enumerate(zip(seeds[keep], values[keep], strict=True)):
        if math.isfinite(value):
            out[seed if seed not in out else (seed, i)] = float(value)
    return out


def _margin(rows: pd.DataFrame) -> Margin | None:
    """The quality margin the matched trials recorded (A's, else B's); None when neither did."""
    for side in ("a", "b"):
        values = rows.get(f"margin_{side}", pd.Series(dtype=object)).dropna()
        if len(values):
            relative = rows.get(f"margin_relative_{side}", pd.Series(dtype=object)).dropna()
            return Margin(float(values.iloc[0]), relative=bool(relative.iloc[0]) if len(relative) else False)
    return None


def _looks(rows: pd.DataFrame) -> verdict.Looks:
    """The planned looks of adaptive seeds either side's trials recorded (the side with more looks);
    one look for lists of seeds. Their seed counts depend on how quality fell, so quality is judged
    at each look's level, as in the runs' own verdicts (:func:`nnbench.stats.planned_looks`)."""
    designs = []
    for side in ("a", "b"):
        columns = {f"{name}_{side}": name for name in ("looks", "seeds_min", "seeds_max")}
        designs.append(stats.planned_looks(rows[[c for c in columns if c in rows]].rename(columns=columns)))
    return max(designs, key=lambda design: (design.count, design.max_seeds))


def setting_differences(pairs: pd.DataFrame) -> list[str]:
    """Each setting of :data:`SETTINGS` in which matched trials differ, in words with the trial count.

    ``budget (seconds): A 15 vs B 10 (12 trials)``; values missing on either side are not compared.
    """
    out = []
    for column, what in SETTINGS:
        a, b = pairs.get(f"{column}_a"), pairs.get(f"{column}_b")
        if a is None or b is None:
            continue
        counts: dict[tuple[str, str], int] = {}
        for value_a, value_b in zip(a, b, strict=True):
            if _missing(value_a) or _missing(value_b) or _same(value_a, value_b):
                continue
            key = (_text(value_a), _text(value_b))
            counts[key] = counts.get(key, 0) + 1
        for (value_a, value_b), n in sorted(counts.items()):
            out.append(f"{what}: A {value_a} vs B {value_b} ({n} trial{'s' if n != 1 else ''})")
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compare_sides(
    a: Side, b: Side, *, alpha: float = verdict.ALPHA, task_column: str | None = None
) -> Comparison:
    """Match the trials of two loaded sides and compare each (architecture, task) on every measure.

    Each measure's comparisons form one family: their intervals are Bonferroni intervals at
    ``1 - alpha / family``, so the chance of any false "better" or "worse" in a measure is at most alpha.
    Each row's ``settings`` names the settings in which its own matched trials differ.

    Tasks are told apart by :func:`nnbench.stats.task_labels` of the matched trials, or, with
    ``task_column``, by that column of A's trials (the history pages label a task once for a whole
    store, so the same task reads the same in every pair of runs).
    """
    pairs, by_id, only_a, only_b = match(a.results, b.results)
    result = Comparison(a, b, len(pairs), by_id, only_a, only_b, alpha=alpha)
    if pairs.empty:
        return result
    # a study's tuning trials share their label with its final re-runs, on another budget: not compared
    if "stage_a" in pairs:
        pairs = pairs[pairs["stage_a"].fillna("main").astype(str) != "tune"]
    result.warnings = setting_differences(pairs)
    label_a = pairs["arch_label_a"] if "arch_label_a" in pairs else pairs["architecture_a"]
    pairs = pairs.assign(_label=label_a.where(label_a.notna(), pairs["architecture_a"]).astype(str))
    # two configurations of one task are two tasks
    if task_column is not None:
        tasks = pairs[f"{task_column}_a"].astype(str)
    else:
        tasks = stats.task_labels(pairs.rename(columns={"task_a": "task", "task_config_a": "task_config"}))
    pairs = pairs.assign(_task=tasks)
    groups = []
    for (label, task), rows in pairs.groupby(["_label", "_task"], sort=True):
        if (rows["status_a"] == "skipped").all() and (rows["status_b"] == "skipped").all():
            continue  # a pair that does not fit (n/a) on both sides: nothing to compare
        groups.append((label, task, rows))
    samples = {
        (label, task, column): (_by_seed(rows, column, "a"), _by_seed(rows, column, "b"))
        for label, task, rows in groups
        for column, *_ in METRICS
    }
    for column, *_ in METRICS:
        result.families[column] = sum(
            min(len(sa), len(sb)) >= verdict.MIN_SEEDS
            for (_, _, measure), (sa, sb) in samples.items()
            if measure == column
        )
    for label, task, rows in groups:
        higher = rows.get("higher_is_better_a", pd.Series(dtype=object)).dropna()
        metric = rows.get("metric_a", pd.Series(dtype=object)).dropna()
        entry = {"label": label, "task": str(task), "pairs": len(rows), "settings": setting_differences(rows)}
        entry["metric"] = str(metric.iloc[0]) if len(metric) else "score"
        for column, _what, _unit, score in METRICS:
            direction = (bool(higher.iloc[0]) if len(higher) else True) if score else False
            before, after = samples[label, task, column]
            outcome = verdict.compare_to_baseline(
                before,
                after,
                higher_is_better=direction,
                margin=_margin(rows) if score else verdict.TIME_MARGIN,
                alpha=alpha,
                comparisons=max(1, result.families[column]),
                looks=_looks(rows) if score else 1,  # adaptive seeds stopped on quality, not on times
            )
            d = outcome.difference
            sign = 1.0 if direction else -1.0  # back to B - A in the measure's own units
            low, high = sorted((sign * d.low, sign * d.high)) if d.has_interval else (math.nan, math.nan)
            entry[column] = {
                "a": outcome.baseline_mean,
                "b": outcome.new_mean,
                "ratio": outcome.ratio,
                "difference": sign * d.estimate,
                "low": low,
                "high": high,
                "margin": outcome.margin,
                "outcome": outcome.outcome,
                "verdict": WORDS[column].get(outcome.outcome, outcome.outcome),
                "reason": outcome.reason,
                "method": d.method,
                "n": min(d.n_first, d.n_second),
            }
        result.rows.append(entry)
    return result


def procedure_note(result: Comparison) -> str:
    """How the outcomes were decided, in one sentence."""
    families = ", ".join(
        f"{what.split(' (')[0]} {result.families.get(column, 0)}" for column, what, _, _ in METRICS
    )
    return (
        f"Outcomes: t-interval of B - A per architecture and task, paired by seed (Welch otherwise), "
        f"Bonferroni over each measure's comparisons ({families}) at alpha {result.alpha:g}; "
        f"equivalent = inside the margin (quality: the task's; times and cost: "
        f"{100 * verdict.TIME_MARGIN.value:g}% of A's mean); undecided = neither apart nor equivalent, "
        f"or fewer than {verdict.MIN_SEEDS} seeds a side. Quality of entries run with adaptive seeds is "
        "judged at the level of the look their seed count reached (the runs' planned looks)."
    )


def warning_lines(result: Comparison) -> list[str]:
    """The settings warning, one line per setting, or nothing."""
    if not result.warnings:
        return []
    return [
        "warning: matched trials differ in settings, so a difference below may come from them:",
        *(f"  {line}" for line in result.warnings),
    ]


def _interval_text(cell: dict) -> str:
    if not math.isfinite(cell["low"]):
        return f.num(cell["difference"], 3) if math.isfinite(cell["difference"]) else f.BLANK
    return f"{f.num(cell['difference'], 3)} [{f.num(cell['low'], 3)}, {f.num(cell['high'], 3)}]"


def text_table(result: Comparison) -> str:
    """A plain-text table of the comparison for the terminal: aligned columns, never truncated."""
    lines = [
        f"A: {result.a.spec} ({result.a.describe()['device']})   B: {result.b.spec} ({result.b.describe()['device']})",
        f"{result.matched} trials matched ({result.by_id} by trial id, {result.matched - result.by_id} by "
        f"architecture, configs, task and seed); only in A: {result.only_a}, only in B: {result.only_b}",
        *warning_lines(result),
    ]
    if not result.rows:
        return "\n".join([*lines, "nothing to compare: no trial of A matches one of B"])
    header = [
        "architecture",
        "task",
        "seeds",
        "score A",
        "score B",
        "B - A [interval]",
        "quality",
        "step B/A",
        "step time",
        "train B/A",
        "training time",
        "cost B/A",
        "cost",
    ]
    table = [header]
    for row in result.rows:
        score, step, train, cost = (row[c] for c, *_ in METRICS)
        table.append(
            [
                str(row["label"]),
                row["task"],
                str(row["pairs"]),
                f.num(score["a"]),
                f.num(score["b"]),
                _interval_text(score),
                score["verdict"],
                _ratio(step["ratio"]),
                step["verdict"],
                _ratio(train["ratio"]),
                train["verdict"],
                _ratio(cost["ratio"]),
                cost["verdict"] if math.isfinite(cost["a"]) or math.isfinite(cost["b"]) else "not measured",
            ]
        )
    lines.extend(align(table))
    lines.append(procedure_note(result))
    return "\n".join(lines)


def align(table: list[list[str]]) -> list[str]:
    """Rows of cells as lines of left-aligned columns two spaces apart (cells are never cut)."""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]


def _ratio(value: float) -> str:
    return f.BLANK if not math.isfinite(value) else f"{value:.3g}x"


def write_comparison(
    result: Comparison, output: str | pathlib.Path, *, title: str | None = None
) -> pathlib.Path:
    """Write the comparison page (same template machinery as the report) and return its path."""
    from nnbench.report.html import template

    tables = []
    for column, what, unit, score in METRICS:
        rows = []
        for row in result.rows:
            cell = row[column]
            rows.append(
                {
                    "label": row["label"],
                    "task": row["task"],
                    "n": cell["n"],
                    "a": f.num(cell["a"], 4),
                    "b": f.num(cell["b"], 4),
                    "ratio": _ratio(cell["ratio"]),
                    "difference": _interval_text(cell),
                    "verdict": cell["verdict"],
                    "reason": cell["reason"],
                    "metric": row["metric"],
                }
            )
        tables.append(
            {
                "column": column,
                "title": what.capitalize(),
                "unit": unit,
                "score": bool(score),
                "rows": rows,
                "counts": result.verdict_counts(column) if result.rows else {},
            }
        )
    page = template("compare.html").render(
        title=title or "nnbench comparison",
        links=[],
        a=result.a.describe(),
        b=result.b.describe(),
        matched=result.matched,
        by_id=result.by_id,
        only_a=result.only_a,
        only_b=result.only_b,
        tables=tables,
        warnings=result.warnings,
        procedure=procedure_note(result),
        plotly_js=None,
        figures_json=None,
    )
    output = pathlib.Path(output)
    output.write_text(page, encoding="utf-8")
    return output


def comparison_dict(result: Comparison, *, digits: int = 6) -> dict:
    """The comparison as plain data for JSON (``nnbench verdict --baseline --json``)."""

    def number(value):
        return None if value is None or not math.isfinite(value) else float(f"{value:.{digits}g}")

    rows = []
    for row in result.rows:
        out = {
            "architecture": row["label"],
            "task": row["task"],
            "metric": row["metric"],
            "seeds": row["pairs"],
        }
        for column, *_ in METRICS:
            cell = row[column]
            out[column] = {
                "baseline": number(cell["a"]),
                "new": number(cell["b"]),
                "ratio": number(cell["ratio"]),
                "difference": number(cell["difference"]),
                "interval": [number(cell["low"]), number(cell["high"])]
                if math.isfinite(cell["low"])
                else None,
                "margin": number(cell["margin"]),
                "outcome": cell["outcome"],
                "reason": cell["reason"],
                "seeds": cell["n"],
            }
        rows.append(out)
    return {
        "baseline": result.a.describe(),
        "new": result.b.describe(),
        "matched": result.matched,
        "only_baseline": result.only_a,
        "only_new": result.only_b,
        "warnings": result.warnings,
        "procedure": procedure_note(result),
        "rows": rows,
    }
