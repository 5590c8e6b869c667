"""The HTML report and its siblings: ranking, blanks, escaping, offline pages, every section,
the micro-benchmark section, compare, publish and export."""

from __future__ import annotations

import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import plotly.graph_objects as go
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

import nnbench
from nnbench.report import synthetic, write_report
from nnbench.report.from_store import build_report
from nnbench.report.html import figures_json

HOSTILE_ARCH = "<img src=x onerror=alert(1)>"
HOSTILE_CONFIG = '{"note": "</script><script>alert(1)</script>"}'
HOSTILE_ERROR = "RuntimeError: boom </script><script>alert(2)</script>"
HOSTILE_SUITE = "name: smoke\n# </script><script>alert(3)</script>\ntasks: [digits, {name: toy2d}]\n"

RESULT_COLUMNS = [
    "trial_id", "run_id", "architecture", "arch_label", "arch_config", "task", "task_config",
    "task_version", "seed", "device", "status", "error", "metric", "higher_is_better", "val_score",
    "test_score", "target", "reached_target", "batch_size", "steps", "train_s", "eval_s", "setup_s",
    "warmup_s", "wall_s", "step_ms_median", "step_ms_iqr", "samples_per_s", "params", "flops_per_step",
    "peak_mem_bytes", "device_seconds", "cost_usd", "time_to_target_s", "energy_j", "mfu",
]  # fmt: skip

# (architecture, arch_label, arch_config) x task -> scores for seeds 0 and 1 (None: the trial failed)
ARCHS = [
    ("mlp", "mlp", "{}"),
    ("cnn", "cnn width=32", '{"width": 32}'),
    (HOSTILE_ARCH, HOSTILE_ARCH, HOSTILE_CONFIG),
]
SCORES = {
    "digits": {"mlp": [0.90, 0.92], "cnn": [0.97, 0.95], HOSTILE_ARCH: [0.80, 0.82]},  # accuracy, higher
    "toy2d": {"mlp": [0.10, 0.12], "cnn": [0.30, None], HOSTILE_ARCH: [0.05, 0.07]},  # mse, lower
}
METRICS = {"digits": ("accuracy", True), "toy2d": ("mse", False)}
TRAIN_S = {"digits": [1.0, 2.0, 3.0], "toy2d": [0.5, 4.0, 40.0]}  # per architecture; toy2d spans > 20x


def make_results() -> pd.DataFrame:
    rows = []
    for task, by_arch in SCORES.items():
        metric, higher = METRICS[task]
        for a, (arch, label, config) in enumerate(ARCHS):
            for seed, score in enumerate(by_arch[arch]):
                failed = score is None
                train_s = TRAIN_S[task][a] + 0.1 * seed
                row = dict.fromkeys(RESULT_COLUMNS, math.nan)
                row |= {
                    "trial_id": f"{task}-{a}-{seed}",
                    "run_id": "run-1",
                    "architecture": arch,
                    "arch_label": label,
                    "arch_config": config,
                    "task": task,
                    "task_config": "{}",
                    "task_version": "1",
                    "seed": seed,
                    "device": "cpu",
                    "status": "error" if failed else "ok",
                    "error": f"{HOSTILE_ERROR}\nTraceback (most recent call last):\n  ..."
                    if failed
                    else None,
                    "metric": metric,
                    "higher_is_better": higher,
                    "val_score": math.nan if failed else score,
                    "test_score": math.nan if failed else score,
                    "reached_target": None,
                    "batch_size": 128,
                    "steps": 100,
                    "train_s": math.nan if failed else train_s,
                    "samples_per_s": math.nan if failed else 12800 / train_s,
                    "params": 1000 * (a + 1),
                    # mlp's cost was never measured: it must show as a blank, never as 0
                    "cost_usd": math.nan if arch == "mlp" or failed else 0.001 * (a + 1),
                }
                rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def make_curves() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (f"digits-{a}-{seed}", step, step / 100, "val", metric, 0.5 + step / 1000 + a / 100)
            for a in range(3)
            for seed in range(2)
            for step in (0, 50, 100)
            for metric in ("accuracy", "loss")
        ],
        columns=["trial_id", "step", "train_s", "split", "metric", "value"],
    )


def make_runs() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": "run-1",
                "suite_name": "smoke",
                "suite_text": HOSTILE_SUITE,
                "started_at": 1735689600.0,  # the store keeps epoch seconds
                "finished_at": "2025-01-01T00:01:00",
                "nnbench_version": "0.1.0",
                "torch_version": "2.13.0",
                "git_sha": "abc1234",
                "device_name": "Test CPU",
                "environment": json.dumps({"python": "3.12.1", "threads": 8}),
            }
        ]
    )


