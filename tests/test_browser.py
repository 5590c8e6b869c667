"""The report in a real browser: headless Chromium draws every figure, logs nothing, runs no injected markup.

Skipped cleanly where Chromium is not installed (``apt-get install chromium`` on Debian; CI installs
it). The screenshot goes to ``test-artifacts/report.png`` in the repository (gitignored).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nnbench.report import synthetic
from nnbench.report.from_store import build_report

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


CHROMIUM = _chromium()
if CHROMIUM is None:
    if os.environ.get("NNBENCH_REQUIRE_BROWSER"):  # set by .ci/run: CI must not skip the browser test
        raise RuntimeError("NNBENCH_REQUIRE_BROWSER is set but chromium is not installed")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

# No network, no first-run work, no GPU: the page must draw from the file alone.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Console messages reach stderr as "[pid:tid:time:INFO:CONSOLE:line] "message", source: ..."
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


def chromium(url: str, profile: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``url`` with a fresh profile folder."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *flags, url],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Dom(HTMLParser):
    """Element ids, figure divs drawn (``data-drawn="1"``) and the tags of a dumped DOM."""

    def __init__(self, text: str):
        super().__init__()
        self.drawn: set[str] = set()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "div" and attrs.get("data-drawn") == "1":
            self.drawn.add(attrs.get("id"))


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    # a tuned, size-swept suite, so the tuning and scaling sections are drawn too
    db = synthetic.write_store(
        folder / "store.db",
        tasks=3,
        architectures=4,
        seeds=3,
        hostile=True,
        sizes=synthetic.SIZES,
        tuning=3,
        tuned_tasks=1,
    )
    return build_report(db, output=folder / "report.html")


@pytest.fixture(scope="module")
def browsed(report_file, tmp_path_factory):
    """One Chromium run over the report: the DOM after drawing, the console, and a screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = chromium(
        report_file.as_uri(),
        tmp_path_factory.mktemp("profile"),
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, shot


def _figure_ids(report: Path) -> set[str]:
    text = report.read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="nnbench-figures">(.*?)</script>', text, re.S)
    return set(json.loads(data.group(1)))


def test_every_figure_is_drawn(report_file, browsed):
    expected = _figure_ids(report_file)
    assert len(expected) >= 3 * 4 + 2  # four per task, the heatmap and the profile
    assert {
        "fig-1-tuning-curve",
        "fig-1-tuning-spread",
        "fig-3-scaling-flops",
        "fig-3-scaling-params",
    } <= expected
    dom = Dom(browsed[0].stdout)
    assert dom.drawn == expected, sorted(expected - dom.drawn)


def test_the_console_is_clean(browsed):
    console = [m.group(1) for m in CONSOLE.finditer(browsed[0].stderr)]
    assert console == [], console


def test_hostile_names_stay_text_in_the_browser(browsed):
    dom = Dom(browsed[0].stdout)
    assert not [attrs for tag, attrs in dom.tags if tag in ("img", "b", "i")]
    scripts = [attrs for tag, attrs in dom.tags if tag == "script"]
    assert [attrs.get("type") for attrs in scripts] == [None, "application/json", "application/json", None]


def test_screenshot(browsed):
    shot = browsed[1]
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_that_fails_is_a_console_error_and_not_drawn(tmp_path):
    """The checks above can fail: the drawing script reports what it could not draw.

    The page is the real template with a stand-in for plotly.js that rejects one figure; a second
    figure points at an element that does not exist.
    """
    from markupsafe import Markup

    from nnbench.report.html import script_json, template

    stub = Markup(
        "window.Plotly = {newPlot: function (element, data) {"
        " return data.length ? Promise.resolve() : Promise.reject(new Error('bad figure')); }};"
    )
    page = template("base.html").render(
        title="stub",
        links=[],
        plotly_js=stub,
        figures_json=script_json(
            {
                "fig-good": {"data": [{"y": [1]}], "layout": {}},
                "fig-bad": {"data": [], "layout": {}},
                "fig-missing": {"data": [{"y": [1]}], "layout": {}},
            }
        ),
        template_json=script_json({}),
    )
    page = page.replace("<main>", '<main><div id="fig-good"></div><div id="fig-bad"></div>')
    path = tmp_path / "stub.html"
    path.write_text(page, encoding="utf-8")
    result = chromium(path.as_uri(), tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom")
    console = [m.group(1) for m in CONSOLE.finditer(result.stderr)]
    assert any("nnbench: figure fig-bad failed: Error: bad figure" in line for line in console), console
    assert any("nnbench: no element for figure fig-missing" in line for line in console), console
    assert Dom(result.stdout).drawn == {"fig-good"}


def _layout_probe(page: Path, width: int, folder: Path) -> dict:
    """Load ``page`` in an iframe ``width`` pixels wide and read back how its tables lay out.

    The probe page measures, after the report has drawn, each ``.table-wrap`` of the summary: its
    scroll width against its visible width (a wider scroll means a horizontal scrollbar), and
    whether any of its cells is clipped. Chromium needs ``--allow-file-access-from-files`` to let a
    file:// page read a file:// iframe.
    """
    probe = folder / f"probe-{width}.html"
    probe.write_text(
        f"""<!doctype html><html><body style="margin:0">
<iframe id="report" src="{page.as_uri()}" style="width:{width}px;height:1200px;border:0"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById("report").addEventListener("load", function () {{
  setTimeout(function () {{
    var doc = document.getElementById("report").contentDocument;
    var wrap = doc.querySelector("table.summary").closest(".table-wrap");
    var clipped = Array.from(wrap.querySelectorAll("td, th")).filter(function (cell) {{
      return cell.scrollWidth > cell.clientWidth + 1;
    }}).length;
    document.getElementById("out").textContent = JSON.stringify({{
      scroll: wrap.scrollWidth, visible: wrap.clientWidth, clipped: clipped,
      verdict: doc.querySelector("table.summary thead th:nth-child(3)").textContent.trim()
    }});
  }}, 500);
}});
</script></body></html>""",
        encoding="utf-8",
    )
    result = chromium(
        probe.as_uri(), folder / f"profile-{width}", "--allow-file-access-from-files", "--dump-dom",
        f"--window-size={width + 40},1300",
    )  # fmt: skip
    found = re.search(r'<pre id="out">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1) != "pending", result.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_summary_fits_a_laptop_screen_without_scrolling(report_file, tmp_path, width):
    layout = _layout_probe(report_file, width, tmp_path)
    assert layout["scroll"] <= layout["visible"], layout  # no horizontal scrollbar
    assert layout["clipped"] == 0, layout  # every cell wraps rather than clips
    assert layout["verdict"] == "verdict against the runner-up"  # the verdict stands beside the leader


# -- a published site's history page ---------------------------------------------------------------


@pytest.fixture(scope="module")
def history_page(tmp_path_factory) -> Path:
    """A history page of a hostile entry, in a site published from a store of four runs, one slower."""
    from nnbench.report import history
    from nnbench.report.publish import publish_site

    folder = tmp_path_factory.mktemp("history")
    label = f"{synthetic.HOSTILE_ARCH} note={synthetic.HOSTILE_CONFIG_NOTE}"
    db = synthetic.write_history(
        folder / "store.db",
        runs=4,
        changes={2: {label: synthetic.Change(slowdown=1.5, quality_drop=0.1)}},
        devices={3: "cpu"},
        hostile=True,
        tasks=2,
        architectures=3,
        seeds=4,
        failures=False,
    )
    index = publish_site(db, folder / "site")
    return index.parent / history.HISTORY_DIR / history.page_file(label, synthetic.HOSTILE_TASK)


@pytest.fixture(scope="module")
def history_browsed(history_page, tmp_path_factory):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "history.png"
    shot.unlink(missing_ok=True)
    result = chromium(
        history_page.as_uri(),
        tmp_path_factory.mktemp("profile"),
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, shot


def test_the_history_page_draws_its_figures_with_a_clean_console(history_page, history_browsed):
    result, shot = history_browsed
    assert _figure_ids(history_page) == {"fig-history-quality", "fig-history-step"}
    assert Dom(result.stdout).drawn == {"fig-history-quality", "fig-history-step"}
    console = [m.group(1) for m in CONSOLE.finditer(result.stderr)]
    assert console == [], console
    dom = Dom(result.stdout)
    assert not [attrs for tag, attrs in dom.tags if tag in ("img", "b", "i")]
    scripts = [attrs for tag, attrs in dom.tags if tag == "script"]
    assert [attrs.get("src") for attrs in scripts] == ["../plotly.min.js", None, None, None]
    # the slower, worse run is marked in the drawn figures (plotly draws a legend entry per trace)
    assert "slower than the previous run" in result.stdout and "worse than the previous run" in result.stdout
    assert shot.is_file() and shot.stat().st_size > 10_000
