"""The SQLite results store: one file, WAL mode, one transaction per finished trial.

Tables: ``meta`` (schema version), ``runs`` (one per ``nnbench run``), ``trials`` (one row per trial,
keyed by ``trial_id``; identity columns plus every measured field as JSON in ``record``) and ``curves``
(one row per evaluation point). :func:`load_results` flattens ``record`` into DataFrame columns, so a
new measured field needs no schema migration.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnbench.errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    import pandas

SCHEMA_VERSION = 1
DEFAULT_DB = "nnbench.db"
# Statuses a re-run skips: the trial has a result that running again would only repeat.
FINAL_STATUSES = ("ok", "diverged", "skipped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite_name TEXT,
    suite_path TEXT,
    suite_text TEXT,
    started_at REAL,
    finished_at REAL,
    git_sha TEXT,
    environment TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    run_id TEXT,
    architecture TEXT NOT NULL,
    arch_config TEXT NOT NULL,
    task TEXT NOT NULL,
    task_config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    device TEXT,
    status TEXT NOT NULL,
    error TEXT,
    finished_at REAL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS curves (
    trial_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    train_s REAL,
    split TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS curves_by_trial ON curves (trial_id);
"""

IDENTITY_COLUMNS = (
    "trial_id",
    "run_id",
    "architecture",
    "arch_config",
    "task",
    "task_config",
    "seed",
    "device",
    "status",
    "error",
    "finished_at",
)


def default_db_path() -> Path:
    """``$NNBENCH_DB`` or ``./nnbench.db``."""
    return Path(os.environ.get("NNBENCH_DB") or DEFAULT_DB)