class Page(HTMLParser):
    """The parts of a page a test reads: scripts, links, ids, classes and table cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict] = []
        self.script_text: dict[str, str] = {}
        self.links: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}  # every table of one class, rows merged
        self.separate: dict[str, list[list[list[str]]]] = {}  # every table of one class, one by one
        self.row_classes: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.figure_divs: list[str] = []
        self.title = ""
        self._in_title = False
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._script_id: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.links += [attrs[a] or "" for a in ("src", "href") if a in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "div" and "figure" in (attrs.get("class") or "").split():
            self.figure_divs.append(attrs["id"])
        if tag == "title":
            self._in_title = True
        if tag == "script":
            self.scripts.append(attrs)
            self._script_id = attrs.get("id")
        elif tag == "table":
            self._table = attrs.get("class", "table")
            self.tables.setdefault(self._table, [])
            self.separate.setdefault(self._table, []).append([])
            self.row_classes.setdefault(self._table, [])
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.separate[self._table][-1].append(self.tables[self._table][-1])
            self.row_classes[self._table].append(attrs.get("class") or "")
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script_id = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data
        if self._script_id:
            self.script_text[self._script_id] = self.script_text.get(self._script_id, "") + data


def tables(page: Page, name: str) -> list[list[dict[str, str]]]:
    """Each table of one class as a list of {column header: cell} rows, in page order."""
    return [
        [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] for rows in page.separate.get(name, [])
    ]


def leaderboards(page: Page) -> list[list[dict[str, str]]]:
    return tables(page, "leaderboard")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = write_report(
        make_results(), make_curves(), make_runs(), tmp_path_factory.mktemp("report") / "report.html"
    )
    text = path.read_text(encoding="utf-8")
    return path, text, Page(text)


# -- the page from DataFrames ------------------------------------------------------------------


def test_writes_one_file_with_plotly_embedded_once(report):
    path, text, page = report
    assert path.is_file()
    assert text.count(get_plotlyjs()[:200]) == 1
    assert not any(script.get("src") for script in page.scripts)


def test_leaderboard_ranks_higher_is_better_descending(report):
    digits, _ = leaderboards(report[2])
    assert [row["architecture"] for row in digits] == ["cnn width=32", "mlp", HOSTILE_ARCH]
    # two seeds whose differences vary: no test separates them, so the rank is shared (VERDICTS.md)
    assert [row["rank"] for row in digits] == ["=1", "=1", "=1"]
    assert digits[0]["test accuracy (mean ± std)"].startswith("0.96 ± ")
    assert digits[0]["n seeds"] == "2"
    # the 95% t-interval of the mean of [0.97, 0.95]: 0.96 ± 12.706 * 0.01
    low, high = (float(v) for v in digits[0]["95% interval"].strip("[]").split(", "))
    assert (low, high) == pytest.approx((0.833, 1.087), abs=0.001)


def test_leaderboard_ranks_lower_is_better_ascending(report):
    _, toy2d = leaderboards(report[2])
    assert [row["architecture"] for row in toy2d] == [HOSTILE_ARCH, "mlp", "cnn width=32"]
    # mlp trails by exactly 0.05 on both seeds: no spread, nothing to judge; cnn has one seed: unranked
    assert [row["rank"] for row in toy2d] == ["=1", "=1", "—"]


def test_ranks_are_shared_unless_a_test_separates(tmp_path):
    results = make_results()
    for arch, scores in {"cnn": [0.97, 0.971], "mlp": [0.90, 0.9015], HOSTILE_ARCH: [0.95, 0.90]}.items():
        rows = (results["task"] == "digits") & (results["architecture"] == arch)
        results.loc[rows, "test_score"] = scores
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    digits, _ = leaderboards(page)
    # mlp is behind cnn by 0.07 on both seeds: separated; the third entry's seeds disagree: shared rank 1
    assert [(row["architecture"], row["rank"]) for row in digits] == [
        ("cnn width=32", "=1"),
        (HOSTILE_ARCH, "=1"),
        ("mlp", "2"),
    ]


def test_one_seed_shows_its_value_and_no_interval(report):
    _, toy2d = leaderboards(report[2])
    cnn = toy2d[-1]
    assert (cnn["n seeds"], cnn["test mse (mean ± std)"], cnn["95% interval"]) == ("1", "0.3", "n/a")


def test_missing_measurements_show_as_a_dash_not_zero(report):
    page = report[2]
    digits, _ = leaderboards(page)
    mlp = next(row for row in digits if row["architecture"] == "mlp")
    assert mlp["cost (USD, median)"] == "—"
    cnn = next(row for row in digits if row["architecture"] == "cnn width=32")
    assert cnn["cost (USD, median)"] == "$0.002"
    resources, _ = tables(page, "resources")
    mlp = next(row for row in resources if row["architecture"] == "mlp")
    assert mlp["params"] == "1,000"
    # NaN in the data is a dash on the page, never "nan" and never 0
    assert (mlp["energy"], mlp["MFU"], mlp["FLOPs/step"], mlp["peak memory"]) == ("—",) * 4
    assert "nan" not in {cell.lower() for rows in page.tables.values() for row in rows for cell in row}


def test_hostile_names_are_escaped(report):
    _, text, page = report
    for raw in (HOSTILE_ARCH, "</script><script>alert(1)", "<script>alert(2)", "<script>alert(3)"):
        assert raw not in text
    assert "<img" not in page.tags
    # the bundle, the figures' JSON, the shared template's JSON and the script that draws them
    assert [s.get("type") for s in page.scripts] == [None, "application/json", "application/json", None]
    # and the names still read as written
    digits, _ = leaderboards(page)
    assert digits[-1]["architecture"] == HOSTILE_ARCH


def test_the_verdict_table_names_each_tasks_leader_and_is_cautious_with_two_seeds(report):
    rows = tables(report[2], "summary")[0]
    assert [(row["task"], row["leader"]) for row in rows] == [
        ("digits", "cnn width=32"),
        ("toy2d", HOSTILE_ARCH),
    ]
    # the verdict stands next to the leader, not at the far end of the row
    assert list(rows[0])[:3] == ["task", "leader", "verdict against the runner-up"]
    digits, toy2d = rows
    assert digits["verdict against the runner-up"].startswith("undecided against mlp: about ")
    assert digits["lead [interval]"].startswith("0.05 [-")  # two seeds: an interval far wider than the lead
    assert toy2d["verdict against the runner-up"].startswith(
        "undecided against mlp (every seed gave the same"
    )
    assert toy2d["lead [interval]"] == "0.05 (no interval)"
    assert digits["seeds (leader / runner-up)"] == "2 / 2"
    assert digits["cost"] == "$0.002" and digits["train time (s)"] == "2.05"
    text = html.unescape(report[1])
    assert "leads (test accuracy 0.96 ± 0.014 over 2 seeds) and is undecided against mlp" in text
    assert "0 of 2 tasks decided" in text
    assert "95% interval" not in " ".join(rows[0])  # no interval is called 95% where none was computed


def test_each_task_opens_with_its_registered_description(report):
    for task in ("digits", "toy2d"):
        assert nnbench.get_task(task).description in html.unescape(report[1])


def test_figures_json_is_valid_and_labelled(report):
    page = report[2]
    figures = json.loads(page.script_text["nnbench-figures"])
    assert set(page.figure_divs) == set(figures)
    digits, toy2d = figures["fig-1-quality-time"], figures["fig-2-quality-time"]
    assert digits["layout"]["yaxis"]["title"]["text"] == "accuracy (higher is better)"
    assert toy2d["layout"]["yaxis"]["title"]["text"] == "mse (lower is better)"
    assert digits["layout"]["xaxis"]["title"]["text"] == "training time (s)"
    assert toy2d["layout"]["xaxis"]["type"] == "log"
    assert "log scale" in toy2d["layout"]["xaxis"]["title"]["text"]
    per_trial = [trace for trace in toy2d["data"] if trace.get("showlegend") is False]
    assert sum(len(trace["x"]) for trace in per_trial) == 5  # one marker per ok trial
    assert any(trace["name"] == "Pareto front" for trace in toy2d["data"])
    # nothing in the JSON can close its <script> element
    assert not set("<>&") & set(page.script_text["nnbench-figures"])
    # a name plotly.js would read as markup goes in as entities
    assert "&lt;img src=x onerror=alert(1)&gt;" in [trace["name"] for trace in digits["data"]]
    # plotly itself accepts every figure
    template = json.loads(page.script_text["nnbench-template"])
    for figure in figures.values():
        go.Figure(figure | {"layout": figure["layout"] | {"template": template}})


def test_learning_curves_aggregate_over_seeds_with_a_band(report):
    figures = json.loads(report[2].script_text["nnbench-figures"])
    steps = figures["fig-1-curve-steps"]
    lines = [trace for trace in steps["data"] if trace.get("mode", "").startswith("lines")]
    bands = [trace for trace in steps["data"] if trace.get("fill") == "toself"]
    assert len(lines) == 3 and len(bands) == 3  # one line and one band per architecture, not per trial
    mlp = next(trace for trace in lines if trace["name"] == "mlp")
    assert mlp["x"] == [0, 50, 100] and mlp["y"] == pytest.approx([0.5, 0.55, 0.6])  # loss points left out
    assert figures["fig-1-curve-time"]["layout"]["xaxis"]["title"]["text"].startswith("training time (s)")
    assert "fig-2-curve-time" not in figures  # toy2d has no curves: a note instead


def test_figure_json_cannot_close_its_script_element():
    figure = go.Figure(layout={"title": {"text": "</script><script>alert(1)</script> & co"}})
    text = str(figures_json({"fig-1": figure, "fig-2": {"data": [{"y": [math.nan, 1.0]}]}}))
    assert not set("<>&") & set(text)
    parsed = json.loads(text)
    assert parsed["fig-1"]["layout"]["title"]["text"] == figure.layout.title.text
    assert parsed["fig-2"]["data"][0]["y"] == [None, 1.0]  # strict JSON: NaN is null


def test_page_is_offline(report):
    _, text, page = report
    assert page.links, "expected the table of contents' links"
    assert not [link for link in page.links if link.lower().startswith(("http:", "https:", "//"))]
    assert "link" not in page.tags
    assert "@import" not in text


def test_failures_table_shows_the_first_line_of_the_error(report):
    failures = report[2].tables["failures"]
    assert failures[0] == ["status", "architecture", "task", "seed", "reason"]
    assert failures[1:] == [["error", "cnn width=32", "toy2d", "1", HOSTILE_ERROR]]


def test_environment_section(report):
    _, text, page = report
    for value in ("abc1234", "Test CPU", "2.13.0", "smoke", "3.12.1", "2025-01-01 00:00:00 UTC"):
        assert value in text
    assert '<pre class="suite">name: smoke\n# &lt;/script&gt;' in text


def test_plugin_sections_escape_the_title_and_keep_the_html(tmp_path):
    sections = [{"title": "<b>extra</b>", "html": "<p class='from-plugin'>hello</p>"}]
    path = write_report(make_results(), make_curves(), make_runs(), tmp_path / "r.html", sections=sections)
    text = path.read_text(encoding="utf-8")
    assert "&lt;b&gt;extra&lt;/b&gt;" in text
    assert "<p class='from-plugin'>hello</p>" in text


def test_a_task_with_no_ok_trial_is_listed_unranked_without_a_figure(tmp_path):
    results = make_results()
    toy2d = results["task"] == "toy2d"
    results.loc[toy2d, ["status", "error"]] = ["timeout", "timed out after 5m"]
    results.loc[toy2d, ["test_score", "train_s"]] = math.nan
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    _, board = leaderboards(page)
    assert {(row["rank"], row["test mse (mean ± std)"], row["n seeds"]) for row in board} == {("—", "—", "0")}
    assert not [fig for fig in json.loads(page.script_text["nnbench-figures"]) if fig.startswith("fig-2-")]
    summary = tables(page, "summary")[0]
    assert (
        summary[1]["leader"] == "—" and summary[1]["verdict against the runner-up"] == "no trial finished ok"
    )
    assert len(page.tables["failures"]) == 1 + 6


def test_skipped_pairs_are_na_not_failures(tmp_path):
    results = make_results()
    hostile_toy2d = (results["task"] == "toy2d") & (results["architecture"] == HOSTILE_ARCH)
    results.loc[hostile_toy2d, ["status", "error"]] = ["skipped", "n/a: needs images </script>"]
    results.loc[hostile_toy2d, "test_score"] = math.nan
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    _, toy2d = leaderboards(page)
    assert HOSTILE_ARCH not in [row["architecture"] for row in toy2d]
    [na] = tables(page, "not-applicable")[0]
    assert (na["architecture"], na["task"], na["seeds"], na["reason"]) == (
        HOSTILE_ARCH,
        "toy2d",
        "2",
        "needs images </script>",
    )
    assert [row[0] for row in page.tables["failures"][1:]] == ["error"]  # only cnn's real failure
    heatmap = json.loads(page.script_text["nnbench-figures"])["fig-heatmap"]["data"][0]
    assert "n/a" in [cell for row in heatmap["text"] for cell in row]


def test_tasks_follow_the_suite_order_not_the_row_order(tmp_path):
    results = make_results().iloc[::-1]  # toy2d's rows first
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    assert [row["task"] for row in tables(page, "summary")[0]] == ["digits", "toy2d"]
    runs = make_runs().assign(suite_text=None)
    page = Page(write_report(results, make_curves(), runs, tmp_path / "r.html").read_text("utf-8"))
    assert [row["task"] for row in tables(page, "summary")[0]] == ["toy2d", "digits"]


def test_rows_without_a_label_are_told_apart_by_their_config(tmp_path):
    results = make_results().drop(columns=["arch_label"])
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    digits, _ = leaderboards(page)
    assert [row["architecture"] for row in digits] == [
        "cnn width=32",
        "mlp",
        f"{HOSTILE_ARCH} note={HOSTILE_CONFIG[10:-2]}",
    ]


def with_tuning(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with digits' cnn rows as the final re-runs of a study, plus that study's tuning trials:
    one with a spectacular test score, one failed, and a study (``ghost``) that has no final yet."""
    results = results.assign(stage="main")
    cnn = (results["task"] == "digits") & (results["architecture"] == "cnn")
    results.loc[cnn, ["stage", "arch_label"]] = ["final", "cnn width=32 (tuned)"]
    template = results[cnn].iloc[0].to_dict()
    tune = []
    for i, (label, score, status) in enumerate(
        [
            ("cnn width=32 (tuned)", 0.9999, "ok"),  # spectacular, on a tuning budget: never ranked
            ("cnn width=32 (tuned)", math.nan, "error"),  # never a failure of the page
            ("ghost (tuned)", 1.0, "ok"),
        ]
    ):
        study = "study-" + label.split()[0]
        tune.append(
            template
            | {"trial_id": f"tune-{i}", "arch_label": label, "architecture": label.split()[0]}
            | {"stage": "tune", "study": study, "tune_index": i, "tune_trials": 2, "seed": 0}
            | {"status": status, "error": "tuning boom" if status == "error" else None}
            | {"val_score": score, "test_score": score, "hparams": {"width": 32 + i}, "train_s": 0.01}
        )
    return pd.concat([results, pd.DataFrame(tune)], ignore_index=True)


