"""CUDA paths: event timing, CUDA memory windows, precision flags, FLOPs, NVML. Skipped without a GPU.

Each test checks what the code does, not that it ran: the event timer against a synchronised clock and
a kernel of known length, the TF32 flags and the autocast dtype as the model saw them during a step,
the memory windows against allocations made on purpose in one of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
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

GIB = 2**30


def cuda_trial(
    write_suite,
    training: str = "{batch_size: 256, eval_every: 0}",
    architecture: str = "cnn",
    task: str = "digits",
    device: str = "cuda",
):
    path = write_suite(
        f"name: g\nseeds: [0]\ndevice: {device}\nbudget: {{steps: 50}}\ntraining: {training}\n"
        f"executor: {{kind: inline}}\ntasks: [{task}]\narchitectures: [{architecture}]\n"
    )
    [planned] = expand(load_suite(path), device).trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    return record


def gpu_seconds(cycles: int) -> float:
    """How long ``torch.cuda._sleep(cycles)`` keeps the GPU busy, by a synchronised host clock."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    torch.cuda._sleep(cycles)
    torch.cuda.synchronize()
    return time.perf_counter() - started


def test_event_timer_measures_gpu_time_without_a_sync_per_step():
    cycles = 50_000_000
    gpu_seconds(cycles)  # warm-up
    one = gpu_seconds(cycles)
    assert one > 0.005  # a kernel long enough to tell apart from launch overhead
    timer = measure.StepTimer("cuda")
    timer.start()
    host_started = time.perf_counter()
    for _ in range(5):
        torch.cuda._sleep(cycles)
        timer.lap()
    host_s = time.perf_counter() - host_started
    laps = timer.step_seconds()  # synchronises once
    assert len(laps) == 5
    for lap in laps:
        assert lap == pytest.approx(one, rel=0.25)  # each event lap is the kernel's GPU time
    assert host_s < 0.5 * sum(laps)  # the host did not wait for any step


def test_sync_makes_host_timing_honest():
    cycles = 50_000_000
    gpu_seconds(cycles)
    started = time.perf_counter()
    torch.cuda._sleep(cycles)
    unsynchronised = time.perf_counter() - started
    measure.sync("cuda")
    synchronised = time.perf_counter() - started
    assert unsynchronised < 0.5 * synchronised
    assert synchronised >= 0.8 * gpu_seconds(cycles)


def test_cuda_fields_are_measured(write_suite):
    record = cuda_trial(write_suite)
    assert record["timing_method"] == "cuda events"
    assert record["device_name"] == torch.cuda.get_device_name()
    assert record["peak_mem_kind"] == "cuda_max_memory_allocated"
    assert record["cuda_peak_reserved_bytes"] >= record["cuda_peak_allocated_bytes"]
    assert record["peak_mem_bytes"] == record["cuda_peak_allocated_bytes"] - record["peak_mem_baseline_bytes"]
    # AdamW: weights, gradients and two moments in fp32, all allocated after the baseline.
    assert record["peak_mem_bytes"] >= 4 * 4 * record["params"]
    assert record["peak_mem_baseline_bytes"] > 0  # the task's data, already on the device
    assert record["eval_peak_mem_bytes"] > 0
    assert (
        0.5 * record["train_s"]
        <= record["step_ms_median"] * record["steps"] / 1000
        <= 1.5 * record["train_s"]
    )


def test_tf32_and_bf16_are_set_as_recorded(write_suite, monkeypatch):
    """The flags and the autocast dtype as the model saw them during the counted training step."""
    seen = []
    original = measure.count_step_flops

    @contextlib.contextmanager
    def watching(model):
        def hook(module, inputs, output):
            seen.append(
                (
                    torch.backends.cuda.matmul.allow_tf32,
                    torch.backends.cudnn.allow_tf32,
                    output.dtype,
                )
            )

        handle = model.register_forward_hook(hook)
        try:
            with original(model) as result:
                yield result
        finally:
            handle.remove()

    monkeypatch.setattr(measure, "count_step_flops", watching)
    runs = [
        ("tf32", "tf32", (True, True, torch.float32)),
        ("bf16", "bf16-amp", (False, False, torch.bfloat16)),
    ]
    runs.append(("fp32", "fp32", (False, False, torch.float32)))  # after tf32: the flags are reset
    for requested, recorded, expected in runs:
        seen.clear()
        record = cuda_trial(write_suite, f"{{eval_every: 0, precision: {requested}}}")
        assert record["precision"] == recorded
        assert seen == [expected], requested


def test_training_peak_excludes_the_test_evaluation(write_suite, monkeypatch):
    from nnbench.tasks.digits import Digits

    original = Digits.evaluate

    def evaluate_with_a_big_buffer(self, model, split):
        if split == "test":
            buffer = torch.empty(GIB, dtype=torch.uint8, device="cuda")
            buffer.fill_(1)
            del buffer
        return original(self, model, split)

    monkeypatch.setattr(Digits, "evaluate", evaluate_with_a_big_buffer)
    record = cuda_trial(write_suite)
    assert record["eval_peak_mem_bytes"] >= GIB
    assert record["peak_mem_bytes"] < GIB / 4


def test_the_flop_counting_step_does_not_raise_the_training_peak(write_suite, monkeypatch):
    counted = cuda_trial(write_suite)

    @contextlib.contextmanager
    def not_counting(model):
        yield {"flops": None, "flops_method": "not counted (test)"}

    monkeypatch.setattr(measure, "count_step_flops", not_counting)
    plain = cuda_trial(write_suite)
    assert plain["flops_per_step"] is None and counted["flops_per_step"] > 0
    assert abs(counted["peak_mem_bytes"] - plain["peak_mem_bytes"]) <= 2**20


def test_transformer_flops_are_the_same_on_cuda_and_cpu(write_suite):
    training = "{batch_size: 64, eval_every: 0}"
    on_cuda = cuda_trial(write_suite, training, architecture="transformer", task="mnist1d")
    on_cpu = cuda_trial(write_suite, training, architecture="transformer", task="mnist1d", device="cpu")
    assert on_cuda["flops_per_step"] == on_cpu["flops_per_step"] > 0


def test_nvml_energy_of_the_timed_window(write_suite):
    record = cuda_trial(write_suite)
    if importlib.util.find_spec("pynvml") is None:  # optional: then null, with the reason
        assert record["energy_method"] == "unavailable" and "ModuleNotFoundError" in record["energy_note"]
        assert record["energy_j"] is None and record["energy_per_sample_j"] is None
        return
    assert record["energy_method"] == "nvml"
    assert record["energy_j"] > 0 and record["trial_energy_j"] >= record["energy_j"]
    assert record["energy_per_sample_j"] == pytest.approx(record["energy_j"] / record["samples"])
