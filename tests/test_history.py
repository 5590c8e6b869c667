"""History across runs: the pages ``nnbench publish`` writes per architecture entry and task when the
store holds several runs, each run's change against the previous one decided by compare's procedure."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from nnbench.report import history, synthetic
from nnbench.report.compare import compare_runs
from nnbench.report.publish import publish_site
from tests.test_report import Page, tables

# Five runs, a day apart: arch1's quality drops by 0.1 in the third run (index 2) and is back in the
# fourth; arch2 runs 1.5 times slower in the fourth (index 3); the fifth runs on another device.
RUNS = 5
DROP_RUN, SLOW_RUN, DEVICE_RUN = 2, 3, 4
DROPPED, SLOWED = "arch1 width=32", "arch2 width=32"
OPTIONS = {"tasks": 3, "architectures": 3, "seeds": 5, "failures": False}
CHANGES = {
    DROP_RUN: {DROPPED: synthetic.Change(quality_drop=0.1)},
    SLOW_RUN: {SLOWED: synthetic.Change(slowdown=1.5)},
}
TASKS = ["synthetic-00", "synthetic-01", "synthetic-02"]  # synthetic-02 is an error (lower is better)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    db = synthetic.write_history(
        root / "store.db", runs=RUNS, changes=CHANGES, devices={DEVICE_RUN: "cpu"}, **OPTIONS
    )
    index = publish_site(db, root / "site")
    return db, index


def run_id(i: int) -> str:
    return synthetic.history_run_id(i)


def page_of(index: Path, label: str, task: str) -> Path:
    return index.parent / history.HISTORY_DIR / history.page_file(label, task)


def figures_of(text: str) -> dict:
    data = re.search(r'<script type="application/json" id="nnbench-figures">(.*?)</script>', text, re.S)
    return json.loads(data.group(1))


def changes(index: Path, label: str, task: str, measure: str) -> dict[str, str]:
    """``{run id: change}`` of one measure's table on an entry's page."""
    page = Page(page_of(index, label, task).read_text("utf-8"))
    rows = tables(page, {"test_score": "history-quality", "step_ms_median": "history-step"}[measure])[0]
    return {row["run"]: row["against the previous run"] for row in rows}


def marked(text: str, div: str, name_start: str) -> list[int]:
    """The runs (positions, oldest first) a figure marks with the trace whose name starts so."""
    traces = [t for t in figures_of(text)[div]["data"] if t["name"].startswith(name_start)]
    return sorted(x for t in traces for x in t["x"])


def test_a_page_per_entry_and_task_linked_from_the_index(site):
    _, index = site
    labels = ["arch1 width=32", "arch2 width=32", "gbdt trees=100"]
    pages = sorted((index.parent / history.HISTORY_DIR).glob("*.html"))
    assert len(pages) == len(labels) * len(TASKS)
    matrix = tables(Page(index.read_text("utf-8")), "history-matrix")[0]
    assert [row["architecture"] for row in matrix] == labels
    assert all(row[task].startswith(f"{RUNS} runs") for row in matrix for task in TASKS)
    links = [link for link in Page(index.read_text("utf-8")).links if link.startswith("history/")]
    assert sorted(links) == sorted(f"history/{p.name}" for p in pages)
    # the latest run's decided changes show in the matrix: arch2 is fast again after its slow run
    assert {row["architecture"]: row["synthetic-00"] for row in matrix}[SLOWED] == f"{RUNS} runs · faster"


def test_every_link_of_the_site_is_relative_and_resolves(site):
    _, index = site
    folder = index.parent
    pages = [index, *folder.glob("runs/*.html"), *folder.glob("history/*.html")]
    assert len(pages) == 1 + RUNS + 9
    for path in pages:
        page = Page(path.read_text("utf-8"))
        for link in page.links:
            parsed = urlparse(link)
            assert not parsed.scheme and not parsed.netloc and not link.startswith("/"), (path, link)
            if parsed.path:
                assert (path.parent / unquote(parsed.path)).resolve().is_file(), (path, link)
            if parsed.fragment:
                assert parsed.fragment in page.ids, (path, link)
    text = page_of(index, DROPPED, TASKS[0]).read_text("utf-8")
    page = Page(text)
    assert "../index.html" in page.links
    assert {f"../runs/{run_id(i)}.html" for i in range(RUNS)} <= set(page.links)
    # one shared copy of plotly.js, none embedded
    assert [s.get("src") for s in page.scripts if s.get("src")] == ["../plotly.min.js"]
    assert get_plotlyjs()[:200] not in text


@pytest.mark.parametrize("task", TASKS)
def test_the_quality_drop_is_marked_worse_on_its_run_and_nowhere_else(site, task):
    _, index = site
    found = changes(index, DROPPED, task, "test_score")
    assert found[run_id(0)] == "first run"
    assert found[run_id(DROP_RUN)] == "worse"  # also on the error metric, where the error rose
    assert found[run_id(DROP_RUN + 1)] == "better"  # back to where it was
    decided = {run for run, word in found.items() if word in ("better", "worse")}
    assert decided == {run_id(DROP_RUN), run_id(DROP_RUN + 1)}
    for label in ("arch2 width=32", "gbdt trees=100"):
        assert not {"better", "worse"} & set(changes(index, label, task, "test_score").values())
    text = page_of(index, DROPPED, task).read_text("utf-8")
    assert marked(text, "fig-history-quality", "worse") == [DROP_RUN]
    assert marked(text, "fig-history-quality", "better") == [DROP_RUN + 1]
    # the figure's points are the tables' means: the dropped run is lower on accuracy, higher on mse
    means = figures_of(text)["fig-history-quality"]["data"][0]["y"]
    assert (means[DROP_RUN] < means[DROP_RUN - 1]) == (task != "synthetic-02")


@pytest.mark.parametrize("task", TASKS)
def test_the_slowdown_is_marked_slower_on_its_run_and_nowhere_else(site, task):
    _, index = site
    found = changes(index, SLOWED, task, "step_ms_median")
    assert found[run_id(SLOW_RUN)] == "slower"
    assert found[run_id(SLOW_RUN + 1)] == "faster"
    assert {run for run, word in found.items() if word in ("slower", "faster")} == {
        run_id(SLOW_RUN),
        run_id(SLOW_RUN + 1),
    }
    for label in (DROPPED, "gbdt trees=100"):
        assert not {"slower", "faster"} & set(changes(index, label, task, "step_ms_median").values())
    text = page_of(index, SLOWED, task).read_text("utf-8")
    assert marked(text, "fig-history-step", "slower") == [SLOW_RUN]
    assert marked(text, "fig-history-step", "faster") == [SLOW_RUN + 1]
    assert marked(text, "fig-history-quality", "worse") == []
    # the reason on hover gives the difference in milliseconds: positive, slower
    why = re.search(rf'title="(slower than {run_id(SLOW_RUN - 1)}: [^"]*)"', html.unescape(text)).group(1)
    low, high = (float(v) for v in re.search(r"\[([-\d.e]+), ([-\d.e]+)\]", why).groups())
    assert 0 < low < high and "over 5 matched seeds; the interval lies on one side of 0" in why


def test_every_change_is_what_compare_decides_for_the_two_runs(site):
    """The pages make no test of their own: each change is compare's verdict on the same two runs."""
    db, index = site
    for i in range(1, RUNS):
        result = compare_runs(f"{db}:{run_id(i - 1)}", f"{db}:{run_id(i)}")
        assert len(result.rows) == 9
        for row in result.rows:
            for measure in ("test_score", "step_ms_median"):
                shown = changes(index, row["label"], row["task"], measure)[run_id(i)]
                assert shown == row[measure]["verdict"], (i, row["label"], row["task"], measure)