def test_tuning_trials_never_compete(tmp_path):
    page_text = write_report(
        with_tuning(make_results()), make_curves(), make_runs(), tmp_path / "r.html"
    ).read_text("utf-8")
    page = Page(page_text)
    digits, toy2d = leaderboards(page)
    cnn = next(row for row in digits if row["architecture"] == "cnn width=32 (tuned)")
    assert cnn["test accuracy (mean ± std)"].startswith("0.96 ± ") and cnn["n seeds"] == "2"
    everywhere = [row["architecture"] for board in (digits, toy2d) for row in board]
    assert "ghost (tuned)" not in everywhere and "0.9999" not in {
        row["leader's test score (mean ± sd)"] for row in tables(page, "summary")[0]
    }
    assert "ghost (tuned)" not in {row["architecture"] for row in tables(page, "across")[0]}
    assert "tuning boom" not in {row["reason"] for row in tables(page, "failures")[0]}
    figures = json.loads(page.script_text["nnbench-figures"])
    drawn = [y for trace in figures["fig-1-quality-time"]["data"] for y in trace["y"]]
    assert 0.9999 not in drawn and 1.0 not in drawn
    assert all("ghost" not in row for row in figures["fig-heatmap"]["data"][0]["customdata"][0])
    # the tuning section is where they show, with the failed trial counted
    tuning = {row["architecture"]: row for row in tables(page, "tuning")[0]}
    assert (tuning["cnn width=32 (tuned)"]["trials"], tuning["cnn width=32 (tuned)"]["ok"]) == ("2", "1")
    assert tuning["ghost (tuned)"]["best val accuracy"] == "1"
    assert "plus 3 tuning trials" in " ".join(page_text.split())


