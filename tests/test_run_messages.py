"""The words of ``nnbench run`` at the start and the end, without training anything."""

from __future__ import annotations

from collections import Counter

from nnbench.run_messages import duration, end_lines, not_applicable_phrase, start_line
from nnbench.runner import TRIAL_OVERHEAD_S, RunSummary


def _summary(**fields) -> RunSummary:
    summary = RunSummary(run_id="r", db_path="results.db", planned=[])
    for key, value in fields.items():
        setattr(summary, key, value)
    return summary


def test_not_applicable_is_one_phrase_with_the_reasons_counted():
    reasons = Counter(
        {
            "cnn takes image or sequence inputs, not tabular": 4,
            "rnn takes image or sequence inputs, not points": 2,
            "gan does generation, not classification": 6,
            "needs a causal task": 1,
        }
    )
    assert not_applicable_phrase(reasons) == (
        "13 n/a (6 where the architecture takes other inputs, 6 where it does another kind of task, "
        "1 for a reason its plugin gives)"
    )
    assert not_applicable_phrase(Counter()) == "0 n/a"


def test_start_line_estimates_from_budgets_and_workers():
    summary = _summary(jobs=10, already_done=4, workers=2, executor="process", budget_seconds=[15.0] * 10)
    expected = 10 * (15.0 + TRIAL_OVERHEAD_S["process"]) / 2
    assert summary.estimated_seconds() == expected
    line = start_line(summary)
    assert line.startswith("10 trials to run, 4 already in the store, 0 n/a; about 2 min on 2 workers")
    assert "15 s of training a trial" in line
    steps_only = _summary(jobs=3, workers=2, budget_seconds=[None, None, None])
    assert "no time estimate" in start_line(steps_only)
    assert start_line(_summary(jobs=0)).endswith("nothing to train.")


def test_durations_read_as_people_say_them():
    assert duration(42) == "42 s"
    assert duration(600) == "10 min"
    assert duration(3900) == "65 min"
    assert duration(6000) == "1 h 40 min"


def test_the_end_names_the_store_the_next_command_and_an_early_ctrl_c(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = _summary(
        records=[{"status": "ok"}, {"status": "error", "error": "boom\nmore", "arch_label": "mlp",
                  "task": "digits", "seed": 0}]
    )  # fmt: skip
    lines = end_lines(done)
    assert lines[0] == "ran 2 trials: error 1, ok 1; 0 already in the store; 0 n/a"
    assert lines[1] == "  error: mlp · digits · seed 0: boom"
    assert lines[2] == f"results: {tmp_path / 'results.db'}"
    assert lines[3] == f"next: nnbench report -o report.html   (writes {tmp_path / 'report.html'})"
    early = end_lines(_summary(interrupted=True))
    assert early == [
        "interrupted before any trial finished: nothing new was saved; run the same command to start again"
    ]
    nothing = end_lines(_summary(already_done=5))
    assert nothing[0] == "nothing to train: 5 trial(s) already in the store, 0 n/a"