def test_mismatched_settings_are_named_as_compare_names_them(site):
    db, index = site
    expected = "device: A NVIDIA H100 80GB HBM3 vs B AMD EPYC (5 trials)"
    result = compare_runs(f"{db}:{run_id(DEVICE_RUN - 1)}", f"{db}:{run_id(DEVICE_RUN)}")
    assert result.warnings == ["device: A NVIDIA H100 80GB HBM3 vs B AMD EPYC (45 trials)"]
    assert {tuple(row["settings"]) for row in result.rows} == {(expected,)}
    text = page_of(index, DROPPED, TASKS[0]).read_text("utf-8")
    page = Page(text)
    assert "settings-warnings" in page.ids
    for name in ("history-quality", "history-step"):
        settings = {
            row["run"]: row["settings that differ (A previous, B this run)"] for row in tables(page, name)[0]
        }
        assert settings == {run_id(i): expected if i == DEVICE_RUN else "" for i in range(RUNS)}
    assert marked(text, "fig-history-quality", "settings differ") == [DEVICE_RUN]
    runs = tables(page, "history-runs")[0]
    assert [row["device"] for row in runs] == ["NVIDIA H100 80GB HBM3"] * (RUNS - 1) + ["AMD EPYC"]


def test_each_run_is_labelled_with_its_date_sha_and_versions(site):
    _, index = site
    runs = tables(Page(page_of(index, DROPPED, TASKS[0]).read_text("utf-8")), "history-runs")[0]
    assert [row["run"] for row in runs] == [run_id(i) for i in range(RUNS)]  # oldest first
    assert [row["date (UTC)"] for row in runs] == [f"2025-01-0{i + 1} 00:00" for i in range(RUNS)]
    assert [row["nnbench"] for row in runs] == [f"0.1.{i}" for i in range(RUNS)]
    assert [row["torch"] for row in runs] == ["2.12.0"] * (RUNS - 1) + ["2.13.0"]
    assert len({row["git sha"] for row in runs}) == RUNS and all(len(row["git sha"]) == 8 for row in runs)
    assert all(row["trials ok"] == "5 of 5" for row in runs)
    figure = figures_of(page_of(index, DROPPED, TASKS[0]).read_text("utf-8"))["fig-history-quality"]
    ticks = figure["layout"]["xaxis"]["ticktext"]
    assert [t.split("<br>") for t in ticks] == [[row["date (UTC)"][:10], row["git sha"]] for row in runs]
    assert all("torch 2.1" in text and "nnbench 0.1." in text for text in figure["data"][0]["text"])