def test_a_page_without_tune_or_sized_rows_has_neither_section(report):
    ids = report[2].ids
    assert not {"tuning", "scaling"} & ids
    assert "<h2>Tuning</h2>" not in report[1] and "<h2>Scaling</h2>" not in report[1]
    assert "tuning trial" not in report[1].replace(get_plotlyjs(), "")


@pytest.mark.parametrize("results", [pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame()])
def test_no_trials_gives_a_page_that_says_so(tmp_path, results):
    path = write_report(results, pd.DataFrame(), make_runs(), tmp_path / "empty" / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "no trials" in text
    assert "abc1234" in text  # the environment is still there
    assert Page(text).scripts == []


# -- the full page from a store ------------------------------------------------------------------

SECTIONS = (
    "summary",
    "tuning",
    "scaling",
    "across-tasks",
    "failures",
    "not-applicable",
    "environment",
    "micro-benchmarks",
)
TASK_TABLES = ("leaderboard", "targets", "resources")
TUNED_TASKS = 2  # of the hostile store's 4: the others run every size untuned


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    return synthetic.write_store(
        tmp_path_factory.mktemp("store") / "hostile.db",
        tasks=4,
        architectures=5,
        seeds=4,
        hostile=True,
        sizes=synthetic.SIZES,
        tuning=4,
        tuned_tasks=TUNED_TASKS,
    )


@pytest.fixture(scope="module")
def benchmark_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    data = {
        "datetime": "2025-01-01T00:00:00",
        "machine_info": {"node": "ci", "python_version": "3.12.1", "cpu": {"brand_raw": "AMD EPYC"}},
        "commit_info": {"id": "abc1234"},
        "benchmarks": [
            {
                "name": "test_step[mlp]",
                "fullname": "benchmarks/bench_step.py::test_step[mlp]",
                "stats": {"mean": 0.00123, "stddev": 0.0000456, "rounds": 200},
                "extra_info": {"overhead": 1.02, "note": "</script><b>x</b>"},
            },
            {"name": "<i>bare</i>", "stats": {"mean": 2.5, "stddev": None, "rounds": 3}},
        ],
    }
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def full_report(hostile_store, benchmark_json, tmp_path_factory):
    path = build_report(
        hostile_store, output=tmp_path_factory.mktemp("full") / "r.html", benchmarks=benchmark_json
    )
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


def test_every_section_is_present(full_report):
    text, page = full_report
    assert set(SECTIONS) <= page.ids
    tasks = [i for i in page.ids if re.fullmatch(r"task-\d+", i)]
    assert len(tasks) == 4
    figures = json.loads(page.script_text["nnbench-figures"])
    for index in range(1, 5):
        for kind in ("quality-time", "quality-cost", "curve-time", "curve-steps"):
            assert f"fig-{index}-{kind}" in figures
    assert {"fig-heatmap", "fig-profile"} <= set(figures)
    assert sorted(page.figure_divs) == sorted(figures)
    for name in TASK_TABLES:
        # a target per task except the fourth (synthetic tasks without a target have none)
        assert len(tables(page, name)) == (3 if name == "targets" else 4), name
    assert len(tables(page, "across")) == 1
    for phrase in ("Verdicts", "Performance profile", "Normalised score", "time to target", "samples/s"):
        assert phrase in text


def test_tuning_and_scaling_sections(full_report):
    text, page = full_report
    figures = json.loads(page.script_text["nnbench-figures"])
    for heading in (
        "<h2>Tuning</h2>",
        "<h2>Scaling</h2>",
        "<h4>Power-law fits</h4>",
        "<h4>Tuning curves</h4>",
    ):
        assert heading in text
    # tuning: the tuned tasks only, each with its budget sentence, two figures and a table
    assert {f"tuning-{i}" for i in range(1, TUNED_TASKS + 1)} <= page.ids and "tuning-3" not in page.ids
    for index in range(1, TUNED_TASKS + 1):
        assert {f"fig-{index}-tuning-curve", f"fig-{index}-tuning-spread"} <= set(figures)
    assert (
        text.count("Every architecture got 4 tuning trials of 300 steps or 30 s each (sampler tpe)")
        == TUNED_TASKS
    )
    assert 'class="warning"' not in text  # the synthetic studies are alike
    studies = tables(page, "tuning")
    assert len(studies) == TUNED_TASKS and all(len(rows) == 4 * 4 for rows in studies)  # 4 families x 4 sizes
    assert all(
        row["selected hyper-parameters"].startswith("training.lr=") for rows in studies for row in rows
    )
    # scaling: every task (all are sized), both axes, a fit per family and a frontier on FLOPs
    for index in range(1, 5):
        assert {f"fig-{index}-scaling-flops", f"fig-{index}-scaling-params"} <= set(figures)
    fits = tables(page, "scaling-fits")
    assert len(fits) == 4 and len(tables(page, "frontier")) == 4
    untuned = {row["family"] for rows in fits[TUNED_TASKS:] for row in rows}  # each task lacks an n/a pair
    assert untuned == {
        "arch1",
        "arch2",
        "arch3",
        f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE}",
    }
    assert {row["family"] for row in fits[0]} == {f"{family} (tuned)" for family in untuned}
    # arch3's FLOPs were not counted: it has a fit against parameters only, and a note says why
    arch3 = [row["against"] for row in fits[TUNED_TASKS] if row["family"] == "arch3"]
    assert arch3 == ["parameters"]
    assert re.search(r"training FLOPs were not counted: arch3 \(1[0-6] trials\)", text)
    fitted = [row for rows in fits for row in rows if row["exponent b"] != "—"]
    assert fitted and all(float(row["exponent b"]) < 0 for row in fitted)  # error falls with scale
    assert all(row["sizes"] == "4" for row in fitted)
    # plotly accepts every new figure, and each axis says what it is, with units
    template = json.loads(page.script_text["nnbench-template"])
    for fig_id in (
        "fig-1-tuning-curve",
        "fig-1-tuning-spread",
        "fig-3-scaling-flops",
        "fig-3-scaling-params",
    ):
        go.Figure(figures[fig_id] | {"layout": figures[fig_id]["layout"] | {"template": template}})
    axes = {
        fig_id: (
            figures[fig_id]["layout"]["xaxis"]["title"]["text"],
            figures[fig_id]["layout"]["yaxis"]["title"]["text"],
        )
        for fig_id in ("fig-1-tuning-curve", "fig-3-scaling-flops", "fig-3-scaling-params")
    }
    assert axes == {
        "fig-1-tuning-curve": (
            "tuning trials spent (count)",
            "best validation accuracy (higher is better) so far",
        ),
        "fig-3-scaling-flops": ("total training FLOPs, log scale", "test mse (lower is better)"),
        "fig-3-scaling-params": ("parameters (count), log scale", "test mse (lower is better)"),
    }
    assert figures["fig-3-scaling-flops"]["layout"]["xaxis"]["type"] == "log"
    assert any(
        trace["name"] == "compute-efficient frontier" for trace in figures["fig-3-scaling-flops"]["data"]
    )
    # the tuning trials are still not on the leaderboards
    for board in leaderboards(page):
        labels = [row["architecture"] for row in board]
        assert len(labels) == len(set(labels))
        tuned = [row for row in board if row["architecture"].endswith("(tuned)")]
        assert all(row["n seeds"] in ("3", "4") for row in tuned)  # the finals' seeds, not a tuning seed


