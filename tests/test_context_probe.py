"""What trials record about sequence models (nnbench/context_probe.py): width, state size, and inference
time and memory at the lengths a suite lists."""

from __future__ import annotations

import textwrap
import time

import pytest
import torch

import nnbench
from nnbench import context_probe
from nnbench.plan import expand
from nnbench.suite import load_suite, parse_suite
from nnbench.types import TaskSpec

SUITE = """
name: probes
seeds: [0]
threads: 1
budget: {steps: 3}
training: {batch_size: 8, eval_every: 0, warmup_steps: 1}
executor: {kind: inline}
tasks: [{name: mqar, seq_len: 16, num_kv_pairs: 2, vocab_size: 16, n_train: 32, n_val: 16, n_test: 16}]
"""


def run(tmp_path, text: str) -> dict[str, dict]:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(SUITE) + text)
    outcome = nnbench.run_suite(path, db=tmp_path / "r.db", quiet=True)
    return {r["arch_label"]: r for r in outcome.records}


def test_trials_record_width_and_state_and_probe_each_listed_length(tmp_path):
    records = run(
        tmp_path,
        "inference_lengths: [64, 16, 256]\n"
        "architectures: [{name: transformer, positions: sinusoidal, d_model: 32}, {name: ssm, d_model: 32}, mlp]\n",
    )
    # Labels name only the options that tell an architecture's entries apart: one entry each here.
    attention, ssm, mlp = (records[k] for k in ("transformer", "ssm", "mlp"))
    assert attention["status"] == ssm["status"] == mlp["status"] == "ok"
    assert attention["sequence_length"] == 16 and attention["model_width"] == 32
    assert attention["width_option"] == "d_model"
    assert attention["state_numbers"] == 2 * 2 * 16 * 32  # K and V, 2 blocks, 16 tokens, 32 wide
    assert attention["state_bytes"] == 4 * attention["state_numbers"]
    assert (
        mlp["model_width"] is None and mlp["state_bytes"] is None and "declares no state" in mlp["state_note"]
    )
    for record in (attention, ssm):
        probes = record["inference_by_length"]
        assert [p["length"] for p in probes] == [16, 64, 256]
        for p in probes:
            assert p["error"] is None and p["seconds_per_call"] > 0
            assert p["tokens_per_s"] == pytest.approx(
                context_probe.PROBE_BATCH * p["length"] / p["seconds_per_call"]
            )
            assert p["peak_bytes"] > 0 and p["memory_method"] == "torch.profiler allocation events"
    assert [p["state_bytes"] for p in attention["inference_by_length"]] == [
        4 * 2 * 2 * n * 32 for n in (16, 64, 256)
    ]
    assert len({p["state_bytes"] for p in ssm["inference_by_length"]}) == 1  # a fixed state
    # the MLP reads exactly 16 tokens: the other lengths record why they have no numbers
    fixed = {p["length"]: p["error"] for p in mlp["inference_by_length"]}
    assert fixed[16] is None and "RuntimeError" in fixed[64] and "RuntimeError" in fixed[256]


def test_without_inference_lengths_nothing_is_probed_and_trial_ids_stay_as_they_were(tmp_path):
    records = run(tmp_path, "architectures: [{name: ssm, d_model: 16, depth: 1}]\n")
    [record] = records.values()
    assert record["inference_by_length"] is None and record["state_numbers"] > 0

    def ids(extra: str) -> list[str]:
        suite = parse_suite(textwrap.dedent(SUITE) + extra + "architectures: [ssm]\n")
        return [t.spec.trial_id for t in expand(suite, "cpu").trials]

    assert ids("") == ids("inference_lengths: []\n") != ids("inference_lengths: [64]\n")
    assert ids("inference_lengths: [64]\n") != ids("inference_lengths: [128]\n")


def test_a_bad_inference_length_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(SUITE) + "inference_lengths: [0]\narchitectures: [ssm]\n")
    with pytest.raises(nnbench.NnbenchError, match="inference_lengths"):
        load_suite(path)


class Allocates(torch.nn.Module):
    """Allocates 1 KiB per position (256 float32) and keeps it as its output; sleeps ``pause`` a call."""

    def __init__(self, pause: float = 0.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.pause = pause

    def forward(self, x):
        time.sleep(self.pause)
        return torch.ones(x.shape[0], x.shape[1], 256) * self.weight


class Declares(nnbench.Architecture):
    name = "declares"
    modalities = {"sequence"}

    def state_size(self, task, config, *, length):
        return 3 * length


SPEC = TaskSpec("t", "sequence", "regression", (8, 2), (1,))


def test_cpu_memory_is_the_peak_the_call_allocated():
    probes = context_probe.probe_lengths(Declares(), None, SPEC, Allocates(), [100, 400], "cpu")
    for probe in probes:
        output = context_probe.PROBE_BATCH * probe["length"] * 256 * 4
        # the output, and the intermediate ones(...) that the product replaces, at most
        assert output <= probe["peak_bytes"] <= 2 * output + 4096, probe
        assert probe["state_bytes"] == 4 * 3 * probe["length"]


def test_a_slow_length_skips_the_longer_ones(monkeypatch):
    monkeypatch.setattr(context_probe, "PROBE_GIVE_UP_S", 0.01)
    monkeypatch.setattr(context_probe, "PROBE_MIN_SECONDS", 0.0)
    probes = context_probe.probe_lengths(Declares(), None, SPEC, Allocates(pause=0.02), [10, 20, 30], "cpu")
    assert probes[0]["seconds_per_call"] >= 0.02 and probes[0]["error"] is None
    assert [p["error"] for p in probes[1:]] == [probes[1]["error"]] * 2
    assert probes[1]["error"].startswith("skipped: length 10 took 0.02")
    assert all(p["seconds_per_call"] is None for p in probes[1:])


def test_tuning_trials_are_not_probed_and_a_raising_state_size_is_a_note():
    class Raises(Declares):
        def state_size(self, task, config, *, length):
            raise KeyError("width")

    trial = type("Trial", (), {"inference_lengths": (8,), "stage": "tune", "device": "cpu"})()
    fields = context_probe.sequence_fields(Raises(), None, SPEC, Allocates(), trial)
    assert fields["inference_by_length"] is None and fields["sequence_length"] == 8
    assert fields["state_bytes"] is None and fields["state_note"] == "state_size raised KeyError: 'width'"
    table = TaskSpec("t", "tabular", "regression", (8,), (1,))
    assert context_probe.sequence_fields(Raises(), None, table, Allocates(), trial)["state_note"] is None