def test_the_same_results_twice_are_equivalent(tmp_path):
    db = tmp_path / "same.db"
    options = {"tasks": 1, "architectures": 2, "seeds": 3, "failures": False, "id_per_run": True}
    synthetic.write_store(db, run_id="first", noise_seed=7, started_at=synthetic.START, **options)
    synthetic.write_store(db, run_id="again", noise_seed=7, started_at=synthetic.START + 60, **options)
    index = publish_site(db, tmp_path / "site")
    for label in ("arch1 width=32", "gbdt trees=100"):
        for measure in ("test_score", "step_ms_median"):
            assert changes(index, label, "synthetic-00", measure) == {
                "first": "first run",
                "again": "equivalent",
            }
        text = page_of(index, label, "synthetic-00").read_text("utf-8")
        assert marked(text, "fig-history-quality", "equivalent") == [1]
        assert marked(text, "fig-history-step", "equivalent") == [1]


def test_an_entry_whose_trials_match_none_of_the_previous_run_is_not_compared(tmp_path):
    """Another configuration under the same label (a changed default): compare matches no trial."""
    from nnbench.store import Store

    db = tmp_path / "moved.db"
    options = {"tasks": 1, "architectures": 2, "seeds": 3, "failures": False, "id_per_run": True}
    synthetic.write_store(db, run_id="before", noise_seed=1, started_at=synthetic.START, **options)
    with Store(db) as store:
        store.start_run("after", "synthetic", None, "", "f" * 40, {}, started_at=synthetic.START + 60)
        for record, curve in synthetic.trials(run_id="after", noise_seed=2, **options):
            if record["architecture"] == "arch1":
                record = record | {"arch_config": {"width": 33}}  # the label stays arch1 width=32
            store.write_trial(record, curve)
    index = publish_site(db, tmp_path / "site")
    assert changes(index, "arch1 width=32", "synthetic-00", "test_score")["after"] == "not compared"
    assert changes(index, "gbdt trees=100", "synthetic-00", "test_score")["after"] == "undecided"
    page = Page(page_of(index, "arch1 width=32", "synthetic-00").read_text("utf-8"))
    assert "settings-warnings" not in page.ids