def test_hostile_names_from_the_store_are_escaped(full_report):
    text, page = full_report
    for raw in (
        synthetic.HOSTILE_TASK,
        synthetic.HOSTILE_ARCH,
        synthetic.HOSTILE_CONFIG_NOTE,
        synthetic.HOSTILE_SUITE,
    ):
        assert raw not in text
    for raw in ("<script>alert", "</script><script>", "<b>parity", "<i>smoke", "<img"):
        assert raw not in text.replace(get_plotlyjs(), "")
    assert not {"img", "b", "i"} & set(page.tags)
    assert [s.get("type") for s in page.scripts] == [None, "application/json", "application/json", None]
    assert page.title == f"nnbench report: {synthetic.HOSTILE_SUITE}"
    assert synthetic.HOSTILE_TASK in {row["task"] for row in tables(page, "summary")[0]}
    errors = [row["reason"] for row in tables(page, "failures")[0]]
    assert errors and set(errors) == {synthetic.HOSTILE_ERROR}
    # the tuning and scaling sections show hostile names as written, never as markup
    hostile = f"{synthetic.HOSTILE_ARCH} size=s note={synthetic.HOSTILE_CONFIG_NOTE} (tuned)"
    assert hostile in {row["architecture"] for row in tables(page, "tuning")[0]}
    family = f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE}"
    assert family in {row["family"] for row in tables(page, "scaling-fits")[-1]}  # task 4, untuned
    assert html.unescape(text).count(f'<h3 id="tuning-2">{synthetic.HOSTILE_TASK}</h3>') == 1


