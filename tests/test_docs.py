"""Docs that cannot rot: every example in docs/plugins.md is written out and run as a user would."""

from __future__ import annotations

import json
import re

import pytest

import nnbench

from .conftest import REPO, pip_install_target, run_cli

BLOCK = re.compile(r"```(\w+)\n# file: (\S+)\n(.*?)```", re.S)


def doc_files(name: str) -> dict[str, str]:
    """The ``# file: NAME`` code blocks of a doc, by file name."""
    return {path: body for _lang, path, body in BLOCK.findall((REPO / "docs" / name).read_text())}


@pytest.mark.slow
def test_plugin_tutorial_file_example_runs(tmp_path):
    files = doc_files("plugins.md")
    assert {"my_gmlp.py", "gmlp-suite.yaml", "my_gauss.py", "pyproject.toml"} <= set(files)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    listed = run_cli("list", "architectures", "--json", "--plugin", str(tmp_path / "my_gmlp.py"))
    assert "gmlp" in {row["name"] for row in json.loads(listed.stdout)}
    suite = (tmp_path / "gmlp-suite.yaml").read_text().replace("{steps: 100, time: 30s}", "{steps: 20}")
    (tmp_path / "gmlp-suite.yaml").write_text(suite + "threads: 1\n")
    result = run_cli("run", "gmlp-suite.yaml", "--db", "r.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    results = nnbench.load_results(tmp_path / "r.db")
    ok = results[results.status == "ok"]
    assert len(ok[ok.architecture == "gmlp"]) == 2 * 2 * 2  # 2 widths x 2 tasks x 2 seeds
    assert len(ok[ok.architecture == "mlp"]) == 2 * 2


@pytest.mark.slow
def test_plugin_tutorial_custom_loop_example_runs(tmp_path):
    (tmp_path / "my_gauss.py").write_text(doc_files("plugins.md")["my_gauss.py"])
    (tmp_path / "s.yaml").write_text(
        "name: g\nseeds: [0]\nthreads: 1\nbudget: {steps: 30}\nplugins: [my_gauss.py]\ntasks: [toy2d]\narchitectures: [my-gauss]\n"
    )
    result = run_cli("run", "s.yaml", "--db", "r.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [row] = nnbench.load_results(tmp_path / "r.db").to_dict("records")
    assert row["status"] == "ok" and row["metric"] == "mmd" and row["steps"] == 30


@pytest.mark.slow
def test_plugin_tutorial_package_example_installs_and_registers(tmp_path):
    files = doc_files("plugins.md")
    package = tmp_path / "pkg"
    (package / "nnbench_gmlp").mkdir(parents=True)
    (package / "pyproject.toml").write_text(files["pyproject.toml"])
    (package / "nnbench_gmlp" / "__init__.py").write_text(files["my_gmlp.py"])
    site = tmp_path / "site"
    pip_install_target(package, site)
    listed = run_cli("list", "architectures", "--json", env={"PYTHONPATH": str(site)})
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["gmlp"]["plugin"] == "gmlp (nnbench_gmlp)"


def test_suite_doc_example_is_valid(tmp_path):
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    body = doc_files("suites.md")["example-suite.yaml"]
    (tmp_path / "example-suite.yaml").write_text(body)
    suite = load_suite(tmp_path / "example-suite.yaml")
    matrix = expand(suite, "cpu")
    # 3 architecture configurations of mlp/cnn... mlp, mlp width 256, cnn x2 = 4; tasks: digits + parity x2 = 3
    assert len(matrix.trials) == 4 * 3 * 3
    assert all(t.not_applicable is None for t in matrix.trials)


@pytest.mark.parametrize("name", ["typo.yaml", "shape.yaml"])
def test_suite_doc_error_examples_print_what_the_doc_shows(name, tmp_path):
    text = (REPO / "docs" / "suites.md").read_text()
    (tmp_path / name).write_text(doc_files("suites.md")[name])
    shown = text.split(f"$ nnbench run {name}\n", 1)[1].split("```", 1)[0].splitlines()
    result = run_cli("run", name, "--db", "r.db", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    printed = result.stderr.replace(str(tmp_path), "/home/me").splitlines()

    def comparable(lines):  # the list of installed architectures grows with plugins: compare up to it
        return [line.split(" Known: ", 1)[0] for line in lines]

    assert comparable(printed) == comparable(shown)


def test_tuned_suite_doc_example_plans_one_study_per_pair(tmp_path):
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    body = doc_files("suites.md")["tuned-suite.yaml"]
    (tmp_path / "tuned-suite.yaml").write_text(body)
    matrix = expand(load_suite(tmp_path / "tuned-suite.yaml"), "cpu")
    assert len(matrix.tuned) == 3  # cnn does not take tables: its two seeds there are n/a
    assert len(matrix.trials) == 2 and all(t.not_applicable for t in matrix.trials)
    by_pair = {(s.architecture, s.task): s for s in matrix.tuned}
    cnn = by_pair[("cnn", "digits")]
    assert cnn.tune.trials == 8 and cnn.tune_budget.steps == 100 and cnn.final_budget.steps == 300
    assert set(cnn.space) >= {"training.lr", "channels"} and "depth" not in cnn.space
    assert cnn.base.arch_config["depth"] == 2
    assert by_pair[("mlp", "tabular-real")].tune.trials == 4


@pytest.mark.slow
def test_plugin_tutorial_sizes_and_search_space_work(tmp_path):
    (tmp_path / "my_gmlp.py").write_text(doc_files("plugins.md")["my_gmlp.py"])
    (tmp_path / "s.yaml").write_text(
        "name: g\nseeds: [0]\nthreads: 1\nbudget: {steps: 10}\nplugins: [my_gmlp.py]\nexecutor: {kind: inline}\n"
        "tune: {trials: 2, budget: {steps: 5}}\ntasks: [tabular-real]\n"
        "architectures: [{name: gmlp, size: [xs, m]}]\n"
    )
    result = run_cli("run", "s.yaml", "--db", "r.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = nnbench.load_results(tmp_path / "r.db")
    assert sorted(rows.stage) == ["final", "final", "tune", "tune", "tune", "tune"]
    assert set(rows["size"]) == {"xs", "m"}


def test_readme_suite_is_valid(tmp_path):
    from nnbench.plan import expand
    from nnbench.suite import load_suite

    readme = (REPO / "README.md").read_text()
    body = readme.split("## A suite\n\n```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "quick.yaml").write_text(body)
    matrix = expand(load_suite(tmp_path / "quick.yaml"), "cpu")
    assert len(matrix.trials) == 3 * 2 * 2


def test_readme_commands_are_the_ci_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install -c constraints.txt -e ".[dev,ray,trackers]" && bash scripts/test.sh' in readme
    assert "bash scripts/test.sh" in ci and '-c constraints.txt -e ".[dev,ray,trackers]"' in ci
    assert (REPO / "constraints.txt").read_text().strip() == "torch==2.13.0"


def test_the_architecture_page_maps_every_module():
    text = (REPO / "docs" / "architecture.md").read_text()
    package = REPO / "nnbench"
    names = [f"`{p.name}`" for p in package.glob("*.py") if p.name != "__main__.py"]
    names += [f"`{p.name}/`" for p in package.iterdir() if (p / "__init__.py").is_file()]
    missing = [name for name in names if name not in text]
    assert not missing, f"docs/architecture.md does not place {', '.join(sorted(missing))}"


@pytest.mark.slow
def test_python_session_doc_runs_as_written(tmp_path):
    import subprocess
    import sys

    files = doc_files("python.md")
    assert set(files) == {"tiny.yaml", "session.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    result = subprocess.run(
        [sys.executable, "session.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("0 Counter({'ok': 6})")
    assert "tabular-real/curve-steps" in result.stdout and "across/heatmap" in result.stdout
    assert (tmp_path / "curve.html").is_file() and (tmp_path / "report.html").is_file()
    results = nnbench.results(tmp_path / "tiny.db")
    html_text = results._repr_html_()
    assert '<table class="summary">' in html_text and "tabular-real" in html_text
    assert "<script" not in html_text  # a notebook cell: no scripts
    with pytest.raises(nnbench.NnbenchError, match="did you mean 'tabular-real/curve-steps'"):
        results.figure("tabular-real/curve-step")
    assert set(nnbench.figures(tmp_path / "tiny.db")) == set(results.figures())


def test_adaptive_suite_doc_example_dry_runs_as_shown(tmp_path):
    (tmp_path / "adaptive-suite.yaml").write_text(doc_files("suites.md")["adaptive-suite.yaml"])
    text = (REPO / "docs" / "suites.md").read_text()
    shown = text.split("$ nnbench run adaptive-suite.yaml --dry-run\n", 1)[1].split("```", 1)[0]
    result = run_cli("run", "adaptive-suite.yaml", "--dry-run", "--db", "r.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == shown.splitlines()[-1]
    assert "if undecided" in result.stdout
