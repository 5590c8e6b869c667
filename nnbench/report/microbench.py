"""The micro-benchmark section: pytest-benchmark's ``--benchmark-json`` output as a table.

pytest-benchmark writes ``{"machine_info": ..., "commit_info": ..., "datetime": ...,
"benchmarks": [{"name", "fullname", "stats": {"mean", "stddev", "rounds", ...}, "extra_info"}]}``;
times in its stats are seconds.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from nnbench.errors import NnbenchError
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table


def load_benchmarks(source: dict | str | pathlib.Path) -> dict:
    """The parsed pytest-benchmark JSON from a path (or the dict itself); a clear error otherwise."""
    if isinstance(source, dict):
        data = source
    else:
        path = pathlib.Path(source)
        if not path.is_file():
            raise NnbenchError(
                f"--benchmarks {path}: no such file (write one with pytest --benchmark-json=FILE)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise NnbenchError(f"--benchmarks {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise NnbenchError(f"--benchmarks {source}: not pytest-benchmark output (no 'benchmarks' list)")
    return data


def duration(value: Any) -> str:
    """Seconds with a readable unit: ``1.23 ms``, ``45.6 µs``."""
    value = f.number(value)
    if not math.isfinite(value):
        return f.BLANK
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _extra(info: Any) -> str:
    if not isinstance(info, dict) or not info:
        return ""
    return "; ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in info.items()
    )


def benchmark_context(source: dict | str | pathlib.Path) -> dict:
    """What the template shows: one row per benchmark, and where they ran."""
    data = load_benchmarks(source)
    rows = []
    for bench in data["benchmarks"]:
        if not isinstance(bench, dict):
            continue
        numbers = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
        rows.append(
            {
                "name": str(bench.get("name") or bench.get("fullname") or f.BLANK),
                "fullname": str(bench.get("fullname") or ""),
                "mean": duration(numbers.get("mean")),
                "stddev": duration(numbers.get("stddev")),
                "rounds": f.count(numbers.get("rounds")),
                "extra": _extra(bench.get("extra_info")),
            }
        )
    machine = data.get("machine_info") if isinstance(data.get("machine_info"), dict) else {}
    commit = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    where = [
        ("when", f.text(data.get("datetime"))),
        ("machine", f.text(machine.get("node"))),
        (
            "cpu",
            f.text(
                (machine.get("cpu") or {}).get("brand_raw") if isinstance(machine.get("cpu"), dict) else None
            ),
        ),
        ("python", f.text(machine.get("python_version"))),
        ("commit", f.text(commit.get("id"))),
    ]
    table = Table(
        "micro-benchmarks",
        [
            Column("name", "name", "name", hover="fullname"),
            Column("mean", "mean", "num"),
            Column("stddev", "stddev", "num"),
            Column("rounds", "rounds", "num"),
            Column("extra", "extra info", "error"),
        ],
        rows,
    )
    return {"rows": rows, "table": table, "where": [(k, v) for k, v in where if v != f.BLANK]}