def test_reference_rows_are_marked(full_report):
    _, page = full_report
    for board, classes in zip(leaderboards(page), _row_classes(page, "leaderboard"), strict=True):
        gbdt = [i for i, row in enumerate(board) if row["architecture"].startswith("gbdt")]
        assert len(gbdt) == 1
        assert board[gbdt[0]]["architecture"] == "gbdt trees=100 non-neural reference"
        assert classes[gbdt[0]] == "reference"
        assert all(classes[i] == "" for i in range(len(board)) if i != gbdt[0])


def _row_classes(page: Page, name: str) -> list[list[str]]:
    """The class of each body row of each table of one class."""
    classes = iter(page.row_classes[name])
    return [[next(classes) for _ in rows][1:] for rows in page.separate[name]]


def test_unmeasured_mfu_is_a_dash(full_report):
    _, page = full_report
    resources = tables(page, "resources")[0]
    arch3 = [row for row in resources if row["architecture"].startswith("arch3")]
    others = [row for row in resources if row["architecture"].startswith("arch1")]
    assert arch3 and all(row["MFU"] == "—" for row in arch3)
    assert others and all(row["MFU"].endswith("%") for row in others)


def test_micro_benchmark_section(full_report):
    _, page = full_report
    rows = tables(page, "micro-benchmarks")[0]
    assert [(r["name"], r["mean"], r["stddev"], r["rounds"]) for r in rows] == [
        ("test_step[mlp]", "1.23 ms", "45.6 µs", "200"),
        ("<i>bare</i>", "2.5 s", "—", "3"),
    ]
    assert rows[0]["extra info"] == "overhead=1.02; note=</script><b>x</b>"


def test_bad_benchmark_file_is_one_clear_error(tmp_path, hostile_store):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "pytest-benchmark"}')
    with pytest.raises(nnbench.NnbenchError, match="not pytest-benchmark output"):
        build_report(hostile_store, output=tmp_path / "r.html", benchmarks=bad)
    with pytest.raises(nnbench.NnbenchError, match="no such file"):
        build_report(hostile_store, output=tmp_path / "r.html", benchmarks=tmp_path / "missing.json")


def test_unknown_tasks_have_no_description_and_known_ones_do(full_report, report):
    assert 'class="description"' not in full_report[0]  # synthetic tasks are not registered
    assert report[1].count('class="description"') == 2  # digits and toy2d are


# -- export --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    return synthetic.write_store(tmp_path_factory.mktemp("small") / "s.db", tasks=2, architectures=3, seeds=2)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trip(tmp_path, small_store, fmt):
    from nnbench.report.export import export_results

    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    path, rows = export_results(small_store, output=tmp_path / f"out.{fmt}")
    original = nnbench.load_results(small_store)
    assert rows == len(original)
    if fmt == "csv":
        back = pd.read_csv(path)
    elif fmt == "json":
        back = pd.DataFrame(json.loads(path.read_text()))
    else:
        back = pd.read_parquet(path)
    assert list(back.columns) == list(original.columns)
    assert back["trial_id"].tolist() == original["trial_id"].tolist()
    assert back["status"].tolist() == original["status"].tolist()
    for column in ("test_score", "train_s", "cost_usd", "seed"):
        expected = pd.to_numeric(original[column], errors="coerce").astype(float)
        got = pd.to_numeric(back[column], errors="coerce").astype(float)
        pd.testing.assert_series_equal(got, expected, check_names=False)
    # dict columns: JSON text in csv and parquet, objects in json
    ok = original["status"] == "ok"
    first = back.loc[ok.idxmax(), "test_metrics"]
    assert (json.loads(first) if fmt != "json" else first) == original.loc[ok.idxmax(), "test_metrics"]


def test_export_one_run_and_bad_input(tmp_path, small_store):
    from nnbench.report.export import export_results

    _, rows = export_results(small_store, "synthetic-run", tmp_path / "r.json")
    assert rows == len(nnbench.load_results(small_store))
    with pytest.raises(nnbench.NnbenchError, match="cannot tell the format"):
        export_results(small_store, output=tmp_path / "r.txt")
    with pytest.raises(nnbench.NnbenchError, match="no such run"):
        export_results(small_store, "nope", tmp_path / "r.csv")


# -- publish ---------------------------------------------------------------------------------------


def test_publish_writes_an_index_and_one_page_per_run_with_relative_links(tmp_path):
    from nnbench.report.publish import publish_site

    db = tmp_path / "two.db"
    synthetic.write_store(db, tasks=2, architectures=2, seeds=2, run_id="run-one")
    synthetic.write_store(db, tasks=2, architectures=2, seeds=2, run_id="../run <two>", device="cpu")
    index = publish_site(db, tmp_path / "site")
    pages = sorted((tmp_path / "site" / "runs").glob("*.html"))
    assert len(pages) == 2
    assert all(p.parent == tmp_path / "site" / "runs" for p in pages)
    listing = tables(Page(index.read_text("utf-8")), "runs")[0]
    assert {row["report"] for row in listing} == {"run-one", "../run <two>"}
    assert {row["device"] for row in listing} == {"NVIDIA H100 80GB HBM3", "AMD EPYC"}
    assert {row["trials"] for row in listing} == {"8"}
    for page_path in [index, *pages]:
        page = Page(page_path.read_text("utf-8"))
        for link in page.links:
            parsed = urlparse(link)
            assert not parsed.scheme and not parsed.netloc and not link.startswith("/"), link
            if parsed.path:
                assert (page_path.parent / unquote(parsed.path)).resolve().is_file(), link
            if parsed.fragment:
                assert parsed.fragment in page.ids, link
    run_page = Page(pages[0].read_text("utf-8"))
    assert "../index.html" in run_page.links
    # One copy of plotly.js for the whole site, loaded by every run page; none embedded.
    shared = tmp_path / "site" / "plotly.min.js"
    assert shared.read_text("utf-8") == get_plotlyjs()
    for page_path in pages:
        text = page_path.read_text("utf-8")
        assert get_plotlyjs()[:200] not in text
        assert [s.get("src") for s in Page(text).scripts if s.get("src")] == ["../plotly.min.js"]
        assert len(text) < len(get_plotlyjs()) / 4


