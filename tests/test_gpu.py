"""CUDA paths: event timing, CUDA memory, precision flags. Skipped cleanly on machines without a GPU."""

from __future__ import annotations

import time

import pytest
import torch

from nnbench import measure
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def cuda_trial(write_suite, training: str = "{batch_size: 256, eval_every: 0}", architecture: str = "cnn"):
    path = write_suite(
        f"name: g\nseeds: [0]\ndevice: cuda\nbudget: {{steps: 50}}\ntraining: {training}\n"
        f"executor: {{kind: inline}}\ntasks: [digits]\narchitectures: [{architecture}]\n"
    )
    [planned] = expand(load_suite(path), "cuda").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    return record


def test_cuda_fields_are_measured(write_suite):
    record = cuda_trial(write_suite)
    assert record["timing_method"] == "cuda events"
    assert record["cuda_peak_allocated_bytes"] > 0
    assert record["cuda_peak_reserved_bytes"] >= record["cuda_peak_allocated_bytes"]
    assert record["peak_mem_kind"] == "cuda_max_memory_allocated"
    assert record["device_name"] == torch.cuda.get_device_name()
    assert record["energy_method"] in ("nvml", "unavailable")


def test_cuda_event_step_times_agree_with_a_synchronised_wall_clock(write_suite):
    record = cuda_trial(write_suite)
    # The sum of per-step event times cannot exceed the synchronised wall clock of the window.
    assert record["step_ms_median"] * record["steps"] / 1000 <= record["train_s"] * 1.5


def test_bf16_and_tf32_are_recorded(write_suite):
    assert cuda_trial(write_suite, "{eval_every: 0, precision: bf16}")["precision"] == "bf16-amp"
    assert cuda_trial(write_suite, "{eval_every: 0, precision: tf32}")["precision"] == "tf32"
    assert measure.precision_name("cuda", "fp32") == "fp32"


def test_synchronize_makes_host_timing_honest():
    x = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        x = x @ x
    measure.sync("cuda")
    assert time.perf_counter() - started > 0
