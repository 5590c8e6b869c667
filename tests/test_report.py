"""The HTML report: ranking in both metric directions, blanks for missing values, escaping, offline."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from nnbench.report import write_report
from nnbench.report.page import _figures_json, bootstrap_interval

HOSTILE_ARCH = "<img src=x onerror=alert(1)>"
HOSTILE_CONFIG = '{"note": "</script><script>alert(1)</script>"}'
HOSTILE_ERROR = "RuntimeError: boom </script><script>alert(2)</script>"
HOSTILE_SUITE = "name: smoke\n# </script><script>alert(3)</script>\ntasks: [digits, {name: toy2d}]\n"

RESULT_COLUMNS = [
    "trial_id", "run_id", "architecture", "arch_label", "arch_config", "task", "task_config",
    "task_version", "seed", "device", "status", "error", "metric", "higher_is_better", "val_score",
    "test_score", "target", "reached_target", "batch_size", "steps", "train_s", "eval_s", "setup_s",
    "warmup_s", "wall_s", "step_ms_median", "step_ms_iqr", "samples_per_s", "params", "flops_per_step",
    "peak_mem_bytes", "device_seconds", "cost_usd", "time_to_target_s",
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
        [("digits-0-0", step, step / 100, "val", "accuracy", 0.5 + step / 1000) for step in (0, 50, 100)],
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
    """The parts of a report a test reads: script tags, src/href attributes and table cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict] = []
        self.script_text: dict[str, str] = {}
        self.links: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._script_id: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.links += [attrs[a] or "" for a in ("src", "href") if a in attrs]
        if tag == "script":
            self.scripts.append(attrs)
            self._script_id = attrs.get("id")
        elif tag == "table":
            self._table = attrs.get("class", "table")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script_id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._script_id:
            self.script_text[self._script_id] = self.script_text.get(self._script_id, "") + data


def leaderboards(page: Page) -> list[list[dict[str, str]]]:
    """Each task's leaderboard as a list of {column header: cell} rows, in page order."""
    # tables of one class are merged by the parser; split them again at each header row
    boards, header = [], None
    for row in page.tables["leaderboard"]:
        if row and row[0] == "rank":
            header = row
            boards.append([])
        else:
            boards[-1].append(dict(zip(header, row, strict=True)))
    return boards


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = write_report(
        make_results(), make_curves(), make_runs(), tmp_path_factory.mktemp("report") / "report.html"
    )
    text = path.read_text(encoding="utf-8")
    return path, text, Page(text)


def test_writes_one_file_with_plotly_embedded_once(report):
    path, text, page = report
    assert path.is_file()
    assert text.count(get_plotlyjs()[:200]) == 1
    assert not any(script.get("src") for script in page.scripts)


def test_leaderboard_ranks_higher_is_better_descending(report):
    digits, _ = leaderboards(report[2])
    assert [row["architecture"] for row in digits] == ["cnn width=32", "mlp", HOSTILE_ARCH]
    assert [row["rank"] for row in digits] == ["1", "2", "3"]
    assert digits[0]["test accuracy (mean ± std)"].startswith("0.96 ± ")
    assert digits[0]["n seeds"] == "2"
    low, high = (float(v) for v in digits[0]["95% interval"].strip("[]").split(", "))
    assert 0.95 <= low <= 0.96 <= high <= 0.97


def test_leaderboard_ranks_lower_is_better_ascending(report):
    _, toy2d = leaderboards(report[2])
    assert [row["architecture"] for row in toy2d] == [HOSTILE_ARCH, "mlp", "cnn width=32"]
    assert [row["rank"] for row in toy2d] == ["1", "2", "3"]


def test_one_seed_shows_its_value_and_no_interval(report):
    _, toy2d = leaderboards(report[2])
    cnn = toy2d[-1]
    assert (cnn["n seeds"], cnn["test mse (mean ± std)"], cnn["95% interval"]) == ("1", "0.3", "n/a")


def test_missing_measurements_show_as_a_dash_not_zero(report):
    digits, _ = leaderboards(report[2])
    mlp = next(row for row in digits if row["architecture"] == "mlp")
    assert mlp["cost (USD, median)"] == "—"
    cnn = next(row for row in digits if row["architecture"] == "cnn width=32")
    assert cnn["cost (USD, median)"] == "0.002"
    assert mlp["params"] == "1,000"


def test_hostile_names_are_escaped(report):
    _, text, page = report
    for raw in (HOSTILE_ARCH, "</script><script>alert(1)", "<script>alert(2)", "<script>alert(3)"):
        assert raw not in text
    assert "<img" not in page.tags
    # the bundle, the figures' JSON and the script that draws them: nothing else
    assert len(page.scripts) == 3
    assert [s.get("type") for s in page.scripts] == [None, "application/json", None]
    # and the names still read as written
    digits, _ = leaderboards(page)
    assert digits[-1]["architecture"] == HOSTILE_ARCH


