"""suites/recall.yaml, suites/context.yaml and the CPU cuts of them that docs/tasks.md runs."""

from __future__ import annotations

import yaml

from nnbench.plan import expand
from nnbench.suite import load_suite

from .conftest import REPO
from .test_docs import doc_files

SEQUENCE_FAMILIES = {"transformer", "ssm", "linear-attention", "hyena", "rnn"}


def names(suite_path) -> set[str]:
    entries = yaml.safe_load(suite_path.read_text())["architectures"]
    return {e if isinstance(e, str) else e["name"] for e in entries}


def test_the_recall_suite_sweeps_width_and_length_over_the_sequence_families():
    suite = load_suite(REPO / "suites" / "recall.yaml")
    trials = expand(suite, "cpu").trials
    assert names(REPO / "suites" / "recall.yaml") >= SEQUENCE_FAMILIES
    assert {t.spec.task_config["seq_len"] for t in trials} == {64, 128}
    assert all(t.spec.task_config["min_kv_pairs"] == 4 for t in trials)
    widths = {
        (t.spec.architecture, t.spec.arch_config.get("d_model", t.spec.arch_config.get("hidden")))
        for t in trials
    }
    assert {w for a, w in widths if a == "ssm"} == {32, 64, 128}
    assert all(t.not_applicable is None for t in trials)


def test_the_context_suite_probes_thousands_of_tokens_on_every_family():
    suite = load_suite(REPO / "suites" / "context.yaml")
    trials = expand(suite, "cpu").trials
    assert SEQUENCE_FAMILIES | {"cnn"} <= names(REPO / "suites" / "context.yaml")
    assert max(trials[0].spec.inference_lengths) >= 8192
    assert {t.spec.task_config["seq_len"] for t in trials} == {64, 128, 256, 512}


def test_the_documented_cuts_are_valid_and_cut_from_the_shipped_suites(tmp_path):
    files = doc_files("tasks.md")
    for cut, shipped, expected in (
        ("recall-cut.yaml", "recall.yaml", 15),
        ("recall-steps.yaml", "recall.yaml", 5),
        ("context-cut.yaml", "context.yaml", 24),
    ):
        path = tmp_path / cut
        path.write_text(files[cut])
        trials = expand(load_suite(path), "cpu").trials
        assert len(trials) == expected and all(t.not_applicable is None for t in trials)
        assert names(path) <= names(REPO / "suites" / shipped)
