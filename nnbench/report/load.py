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


def load_store(db=None, run_id: str | None = None, *, curves: str = "all") -> StoreData:
    """Load the trials of ``run_id`` (default: every trial) with their curves and run records.

    ``curves="all"`` reads every evaluation point; ``"primary"`` only the validation points of the
    trials' primary metrics, which is all a report draws (less than half of a store's points).
    """
    from nnbench import store

    if curves not in ("all", "primary"):
        raise ValueError(f"curves must be 'all' or 'primary', got {curves!r}")
    with store.Store(db, create=False) as opened:  # one open: its integrity check reads the whole file
        results = store.results_frame(opened, run_id)
        runs = store.runs_frame(opened)
        if run_id is not None and run_id not in set(runs["run_id"]):
            known = ", ".join(runs["run_id"].tail(5)) or "none"
            raise NnbenchError(f"--run {run_id}: no such run in the store (latest: {known})")
        if curves == "primary":
            metrics = results["metric"].dropna() if "metric" in results else []
            points = store.curves_frame(opened, run_id, split="val", metrics=metrics)
        else:
            points = store.curves_frame(opened, run_id)
    if run_id is not None:
        runs = runs[runs["run_id"] == run_id]
    return StoreData(results, points, runs)