# -- compare ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compare_stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    options = {"tasks": 2, "architectures": 3, "seeds": 6, "failures": False}
    a = synthetic.write_store(root / "a.db", **options)
    same = synthetic.write_store(root / "same.db", **options)
    slow_cpu = synthetic.write_store(root / "slow.db", device="cpu", slowdown=2.0, **options)
    return a, same, slow_cpu


def test_compare_the_same_run_says_equivalent(compare_stores, tmp_path):
    from nnbench.report.compare import compare_runs, text_table, write_comparison

    a, same, _ = compare_stores
    result = compare_runs(str(a), f"{same}:synthetic-run")
    assert result.matched == result.by_id == 2 * 3 * 6
    # identical values: every per-seed difference is 0, inside any margin
    for measure in ("test_score", "train_s", "step_ms_median", "cost_usd"):
        assert {row[measure]["verdict"] for row in result.rows} == {"equivalent"}, measure
    assert not result.warnings
    assert "equivalent" in text_table(result)
    page = Page(write_comparison(result, tmp_path / "c.html").read_text("utf-8"))
    assert {"compare-train_s", "compare-step_ms_median", "compare-test_score", "compare-cost_usd"} <= page.ids
    assert "warnings" not in page.ids


def test_compare_matches_on_identity_when_ids_differ_and_sees_a_slowdown(compare_stores, tmp_path):
    from nnbench.report.compare import compare_runs, text_table, write_comparison

    a, _, slow_cpu = compare_stores
    result = compare_runs(str(a), str(slow_cpu))
    assert result.matched == 2 * 3 * 6 and result.by_id == 0  # the device is part of the id
    assert {row["train_s"]["verdict"] for row in result.rows} == {"slower"}
    assert {row["step_ms_median"]["verdict"] for row in result.rows} == {"slower"}
    assert {row["cost_usd"]["verdict"] for row in result.rows} == {"dearer"}
    assert all(row["train_s"]["ratio"] == pytest.approx(2.0) for row in result.rows)
    # the scores are the same draws: equal per seed, so equivalent within the task's margin
    assert {row["test_score"]["verdict"] for row in result.rows} == {"equivalent"}
    assert result.families == {"test_score": 6, "step_ms_median": 6, "train_s": 6, "cost_usd": 6}
    # another device is matched, but said
    assert result.warnings == ["device: A NVIDIA H100 80GB HBM3 vs B AMD EPYC (36 trials)"]
    table = text_table(result)
    assert "2x" in table and "slower" in table and "warning: matched trials differ" in table
    assert "Bonferroni" in table
    page = Page(write_comparison(result, tmp_path / "c.html").read_text("utf-8"))
    verdicts = [row["verdict"] for row in tables(page, "comparison")[1]]  # step time
    assert set(verdicts) == {"slower"}
    text = (tmp_path / "c.html").read_text("utf-8")
    assert "AMD EPYC" in text and "warnings" in page.ids


def _store_with(path, change=None, **options):
    """A synthetic store whose records pass through ``change(record)`` first."""
    from nnbench.store import Store

    with Store(path) as store:
        for record, curve in synthetic.trials(**options):
            store.write_trial(change(dict(record)) if change else record, curve)
    return path


def test_compare_names_every_setting_in_which_matched_trials_differ(tmp_path):
    from nnbench.report.compare import compare_runs, text_table

    options = {"tasks": 1, "architectures": 2, "seeds": 3, "failures": False, "reference": False}

    def other_settings(record):
        return record | {"budget_s": 10.0, "batch_size": 64, "threads": 1, "workers": 2}

    a = _store_with(
        tmp_path / "a.db", lambda r: r | {"budget_s": 15.0, "threads": 2, "workers": 1}, **options
    )
    b = _store_with(tmp_path / "b.db", other_settings, **options)
    result = compare_runs(str(a), str(b))
    assert result.warnings == [
        "budget (seconds): A 15 vs B 10 (6 trials)",
        "batch size: A 128 vs B 64 (6 trials)",
        "threads: A 2 vs B 1 (6 trials)",
        "workers: A 1 vs B 2 (6 trials)",
    ]
    assert "budget (seconds): A 15 vs B 10" in text_table(result)


def test_compare_decides_by_the_procedure_not_by_a_rank_test(tmp_path):
    """Three seeds a side, B ahead by 0.05 on every seed but with spread: a paired t decides; two seeds
    that disagree in sign stay undecided; equal scores within the margin are equivalent."""
    from nnbench.report.compare import compare_runs

    options = {"tasks": 1, "architectures": 3, "seeds": 3, "failures": False, "reference": False}
    shift = {0: [0.05, 0.06, 0.04], 1: [0.05, -0.05, 0.0], 2: [0.001, 0.0, -0.001]}

    def moved(record):
        if record.get("test_score") is None:
            return record
        k = int(record["arch_label"].split()[0][-1])
        score = record["test_score"] + shift[k][record["seed"]] * (1 if record["higher_is_better"] else -1)
        return record | {"test_score": score}

    a = _store_with(tmp_path / "a.db", **options)
    b = _store_with(tmp_path / "b.db", moved, **options)
    result = compare_runs(str(a), str(b))
    verdicts = {row["label"].split()[0]: row["test_score"]["verdict"] for row in result.rows}
    assert verdicts == {"arch0": "better", "arch1": "undecided", "arch2": "equivalent"}


