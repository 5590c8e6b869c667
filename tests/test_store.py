"""The results store: schema, one row per trial, and clear errors for anything that is not a store."""

from __future__ import annotations

import os
import sqlite3

import pytest

from nnbench import store
from nnbench.errors import StoreError


def record(trial_id="t1", status="ok", **extra):
    return {
        "trial_id": trial_id,
        "run_id": "r1",
        "architecture": "mlp",
        "arch_config": {"width": 8},
        "task": "digits",
        "task_config": {},
        "seed": 0,
        "device": "cpu",
        "status": status,
        "error": None,
        "finished_at": 1.0,
        "test_score": 0.5,
        **extra,
    }


def test_write_and_load_replaces_an_earlier_attempt(tmp_path):
    path = tmp_path / "s.db"
    with store.Store(path) as s:
        s.write_trial(
            record(status="error"),
            [{"step": 1, "train_s": 0.1, "split": "val", "metric": "accuracy", "value": 0.1}],
        )
        s.write_trial(
            record(test_score=0.9, nan_field=float("nan")),
            [{"step": 2, "train_s": 0.2, "split": "val", "metric": "accuracy", "value": 0.9}],
        )
        assert s.finished_ids() == {"t1"}
    results = store.load_results(path)
    assert len(results) == 1 and results.loc[0, "test_score"] == 0.9
    assert results.loc[0, "nan_field"] is None or results["nan_field"].isna().all()
    curves = store.load_curves(path)
    assert list(curves.step) == [2]


def test_wal_mode_and_schema_version(tmp_path):
    path = tmp_path / "s.db"
    store.Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
            store.SCHEMA_VERSION
        )


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        store.Store(tmp_path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "x.db"
    path.write_bytes(b"not a database at all" * 50)
    with pytest.raises(StoreError, match="not an nnbench results store"):
        store.Store(path)


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StoreError, match="not an nnbench results store"):
        store.Store(path)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    store.Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="newer than this nnbench"):
        store.Store(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(StoreError, match="read-only"):
        store.Store(folder / "s.db")


def test_loading_a_missing_store_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="no such results store"):
        store.load_results(tmp_path / "missing.db")