def test_one_run_gets_no_history_and_stale_pages_go(tmp_path, site):
    db = synthetic.write_store(tmp_path / "one.db", tasks=1, architectures=2, seeds=2)
    out = tmp_path / "site"
    index = publish_site(synthetic.write_history(tmp_path / "two.db", runs=2, **OPTIONS), out)
    assert len(list((out / history.HISTORY_DIR).glob("*.html"))) == 9
    mine = out / history.HISTORY_DIR / "notes.html"
    mine.write_text("a file of the user's", encoding="utf-8")
    index = publish_site(db, out)  # the same folder, a store of one run
    page = Page(index.read_text("utf-8"))
    assert "history" not in page.ids and not tables(page, "history-matrix")
    assert sorted(p.name for p in (out / history.HISTORY_DIR).glob("*.html")) == ["notes.html"]


def test_hostile_names_are_escaped_on_history_pages(tmp_path):
    hostile_runs = ["../run <one>", "run </script><script>alert('run')</script>"]
    db = synthetic.write_history(
        tmp_path / "hostile.db",
        runs=2,
        run_ids=hostile_runs,
        devices={1: "cpu"},
        hostile=True,
        tasks=2,
        architectures=2,
        seeds=3,
    )
    index = publish_site(db, tmp_path / "site")
    pages = sorted((tmp_path / "site" / history.HISTORY_DIR).glob("*.html"))
    assert len(pages) == 4
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+\.html", p.name) for p in pages)
    for path in [index, *pages]:
        text = path.read_text("utf-8")
        for raw in ("<script>alert", "</script><script>", "<b>parity", "<img", *hostile_runs):
            assert raw not in text, (path.name, raw)
        page = Page(text)
        assert not {"img", "b", "i"} & set(page.tags)
        if path != index:
            assert [s.get("type") for s in page.scripts] == [
                None,
                "application/json",
                "application/json",
                None,
            ]
    # the names still read as written, in the matrix, the page title and the figures' hover text
    matrix = tables(Page(index.read_text("utf-8")), "history-matrix")[0]
    assert synthetic.HOSTILE_TASK in matrix[0]
    assert f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE}" in {
        r["architecture"] for r in matrix
    }
    hostile = page_of(
        index, f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE}", synthetic.HOSTILE_TASK
    )
    page = Page(hostile.read_text("utf-8"))
    assert "settings-warnings" in page.ids  # the warning names both runs, escaped too
    assert (
        page.title
        == f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE} on {synthetic.HOSTILE_TASK}"
    )
    assert [row["run"] for row in tables(page, "history-runs")[0]] == hostile_runs
    hover = figures_of(hostile.read_text("utf-8"))["fig-history-quality"]["data"][0]["text"][1]
    assert "run &lt;/script&gt;&lt;script&gt;" in hover


def test_the_publish_command_counts_the_history_pages(site, tmp_path):
    from nnbench.cli import cli

    db, _ = site
    result = CliRunner().invoke(cli, ["publish", "--db", str(db), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert f"({RUNS} run pages, 9 history pages)" in result.output


def test_the_python_example_of_the_docs_runs(tmp_path, monkeypatch):
    from tests.conftest import REPO

    text = (REPO / "docs" / "reports.md").read_text()
    [example] = re.findall(r"## History across runs\n.*?### In Python\n\n```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "docs/reports.md", "exec"), namespace)
    index = namespace["index"]
    assert index == Path("site") / "index.html" and index.is_file()
    assert len(list(Path("site/history").glob("*.html"))) == 3 * 2
    for task in ("synthetic-00", "synthetic-01"):
        found = changes(index, "arch1 width=32", task, "test_score")
        assert found[run_id(2)] == "worse", found