def test_summary_names_each_tasks_winner_and_is_cautious_with_two_seeds(report):
    rows = report[2].tables["summary"][1:]
    assert [(row[0], row[2], row[4]) for row in rows] == [
        ("digits", "cnn width=32", "mlp"),
        ("toy2d", HOSTILE_ARCH, "mlp"),
    ]
    assert all(row[-1].startswith("too few seeds") for row in rows)


def test_figures_json_is_valid_and_labelled(report):
    page = report[2]
    figures = json.loads(page.script_text["nnbench-figures"])
    digits, toy2d = figures.values()
    assert digits["layout"]["yaxis"]["title"]["text"] == "accuracy (higher is better)"
    assert toy2d["layout"]["yaxis"]["title"]["text"] == "mse (lower is better)"
    assert digits["layout"]["xaxis"]["title"]["text"] == "training time (s)"
    assert toy2d["layout"]["xaxis"]["type"] == "log"
    assert "log scale" in toy2d["layout"]["xaxis"]["title"]["text"]
    assert sum(len(trace["x"]) for trace in toy2d["data"]) == 5  # one marker per ok trial
    # nothing in the JSON can close its <script> element
    assert not set("<>&") & set(page.script_text["nnbench-figures"])
    # a name plotly.js would read as markup goes in as entities
    assert "&lt;img src=x onerror=alert(1)&gt;" in [trace["name"] for trace in digits["data"]]


def test_figure_json_cannot_close_its_script_element():
    figure = go.Figure(layout={"title": {"text": "</script><script>alert(1)</script> & co"}})
    text = str(_figures_json({"fig-1": figure}))
    assert not set("<>&") & set(text)
    assert json.loads(text)["fig-1"]["layout"]["title"]["text"] == figure.layout.title.text


def test_page_is_offline(report):
    _, text, page = report
    assert page.links, "expected the table of contents' links"
    assert not [link for link in page.links if link.lower().startswith(("http:", "https:", "//"))]
    assert "link" not in page.tags
    assert "@import" not in text


def test_failures_table_shows_the_first_line_of_the_error(report):
    failures = report[2].tables["failures"]
    assert failures[0] == ["status", "architecture", "task", "seed", "error"]
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
    results.loc[toy2d, ["status", "error"]] = ["skipped", "incompatible: needs images"]
    results.loc[toy2d, ["test_score", "train_s"]] = math.nan
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    _, board = leaderboards(page)
    assert {(row["rank"], row["test mse (mean ± std)"], row["n seeds"]) for row in board} == {("—", "—", "0")}
    assert list(json.loads(page.script_text["nnbench-figures"])) == ["fig-1-quality-time"]
    assert page.tables["summary"][2][2:] == ["—", "—", "—", "—", "no trial finished ok"]
    assert len(page.tables["failures"]) == 1 + 6


def test_tasks_follow_the_suite_order_not_the_row_order(tmp_path):
    results = make_results().iloc[::-1]  # toy2d's rows first
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    assert [row[0] for row in page.tables["summary"][1:]] == ["digits", "toy2d"]
    runs = make_runs().assign(suite_text=None)
    page = Page(write_report(results, make_curves(), runs, tmp_path / "r.html").read_text("utf-8"))
    assert [row[0] for row in page.tables["summary"][1:]] == ["toy2d", "digits"]


def test_rows_without_a_label_are_told_apart_by_their_config(tmp_path):
    results = make_results().drop(columns=["arch_label"])
    page = Page(write_report(results, make_curves(), make_runs(), tmp_path / "r.html").read_text("utf-8"))
    digits, _ = leaderboards(page)
    assert [row["architecture"] for row in digits] == [
        "cnn width=32",
        "mlp",
        f"{HOSTILE_ARCH} note={HOSTILE_CONFIG[10:-2]}",
    ]


@pytest.mark.parametrize("results", [pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame()])
def test_no_trials_gives_a_page_that_says_so(tmp_path, results):
    path = write_report(results, pd.DataFrame(), make_runs(), tmp_path / "empty" / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "no trials" in text
    assert "abc1234" in text  # the environment is still there
    assert Page(text).scripts == []


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    values = np.array([0.1, 0.2, 0.4, 0.3])
    low, high = bootstrap_interval(values)
    assert (low, high) == bootstrap_interval(values)
    assert low < values.mean() < high
    assert all(math.isnan(v) for v in bootstrap_interval(np.array([0.5])))
