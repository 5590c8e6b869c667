"""Read a results store: one run's (or every) trial with its curves and run records."""

from __future__ import annotations

from dataclasses import dataclass

from nnbench.errors import NnbenchError


@dataclass
class StoreData:
    """One store's trials (of one run, or all), their curves and the matching run records."""

    results: object  # pandas.DataFrame
    curves: object
    runs: object


def load_store(db=None, run_id: str | None = None) -> StoreData:
    """Load the trials of ``run_id`` (default: every trial) with their curves and run records."""
    from nnbench import store

    results = store.load_results(db, run_id=run_id)
    runs = store.load_runs(db)
    if run_id is not None:
        if run_id not in set(runs["run_id"]):
            known = ", ".join(runs["run_id"].tail(5)) or "none"
            raise NnbenchError(f"--run {run_id}: no such run in the store (latest: {known})")
        runs = runs[runs["run_id"] == run_id]
    curves = store.load_curves(db)
    if not results.empty:
        curves = curves[curves["trial_id"].isin(set(results["trial_id"]))]
    elif run_id is not None:
        curves = curves.iloc[:0]
    return StoreData(results, curves, runs)