def _clean(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Store:
    """An open results store. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_db_path()
        self._check_path(create)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not an nnbench results store ({exc})") from None

    def _check_path(self, create: bool) -> None:
        if self.path.is_dir():
            raise StoreError(
                f"--db {self.path}: is a directory; expected a file such as {self.path / DEFAULT_DB}"
            )
        if not self.path.exists():
            if not create:
                raise StoreError(f"--db {self.path}: no such results store (run a suite first)")
            parent = self.path.parent if str(self.path.parent) else Path(".")
            if not parent.is_dir():
                raise StoreError(f"--db {self.path}: folder {parent} does not exist")
            if not os.access(parent, os.W_OK):
                raise StoreError(f"--db {self.path}: cannot create a file in {parent} (read-only)")

    def _init_schema(self) -> None:
        integrity = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            raise StoreError(f"{self.path}: the results store is damaged (integrity check: {integrity})")
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StoreError(f"{self.path}: an SQLite file, but not an nnbench results store")
        if "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {version} is newer than this nnbench's "
                    f"({SCHEMA_VERSION}); upgrade nnbench"
                )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    # -- transactions ---------------------------------------------------------------------------
    def transaction(self):
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        store = self

        class _Transaction:
            def __enter__(self):
                store.conn.execute("BEGIN IMMEDIATE")
                return store.conn

            def __exit__(self, exc_type, exc, tb):
                store.conn.execute("ROLLBACK" if exc_type else "COMMIT")
                return False

        return _Transaction()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        suite_name: str,
        suite_path: str | None,
        suite_text: str,
        git_sha: str | None,
        environment: dict[str, Any],
        *,
        started_at: float | None = None,
    ) -> None:
        """Record the start of one ``nnbench run`` (``started_at``: epoch seconds, default now)."""
        started = time.time() if started_at is None else float(started_at)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, suite_name, suite_path, suite_text, started_at, git_sha, environment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, suite_name, suite_path, suite_text, started, git_sha, json.dumps(environment)),
            )

    def finish_run(self, run_id: str) -> None:
        """Record the end of a run."""
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (time.time(), run_id))

    def write_trial(self, record: dict[str, Any], curve: Iterable[dict[str, Any]] = ()) -> None:
        """Write one finished trial and its curve in one transaction, replacing an earlier attempt."""
        record = {k: _clean(v) for k, v in record.items()}
        identity = [record.get(c) for c in IDENTITY_COLUMNS]
        identity[3] = json.dumps(record["arch_config"], sort_keys=True)
        identity[5] = json.dumps(record["task_config"], sort_keys=True)
        measured = {k: v for k, v in record.items() if k not in IDENTITY_COLUMNS}
        with self.transaction() as conn:
            conn.execute("DELETE FROM curves WHERE trial_id=?", (record["trial_id"],))
            conn.execute(
                f"INSERT OR REPLACE INTO trials ({', '.join(IDENTITY_COLUMNS)}, record)"
                f" VALUES ({', '.join('?' * (len(IDENTITY_COLUMNS) + 1))})",
                (*identity, json.dumps(measured, default=str)),
            )
            conn.executemany(
                "INSERT INTO curves (trial_id, step, train_s, split, metric, value) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (record["trial_id"], p["step"], p["train_s"], p["split"], p["metric"], _clean(p["value"]))
                    for p in curve
                ],
            )

    # -- reads ----------------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """``trial_id -> status`` of every trial in the store."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT trial_id, status FROM trials")}

    def finished_ids(self) -> set[str]:
        """Trials a re-run skips (status ok, diverged or skipped)."""
        marks = ", ".join("?" * len(FINAL_STATUSES))
        rows = self.conn.execute(f"SELECT trial_id FROM trials WHERE status IN ({marks})", FINAL_STATUSES)
        return {r[0] for r in rows}

    def trial_tuples(self, run_id: str | None = None) -> list[tuple]:
        """Every trial (of one run, if given) as a plain tuple: the identity columns in
        :data:`IDENTITY_COLUMNS`' order, then the record's JSON text, in the order written."""
        query = f"SELECT {', '.join(IDENTITY_COLUMNS)}, record FROM trials"
        query += (" WHERE run_id=?" if run_id else "") + " ORDER BY rowid"
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: a sqlite3.Row per trial costs more than its JSON
        return cursor.execute(query, (run_id,) if run_id else ()).fetchall()

    def trial_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Every trial (of one run, if given) as a flat dict: identity columns plus the record."""
        return [
            dict(zip(IDENTITY_COLUMNS, row[:-1], strict=True)) | json.loads(row[-1])
            for row in self.trial_tuples(run_id)
        ]


def _open_existing(db) -> Store:
    return Store(db, create=False)


def load_results(db=None, run_id: str | None = None) -> pandas.DataFrame:
    """One row per trial, with identity columns and every measured field as columns."""
    with _open_existing(db) as store:
        return results_frame(store, run_id)


def results_frame(store: Store, run_id: str | None = None) -> pandas.DataFrame:
    """:func:`load_results` from an open store."""
    import pandas as pd

    rows = store.trial_tuples(run_id)
    if not rows:
        return pd.DataFrame(columns=list(IDENTITY_COLUMNS))
    # The same frame as one built from trial_rows' flat dicts, in half the time: the identity columns
    # and the records' fields (never the same names: write_trial keeps them apart) side by side.
    identity = pd.DataFrame([row[:-1] for row in rows], columns=list(IDENTITY_COLUMNS))
    measured = pd.DataFrame([json.loads(row[-1]) for row in rows])
    return pd.concat([identity, measured], axis=1)


def load_curves(
    db=None, run_id: str | None = None, *, split: str | None = None, metrics: Iterable[str] | None = None
) -> pandas.DataFrame:
    """One row per evaluation point: trial_id, step, train_s, split, metric, value.

    ``run_id``: only that run's trials; ``split``: only that split ("val" or "test"); ``metrics``:
    only those metrics (the report reads the trials' primary metrics, not the losses).
    """
    with _open_existing(db) as store:
        return curves_frame(store, run_id, split=split, metrics=metrics)


def curves_frame(
    store: Store, run_id: str | None = None, *, split: str | None = None, metrics: Iterable[str] | None = None
) -> pandas.DataFrame:
    """:func:`load_curves` from an open store. The filters run in SQLite: a store of 100,000 trials
    holds about a million points, and reading the ones a page needs is half the time."""
    import pandas as pd

    where, params = [], []
    if run_id is not None:
        where.append("trial_id IN (SELECT trial_id FROM trials WHERE run_id=?)")
        params.append(run_id)
    if split is not None:
        where.append("split=?")
        params.append(split)
    if metrics is not None:
        metrics = sorted({str(m) for m in metrics})
        where.append(f"metric IN ({', '.join('?' * len(metrics))})")
        params += metrics
    columns = ["trial_id", "step", "train_s", "split", "metric", "value"]
    query = f"SELECT {', '.join(columns)} FROM curves"
    if where:
        query += " WHERE " + " AND ".join(where)
    cursor = store.conn.cursor()
    cursor.row_factory = None
    # fetchall and from_records: the same frame as pandas.read_sql_query, in half the time
    frame = pd.DataFrame.from_records(cursor.execute(query, params).fetchall(), columns=columns)
    return frame.astype({"step": "int64", "train_s": "float64", "value": "float64"})


def load_runs(db=None) -> pandas.DataFrame:
    """One row per run: its suite, environment and timing."""
    with _open_existing(db) as store:
        return runs_frame(store)


def runs_frame(store: Store) -> pandas.DataFrame:
    """:func:`load_runs` from an open store."""
    import pandas as pd

    frame = pd.read_sql_query("SELECT * FROM runs ORDER BY started_at", store.conn)
    envs = [json.loads(e) if e else {} for e in frame.get("environment", [])]
    for key in ("nnbench_version", "torch_version", "device_name"):
        frame[key] = [env.get(key) for env in envs]
    return frame
