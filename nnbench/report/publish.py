"""A static site of reports: ``index.html`` listing the runs, one page per run under ``runs/``, and,
when the store holds several runs, one history page per architecture entry and task under
``history/`` (:mod:`nnbench.report.history`).

Every link is relative, so the folder works from ``file://`` and from any static host (GitHub
Pages, S3, ``python -m http.server``); each run page is a report that links back to the index and
loads the one shared copy of plotly.js at the site's root (``plotly.min.js``), instead of carrying
its own (several megabytes a page).
"""

from __future__ import annotations

import pathlib
import re

import pandas as pd

from nnbench.errors import NnbenchError
from nnbench.report import fmt as f

RUNS_DIR = "runs"


def page_name(run_id: str, taken: set[str]) -> str:
    """A file name for a run's page: the run id with unsafe characters replaced, unique in ``taken``."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(run_id)).strip("._") or "run"
    name, n = f"{stem}.html", 1
    while name.lower() in taken:
        n += 1
        name = f"{stem}-{n}.html"
    taken.add(name.lower())
    return name


def publish_site(db=None, out: str | pathlib.Path = "site", *, title: str | None = None) -> pathlib.Path:
    """Write the site for every run in the store at ``db`` into the folder ``out``; return the index path."""
    from nnbench import store
    from nnbench.report.from_store import plugin_sections
    from nnbench.report.history import write_history
    from nnbench.report.html import PLOTLY_FILE, plotly_source, template
    from nnbench.report.page import write_report

    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise NnbenchError(f"--out {out}: is a file; give a folder")
    runs = store.load_runs(db)
    results = store.load_results(db)
    curves = store.load_curves(db)
    (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    (out / PLOTLY_FILE).write_text(plotly_source(), encoding="utf-8")

    by_run = dict(tuple(results.groupby("run_id", sort=False))) if len(results) else {}
    listed, taken, run_pages = [], set(), {}
    for run in runs.sort_values("started_at", ascending=False, na_position="last").to_dict("records"):
        run_id = str(run["run_id"])
        trials = by_run.get(run_id, results.iloc[:0])
        name = page_name(run_id, taken)
        run_pages[run_id] = f"{RUNS_DIR}/{name}"
        suite = f.text(run.get("suite_name"))
        run_curves = (
            curves[curves["trial_id"].isin(set(trials["trial_id"]))] if len(trials) else curves.iloc[:0]
        )
        write_report(
            trials,
            run_curves,
            pd.DataFrame([run]),
            out / RUNS_DIR / name,
            title=f"{suite} · {run_id}",
            sections=plugin_sections(trials),
            links=[("All runs", "../index.html")],
            plotly_src=f"../{PLOTLY_FILE}",
        )
        statuses = trials["status"] if len(trials) else pd.Series(dtype=object)
        devices = ", ".join(
            sorted({str(d) for d in trials.get("device_name", pd.Series(dtype=object)).dropna()})
        )
        devices = devices or f.BLANK
        listed.append(
            {
                "run_id": run_id,
                "date": f.when(run.get("started_at")),
                "suite": suite,
                "device": f.text(run.get("device_name"))
                if not f.missing(run.get("device_name"))
                else devices,
                "trials": len(trials),
                "ok": int((statuses == "ok").sum()),
                "failed": int((~statuses.isin(("ok", "skipped"))).sum()),
                "href": f"{RUNS_DIR}/{name}",
            }
        )
    history = write_history(out, results, runs, run_pages, plotly_file=PLOTLY_FILE)
    page = template("index.html").render(
        title=title or "nnbench results",
        links=[],
        runs=listed,
        history=history,
        plotly_js=None,
        figures_json=None,
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
