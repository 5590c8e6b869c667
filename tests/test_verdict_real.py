"""The real A/A test: one architecture under two names never separated; a crippled one always worse.

Trained for real (steps budgets: deterministic on a CPU with one thread), on four small tasks with four
seeds, read back from the store by ``nnbench verdict --json``. Each pair of twins is compared at
Bonferroni level 0.05 / 3 (three entries, three pairs) per task, so a false separation somewhere
among the four tasks has a chance of at most about 7%; these seeds show none, and a failure here
means the procedure (or the twins' isolation) broke, not bad luck worth retrying.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from .conftest import TEST_PLUGINS

SUITE = """
name: twins
seeds: [0, 1, 2, 3]
threads: 1
budget: {steps: 150}
training: {eval_every: 50, lr: 0.003}
tasks:
  - digits
  - tabular
  - tabular-real
  - {name: tabular-real, dataset: wine}
architectures: [twin-a, twin-b, crippled]
"""


@pytest.mark.slow
def test_twins_are_never_separated_and_the_crippled_one_is_always_worse(group, write_suite, tmp_path):
    from nnbench.runner import run_suite

    plugin = str(TEST_PLUGINS / "twins.py")
    db = tmp_path / "twins.db"
    summary = run_suite(write_suite(SUITE), db=db, executor="inline", plugin_files=[plugin], quiet=True)
    assert {r["status"] for r in summary.records} == {"ok"} and len(summary.records) == 4 * 3 * 4
    result = CliRunner().invoke(group, ["verdict", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.output)["tasks"]
    assert len(tasks) == 4
    for task in tasks:
        outcomes = {c["architecture"]: c["outcome"] for c in task["comparisons"]}
        assert task["leader"] in ("twin-a", "twin-b"), task
        twin = "twin-b" if task["leader"] == "twin-a" else "twin-a"
        assert outcomes[twin] != "worse", task
        assert outcomes["crippled"] == "worse", task
        assert task["margin"] == 0.01 and task["comparisons"][0]["seeds"] == [4, 4]
        ranks = {e["architecture"]: e["rank"] for e in task["entries"]}
        assert ranks == {"twin-a": 1, "twin-b": 1, "crippled": 2}, task
