"""Two runs side by side: the same trials matched, ratios of medians, and a test for each difference.

``nnbench compare A.db B.db`` (or ``A.db:RUN_ID``) matches trials on ``trial_id``; trials whose ids
differ (the id includes the device kind and budget, so a GPU run never shares ids with a CPU run) are
matched on architecture, its config, task, its config and seed. Per (architecture, task) the page
and the text table give, for training time, median step time and test score, the medians of A and B,
their ratio B/A, the p-value of the two-sided test (:func:`nnbench.stats.compare_samples`) and a
verdict: "faster"/"slower" or "better"/"worse" only when the test says so, else "same". Tuning
trials (stage ``tune``) are matched but not compared: they share a label with their study's final
re-runs, which ran on another budget.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field

import pandas as pd

from nnbench import stats
from nnbench.errors import NnbenchError
from nnbench.report import fmt as f

# (column, what it is, unit, higher is better: None for times)
METRICS = (
    ("train_s", "training time", "s", None),
    ("step_ms_median", "median step time", "ms", None),
    ("test_score", "test score", "", True),
)
IDENTITY = ("architecture", "arch_config", "task", "task_config", "seed")
TEST_NAMES = {"mann-whitney": "Mann-Whitney U", "permutation": "permutation"}


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


def load_side(spec: str) -> Side:
    """Load one side: its trials (of one run if given) and run records."""
    from nnbench.report.from_store import load_store

    db, run_id = parse_side(spec)
    if not db.exists():
        raise NnbenchError(f"compare {spec}: no such results store")
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


def _values(rows: pd.DataFrame, column: str, side: str) -> pd.Series:
    status = rows.get(f"status_{side}")
    values = pd.to_numeric(rows.get(f"{column}_{side}", pd.Series(dtype=float)), errors="coerce").astype(
        float
    )
    return values[status == "ok"] if status is not None else values


def compare_runs(a_spec: str, b_spec: str, *, alpha: float = stats.ALPHA) -> Comparison:
    """Load both sides, match their trials and compare each (architecture, task) on every metric."""
    a, b = load_side(a_spec), load_side(b_spec)
    pairs, by_id, only_a, only_b = match(a.results, b.results)
    result = Comparison(a, b, len(pairs), by_id, only_a, only_b)
    if pairs.empty:
        return result
    # a study's tuning trials share their label with its final re-runs, on another budget: not compared
    if "stage_a" in pairs:
        pairs = pairs[pairs["stage_a"].fillna("main").astype(str) != "tune"]
    label_a = pairs["arch_label_a"] if "arch_label_a" in pairs else pairs["architecture_a"]
    pairs = pairs.assign(_label=label_a.where(label_a.notna(), pairs["architecture_a"]).astype(str))
    for (label, task), rows in pairs.groupby(["_label", "task_a"], sort=True):
        if (rows["status_a"] == "skipped").all() and (rows["status_b"] == "skipped").all():
            continue  # a pair that does not fit (n/a) on both sides: nothing to compare
        higher = rows.get("higher_is_better_a", pd.Series(dtype=object)).dropna()
        metric = rows.get("metric_a", pd.Series(dtype=object)).dropna()
        entry = {"label": label, "task": str(task), "pairs": len(rows)}
        entry["metric"] = str(metric.iloc[0]) if len(metric) else "score"
        for column, _what, _unit, score in METRICS:
            direction = (bool(higher.iloc[0]) if len(higher) else True) if score else None
            outcome = stats.compare_samples(
                _values(rows, column, "a"),
                _values(rows, column, "b"),
                higher_is_better=direction,
                alpha=alpha,
            )
            entry[column] = {
                "a": outcome.median_a,
                "b": outcome.median_b,
                "ratio": outcome.ratio,
                "p": outcome.p_value,
                "verdict": outcome.verdict,
                "n": min(outcome.n_a, outcome.n_b),
            }
        result.rows.append(entry)
    return result


def text_table(result: Comparison) -> str:
    """A short plain-text table of the comparison, for the terminal."""
    lines = [
        f"A: {result.a.spec} ({result.a.describe()['device']})   B: {result.b.spec} ({result.b.describe()['device']})",
        f"{result.matched} trials matched ({result.by_id} by trial id, {result.matched - result.by_id} by "
        f"architecture, configs, task and seed); only in A: {result.only_a}, only in B: {result.only_b}",
    ]
    if not result.rows:
        return "\n".join([*lines, "nothing to compare: no trial of A matches one of B"])
    header = ["architecture", "task", "n", "train B/A", "", "step B/A", "", "score A", "score B", ""]
    table = [header]
    for row in result.rows:
        train, step, score = row["train_s"], row["step_ms_median"], row["test_score"]
        table.append(
            [
                str(row["label"]),
                row["task"],
                str(row["pairs"]),
                _ratio(train["ratio"]),
                train["verdict"],
                _ratio(step["ratio"]),
                step["verdict"],
                f.num(score["a"]),
                f.num(score["b"]),
                score["verdict"],
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    lines.append(
        f'"same": no difference a two-sided {TEST_NAMES[stats.significance_test()]} test can see at p < {stats.ALPHA} '
        "(it needs 4+ seeds per side to see any)."
    )
    return "\n".join(lines)


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
                    "p": f.num(cell["p"], 2),
                    "verdict": cell["verdict"],
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
        alpha=stats.ALPHA,
        test=TEST_NAMES[stats.significance_test()],
        plotly_js=None,
        figures_json=None,
    )
    output = pathlib.Path(output)
    output.write_text(page, encoding="utf-8")
    return output
