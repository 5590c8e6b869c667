"""``nnbench verdict``: the table, the JSON of VERDICTS.md, and the regression gate's exit status."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nnbench.report import synthetic
from nnbench.store import Store

OPTIONS = {"tasks": 3, "architectures": 3, "seeds": 4, "failures": False}


def write(path, change=None, **options):
    """A synthetic store whose records pass through ``change(record)`` first."""
    with Store(path) as store:
        for record, curve in synthetic.trials(**(OPTIONS | options)):
            store.write_trial(change(dict(record)) if change else record, curve)
    return path


def lowered(by: float):
    """Every test score moved ``by`` towards worse, more on odd seeds (a spread, not a constant)."""

    def change(record):
        if record.get("test_score") is None:
            return record
        shift = by * (1.0 + 0.3 * (record["seed"] % 2))
        sign = -1.0 if record["higher_is_better"] else 1.0
        return record | {"test_score": record["test_score"] + sign * shift}

    return change


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    return {
        "old": write(root / "old.db"),
        "same": write(root / "same.db"),
        "worse": write(root / "worse.db", lowered(0.05)),
        "other": write(root / "other.db", lambda r: r | {"task": "elsewhere"}, tasks=1, device="cpu"),
    }


def test_table_names_every_task_leader_and_outcome(group, stores):
    result = CliRunner().invoke(group, ["verdict", "--db", str(stores["old"])])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Verdicts: t-intervals paired by seed")
    header = lines[1]
    assert header.split() == [
        "task", "metric", "margin", "rank", "architecture", "mean", "seeds", "against", "the", "leader",
        "leader", "-", "it", "[interval]", "to", "decide",
    ]  # fmt: skip
    for task in ("synthetic-00", "synthetic-01", "synthetic-02"):
        assert any(line.startswith(task) for line in lines), task
    assert result.output.count(" leader ") >= 3
    # plain aligned columns: every row of the table starts its architecture where the header does
    column = header.index("architecture")
    rows = lines[2 : 2 + 9]
    assert all(line[column - 2 : column] == "  " for line in rows)
    assert "tasks decided" in result.output and "Across tasks (3 with anchors)" in result.output


def test_json_has_the_keys_of_verdicts_md(group, stores):
    result = CliRunner().invoke(group, ["verdict", "--db", str(stores["old"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["procedure"].startswith("t-intervals paired by seed") and "alpha 0.05" in data["procedure"]
    assert len(data["tasks"]) == 3
    for task in data["tasks"]:
        assert {"task", "metric", "higher_is_better", "margin", "leader", "decided", "comparisons"} <= set(
            task
        )
        assert task["decided"] == all(c["outcome"] != "undecided" for c in task["comparisons"])
        for comparison in task["comparisons"]:
            assert {"architecture", "outcome", "difference", "interval", "seeds"} <= set(comparison)
            assert comparison["outcome"] in ("worse", "equivalent", "undecided")
            assert comparison["seeds"] == [4, 4]
    entries = data["across_tasks"]["entries"]
    assert {e["architecture"] for e in entries} == {"gbdt trees=100", "arch1 width=32", "arch2 width=32"}
    assert all(set(e["iqm"]) == {"value", "interval", "tasks", "runs"} for e in entries)
    assert len(data["across_tasks"]["probability_of_improvement"]) == 3


def test_gate_passes_against_itself(group, stores):
    result = CliRunner().invoke(
        group, ["verdict", "--db", str(stores["same"]), "--baseline", str(stores["old"])]
    )
    assert result.exit_code == 0, result.output
    assert "No entry is decidedly worse on quality than in the baseline." in result.output
    data = json.loads(
        CliRunner()
        .invoke(group, ["verdict", "--db", str(stores["same"]), "--baseline", str(stores["old"]), "--json"])
        .output
    )
    assert data["regressions"] == []
    assert {row["test_score"]["outcome"] for row in data["baseline"]["rows"]} == {"equivalent"}
    assert {row["step_ms_median"]["outcome"] for row in data["baseline"]["rows"]} == {"equivalent"}


def test_gate_fails_when_an_entry_is_decidedly_worse(group, stores):
    result = CliRunner().invoke(
        group, ["verdict", "--db", str(stores["worse"]), "--baseline", str(stores["old"])]
    )
    assert result.exit_code == 1, result.output
    assert "REGRESSION: " in result.output and "decidedly worse on quality" in result.output
    data = json.loads(
        CliRunner()
        .invoke(group, ["verdict", "--db", str(stores["worse"]), "--baseline", str(stores["old"]), "--json"])
        .output
    )
    assert len(data["regressions"]) == 9  # every entry on every task, lowered by 5 to 6.5 points


def test_gate_names_mismatched_settings(group, stores, tmp_path):
    short = write(tmp_path / "short.db", lambda r: r | {"budget_s": 10.0, "threads": 1})
    result = CliRunner().invoke(group, ["verdict", "--db", str(short), "--baseline", str(stores["old"])])
    assert result.exit_code == 0, result.output
    assert "warning: matched trials differ in settings" in result.output
    assert "budget (seconds): A 30 vs B 10 (36 trials)" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["verdict", "--db", "missing.db"], "no such results store"),
        (
            ["verdict", "--db", "OLD", "--baseline", "missing.db"],
            "--baseline missing.db: no such results store",
        ),
        (["verdict", "--db", "OTHER", "--baseline", "OLD"], "no trial matches one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(group, stores, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [str(stores["old"]) if a == "OLD" else str(stores["other"]) if a == "OTHER" else a for a in args]
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
