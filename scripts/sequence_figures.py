"""Print the recall and context figures of a results store as text tables.

    python scripts/sequence_figures.py recall.db context.db

For every task of each store: the recall section's numbers (test metric per family and width at each
length, and per number of key-value pairs) and the context section's fitted exponents, computed by the
same functions as the report's sections (nnbench/report/recall_section.py, context_section.py). The
docs quote their output; it reads the store only.
"""

from __future__ import annotations

import sys

import nnbench
from nnbench.report import context_section, recall_section


def recall_tables(trials, task: str) -> None:
    """Test metric per (length, family, width) and per pair count."""
    metric = str(trials["metric"].dropna().iloc[0])
    rows = recall_section.recall_trials(trials, metric)
    if rows.empty:
        return
    counts, table = recall_section.kv_table(rows, metric)
    points = recall_section.recall_points(rows, "model_width")
    state = recall_section.recall_points(rows, "state_bytes").set_index(["length", "family", "size"])["x"]
    print(f"\n== {task}: test {metric} by width (mean over seeds) and by number of key-value pairs")
    print(
        f"{'length':>6} {'family':<28} {'width':>5} {'state B':>9} {metric:>9} "
        + " ".join(f"{f'kv{k}':>6}" for k in counts)
    )
    cells = {(r["length"], r["family"], r["width"]): r["cells"] for r in table}
    for p in points.to_dict("records"):
        state_bytes = state.get((p["length"], p["family"], p["size"]))
        state_text = f"{state_bytes:9.0f}" if state_bytes is not None else f"{'-':>9}"
        kv = cells.get((str(p["length"]), p["family"], p["size"]), [])
        print(
            f"{p['length']:>6} {p['family']:<28} {p['size']:>5} {state_text} {p['mean']:9.3f} "
            + " ".join(f"{c:>6}" for c in kv)
        )


def context_tables(trials, task: str) -> None:
    """Fitted exponents per family and measure."""
    section, _ = context_section.task_context(0, task, trials, colors={}, metric="", higher_is_better=True)
    if section is None:
        return
    print(f"\n== {task}: power-law exponents against length (longest half of the lengths)")
    print(f"{'family':<34} {'measure':<30} {'b':>7}  {'95% interval':<18} {'lengths'}")
    for row in section["fits"]:
        print(
            f"{row['family']:<34} {row['measure']:<30} {row['exponent']:>7}  {row['interval']:<18} {row['range']}"
        )


def main(paths: list[str]) -> None:
    """Print both sections' numbers for every task of every store in ``paths``."""
    for path in paths:
        results = nnbench.load_results(path)
        print(f"# {path}: {len(results)} trials")
        for task, trials in results.groupby("task", sort=True):
            recall_tables(trials, str(task))
            context_tables(trials, str(task))


if __name__ == "__main__":
    main(sys.argv[1:] or ["nnbench.db"])
