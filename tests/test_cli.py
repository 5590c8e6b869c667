"""The command line as a user meets it: fast help, one-line errors, tracebacks only with --debug."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nnbench

from .conftest import REPO, run_cli


def test_help_does_not_import_torch():
    code = "import sys; from nnbench.cli import cli; cli(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
    assert "Example:" in out


def test_listing_architectures_does_not_import_torch():
    # The built-ins declare their architectures in modules free of torch and import their torch
    # modules in build: listing them (and so every plugin's metadata) costs no torch import.
    code = (
        "import json, sys; from nnbench.cli import cli; cli(['list', 'architectures', '--json'], "
        "standalone_mode=False); print(json.dumps(sorted(m for m in ('torch', 'numpy') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    listing, _, imported = out.rstrip().rpartition("\n")
    names = {row["name"] for row in json.loads(listing)}
    assert {"mlp", "cnn", "rnn", "transformer", "ssm", "hyena", "gan", "diffusion", "gbdt"} <= names
    assert json.loads(imported) == []
    # Building a model is what imports torch: the same process, once it builds one, has it.
    code = (
        "import sys, nnbench; arch = nnbench.get_architecture('mlp'); assert 'torch' not in sys.modules; "
        "spec = nnbench.TaskSpec(name='t', modality='tabular', kind='regression', input_shape=(3,), "
        "output_shape=(1,)); arch.build(spec, arch.Config()); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_version_and_help_of_each_command():
    assert run_cli("--version").stdout.strip().endswith(nnbench.__version__)
    for command in (
        "run",
        "list",
        "plugins",
        "report",
        "compare",
        "verdict",
        "publish",
        "export",
        "check",
        "new-plugin",
    ):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout, command


def test_list_shows_builtins():
    architectures = json.loads(run_cli("list", "architectures", "--json").stdout)
    assert {"mlp", "cnn"} <= {a["name"] for a in architectures}
    tasks = {t["name"]: t for t in json.loads(run_cli("list", "tasks", "--json").stdout)}
    assert {"digits", "tabular-real", "running-parity", "toy2d"} <= set(tasks)
    assert tasks["toy2d"]["higher_is_better"] is False
    table = run_cli("list", "tasks").stdout
    assert "running-parity" in table and "accuracy" in table


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        (
            "name: x\nbudget: {steps: 5}\ntasks: [digits]\narchitectures: [mpl]\n",
            ":4: architectures.0: unknown architecture 'mpl'; did you mean 'mlp'?",
        ),
        (
            "name: x\nbudget: {steps: 5}\ntasks: [digits]\narchitectures: [mlp]\nbogus: 1\n",
            ":5: bogus: unknown key",
        ),
        ("name: x\nbudget: {steps: many}\ntasks: [digits]\narchitectures: [mlp]\n", ":2: budget.steps"),
        ("name: x\nbudget: [steps: 5\n", "invalid YAML"),
    ],
)
def test_bad_suites_give_one_line_and_exit_2(tmp_path, suite, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(suite)
    result = run_cli("run", str(path), "--db", str(tmp_path / "r.db"))
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "r.db").exists() or nnbench.load_results(tmp_path / "r.db").empty


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbudget: {steps: 5}\ntasks: [digits]\narchitectures: [mpl]\n")
    result = run_cli("run", str(path), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_missing_suite_and_bad_db(tmp_path):
    missing = run_cli("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such suite file" in missing.stderr
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello, I am not SQLite" * 100)
    result = run_cli("report", "--db", str(not_a_store), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "not an nnbench results store" in result.stderr


@pytest.mark.slow
def test_smoke_suite_then_report_from_the_cli(tmp_path):
    """The README's quick path: the smoke suite, a re-run that trains nothing, and its report."""
    db = tmp_path / "smoke.db"
    first = run_cli("run", str(REPO / "suites" / "smoke.yaml"), "--db", str(db), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    results = nnbench.load_results(db)
    ok = results[results.status == "ok"]
    assert len(ok) >= 10 and results.trial_id.is_unique
    assert set(ok.architecture) >= {"mlp", "cnn"}
    second = run_cli("run", str(REPO / "suites" / "smoke.yaml"), "--db", str(db), cwd=tmp_path)
    assert second.returncode == 0 and "nothing to train: " in second.stdout
    assert len(nnbench.load_results(db)) == len(results)
    report = run_cli("report", "--db", str(db), "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report.html").read_text()
    assert "digits" in html and "running-parity" in html and "smoke" in html
