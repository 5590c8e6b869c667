"""Named sizes in suites: ``size: [xs, s, m]`` sweeps an architecture's sizes; options next to it win."""

from __future__ import annotations

import json

import pytest

import nnbench
from nnbench.errors import ConfigError
from nnbench.runner import run_suite

from .conftest import TEST_PLUGINS

SIZED = f"""
name: sized
seeds: [0]
threads: 1
budget: {{steps: 10}}
plugins: [{TEST_PLUGINS / "tunable.py"}]
executor: {{kind: inline}}
tasks: [tabular-real]
architectures:
  - {{name: tiny-mlp, size: [xs, s, m]}}
"""


def test_a_size_sweep_runs_each_size_and_records_it(write_suite, db):
    summary = run_suite(write_suite(SIZED), db=db, quiet=True)
    assert summary.exit_code == 0
    rows = nnbench.load_results(db).set_index("size")
    assert list(rows.index) == ["xs", "s", "m"]
    assert [json.loads(c)["hidden"] for c in rows.arch_config] == [4, 16, 64]
    assert rows.params.is_monotonic_increasing
    assert list(rows.arch_label) == ["tiny-mlp size=xs", "tiny-mlp size=s", "tiny-mlp size=m"]


def test_options_next_to_a_size_win(write_suite):
    text = SIZED.replace("size: [xs, s, m]}", "size: xs, hidden: 10}")
    [planned] = run_suite(write_suite(text), dry_run=True, quiet=True).to_run
    assert planned.spec.arch_config["hidden"] == 10 and planned.spec.size == "xs"


def test_an_unknown_size_is_one_clear_error(write_suite):
    path = write_suite(SIZED.replace("[xs, s, m]", "[xs, ss]"), name="sized.yaml")
    with pytest.raises(ConfigError) as caught:
        run_suite(path, dry_run=True, quiet=True)
    assert (
        "sized.yaml:9: architectures.0.size: tiny-mlp has no size 'ss'; did you mean 's'? (its sizes: xs, s, m)"
        in str(caught.value)
    )


def test_sized_tuned_studies_keep_the_size_and_tune_the_rest(write_suite, db):
    text = SIZED.replace("executor:", "tune: {trials: 2, budget: {steps: 5}}\nexecutor:").replace(
        "[xs, s, m]", "[xs, m]"
    )
    summary = run_suite(write_suite(text), db=db, quiet=True)
    assert summary.exit_code == 0
    rows = nnbench.load_results(db)
    for size, hidden in (("xs", 4), ("m", 64)):
        sized = rows[rows["size"] == size]
        assert len(sized) == 3  # 2 tuning trials and 1 re-run
        assert all(json.loads(c)["hidden"] == hidden for c in sized.arch_config)
        assert all("hidden" not in h for h in sized.hparams)


def test_a_real_size_sweep_gets_a_scaling_section_with_fits(write_suite, db, tmp_path):
    from .conftest import run_cli

    text = SIZED.replace("seeds: [0]", "seeds: [0, 1]").replace("budget: {steps: 10}", "budget: {steps: 40}")
    assert run_suite(write_suite(text), db=db, quiet=True).exit_code == 0
    result = run_cli("report", "--db", str(db), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert 'id="scaling"' in page and "scaling-fits" in page
    assert "tiny-mlp" in page.split('id="scaling"', 1)[1]
