"""Export the store's trials as CSV, Parquet or JSON: one row per trial, every column.

Columns that hold dicts or lists (``test_metrics``, ``extra_metrics``) become JSON text in CSV and
Parquet; JSON keeps them as objects. Missing values are empty (CSV), null (Parquet, JSON).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np
import pandas as pd

from nnbench.errors import NnbenchError

FORMATS = ("csv", "parquet", "json")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}


def infer_format(output: str | pathlib.Path, fmt: str | None) -> str:
    """``fmt`` if given, else the format the file name's suffix names; a clear error otherwise."""
    if fmt:
        if fmt not in FORMATS:
            raise NnbenchError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
        return fmt
    suffix = pathlib.Path(output).suffix.lower()
    if suffix not in _SUFFIXES:
        raise NnbenchError(
            f"-o {output}: cannot tell the format from {suffix or 'no suffix'}; pass --format csv|parquet|json"
        )
    return _SUFFIXES[suffix]


def _plain(value: Any) -> Any:
    """A value JSON can hold: numpy scalars as Python ones, NaN and infinities as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def flatten(results: pd.DataFrame) -> pd.DataFrame:
    """Dict and list cells as JSON text; object columns of mixed types as text; missing as None."""
    out = results.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        values = [
            None
            if _is_missing(v)
            else json.dumps(_plain(v), sort_keys=True)
            if isinstance(v, dict | list | tuple)
            else _plain(v)
            for v in out[column]
        ]
        kinds = {type(v) for v in values if v is not None}
        if not (kinds <= {bool} or kinds <= {str} or kinds <= {int, float}):  # mixed: all as text
            values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def export_frame(results: pd.DataFrame, output: str | pathlib.Path, fmt: str) -> pathlib.Path:
    """Write ``results`` to ``output`` as ``fmt`` (csv, parquet or json)."""
    output = pathlib.Path(output)
    if fmt == "json":
        records = [{str(k): _plain(v) for k, v in row.items()} for row in results.to_dict("records")]
        output.write_text(json.dumps(records, indent=1, default=str) + "\n", encoding="utf-8")
    elif fmt == "csv":
        flatten(results).to_csv(output, index=False)
    elif fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise NnbenchError("--format parquet needs pyarrow: pip install pyarrow") from None
        flatten(results).to_parquet(output, index=False)
    else:
        raise NnbenchError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    return output


def export_results(
    db=None, run_id: str | None = None, output: str | pathlib.Path = "results.csv", fmt: str | None = None
) -> tuple[pathlib.Path, int]:
    """Export the trials of the store at ``db`` (one run's with ``run_id``); return the path and the row count."""
    from nnbench.report.from_store import check_output
    from nnbench.report.load import load_store

    output = check_output(output)
    fmt = infer_format(output, fmt)
    results = load_store(db, run_id).results
    return export_frame(results, output, fmt), len(results)