def test_compare_leaves_tuning_trials_out_of_the_comparison(tmp_path):
    from nnbench.report.compare import compare_runs

    options = {"tasks": 1, "architectures": 2, "seeds": 3, "failures": False, "tuning": 4}
    a = synthetic.write_store(tmp_path / "a.db", **options)
    b = synthetic.write_store(tmp_path / "b.db", **options)
    result = compare_runs(str(a), str(b))
    assert result.matched == 3 + 4 + 3  # the reference's trials, the study's and its finals
    tuned = [row for row in result.rows if row["label"].endswith("(tuned)")]
    assert [row["pairs"] for row in tuned] == [3]  # the finals only, not mixed with the tuning budget


# -- the commands (registered on the nnbench group by cli.py) ---------------------------------------


def test_commands_write_their_files(group, compare_stores, tmp_path):
    a, _, slow = compare_stores
    runner = CliRunner()
    result = runner.invoke(group, ["compare", str(a), str(slow), "-o", str(tmp_path / "c.html")])
    assert result.exit_code == 0, result.output
    assert "slower" in result.output and (tmp_path / "c.html").is_file()
    result = runner.invoke(group, ["publish", "--db", str(a), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file() and "1 run page" in result.output
    result = runner.invoke(
        group, ["export", "--db", str(a), "--format", "csv", "-o", str(tmp_path / "x.out")]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "x.out")) == 36


def test_report_command_on_a_tuned_sized_store(hostile_store, tmp_path):
    from nnbench.cli import cli

    result = CliRunner().invoke(cli, ["report", "--db", str(hostile_store), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.html").read_text("utf-8")
    assert "<h2>Tuning</h2>" in text and "<h2>Scaling</h2>" in text
    assert len(tables(Page(text), "scaling-fits")) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "missing.db", "missing.db"], "no such results store"),
        (["export", "-o", "x.txt"], "cannot tell the format"),
        (["publish", "--db", "missing.db", "--out", "site"], "no such results store"),
    ],
)
def test_bad_input_is_one_line(group, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("x.txt").write_text("")
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output


# -- the first screen's honesty ----------------------------------------------------------------------


def test_trials_that_all_ran_to_the_time_cap_get_no_pareto_front(tmp_path):
    results = make_results()
    results["budget_s"] = 15.0
    digits = results["task"] == "digits"
    results.loc[digits, "train_s"] = [15.001, 15.004, 15.002, 15.0, 15.003, 15.006]  # timer noise only
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    figures = json.loads(page.script_text["nnbench-figures"])
    assert not any(trace["name"] == "Pareto front" for trace in figures["fig-1-quality-time"]["data"])
    assert not any(trace["name"] == "Pareto front" for trace in figures["fig-1-quality-cost"]["data"])
    text = html.unescape(" ".join(page.tables.get("summary", [[""]])[0]) + (tmp_path / "r.html").read_text())
    assert "Every trial trained for its whole time budget (15 s)" in text
    # toy2d's trials stopped at different times: its front stays
    assert any(trace["name"] == "Pareto front" for trace in figures["fig-2-quality-time"]["data"])


def test_time_cap_is_only_claimed_when_every_trial_hit_the_same_budget():
    from nnbench.stats import ran_to_time_cap

    assert ran_to_time_cap([15.01, 15.2, 15.0], [15, 15, 15]) == 15.0
    assert ran_to_time_cap([15.01, 9.0, 15.0], [15, 15, 15]) is None  # one stopped early (steps)
    assert ran_to_time_cap([15.01, 10.0], [15, 10]) is None  # different budgets
    assert ran_to_time_cap([15.01, 15.0], [None, None]) is None  # steps-only budgets
    assert ran_to_time_cap([15.0], [15]) is None  # one trial says nothing


def test_na_reasons_read_as_words_even_from_older_stores():
    from nnbench.report.fmt import na_reason

    assert na_reason("n/a: cnn takes ['image', 'sequence'] inputs, not tabular") == (
        "cnn takes image or sequence inputs, not tabular"
    )
    assert (
        na_reason("n/a: gan does ['generation'], not classification")
        == "gan does generation, not classification"
    )
    assert na_reason("n/a: needs a causal task") == "needs a causal task"


def test_across_tasks_uses_fixed_anchors_so_a_new_entry_moves_no_one(tmp_path):
    db = synthetic.write_store(tmp_path / "s.db", tasks=3, architectures=3, seeds=4)
    results = nnbench.load_results(db)
    before = Page(write_report(results, None, None, tmp_path / "a.html").read_text("utf-8"))
    rows = {row["architecture"]: row for row in tables(before, "across")[0]}
    assert all(row["IQM of normalised score [95%]"] != "—" for row in rows.values())
    # one more architecture, far better everywhere: the others' normalised scores stay where they were
    extra = results[results["architecture"] == results["architecture"].iloc[0]].copy()
    extra["arch_label"] = extra["architecture"] = "newcomer"
    extra["trial_id"] = extra["trial_id"] + "-new"
    extra["test_score"] = [1.0 if higher else 0.0 for higher in extra["higher_is_better"]]
    after = Page(
        write_report(pd.concat([results, extra]), None, None, tmp_path / "b.html").read_text("utf-8")
    )
    moved = {row["architecture"]: row for row in tables(after, "across")[0]}
    for label, row in rows.items():
        assert moved[label]["IQM of normalised score [95%]"] == row["IQM of normalised score [95%]"], label
    assert "newcomer" in moved
    improvement = tables(after, "improvement")[0]
    assert improvement and all(
        " [" in cell
        for row in improvement
        for key, cell in row.items()
        if key != "P(row beats column) [95%]" and cell
    )
    figures = json.loads(after.script_text["nnbench-figures"])
    assert "fig-scores" in figures and any(
        trace.get("fill") == "toself" for trace in figures["fig-scores"]["data"]
    )


def test_first_places_count_only_tasks_with_a_rival(tmp_path):
    results = make_results()
    alone = results[(results["task"] == "digits") & (results["architecture"] == "mlp")].copy()
    alone["task"] = "solo-task"
    alone["trial_id"] = alone["trial_id"] + "-solo"
    page = Page(write_report(pd.concat([results, alone]), None, None, tmp_path / "r.html").read_text("utf-8"))
    rows = {row["architecture"]: row for row in tables(page, "across")[0]}
    assert rows["mlp"]["tasks with a rival"] == "2"  # digits and toy2d, not the task it had to itself
