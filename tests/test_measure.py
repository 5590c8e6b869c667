"""Measured fields: FLOPs, cost, step-time statistics, memory and energy (null with a reason when unmeasurable)."""

from __future__ import annotations

import time

import pytest

from nnbench import measure
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial


def one_trial(write_suite, architecture="mlp", task="tabular-real", extra=""):
    path = write_suite(
        f"name: m\nseeds: [0]\nthreads: 1\nbudget: {{steps: 40}}\n"
        f"training: {{batch_size: 64, eval_every: 20, warmup_steps: 2}}\n{extra}"
        f"tasks: [{task}]\narchitectures: [{architecture}]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, curve = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    return record, curve


def test_mlp_flops_are_about_six_params_per_sample(write_suite):
    record, _ = one_trial(write_suite)
    expected = 6 * record["params"] * record["batch_size"]
    # The first layer needs no gradient for its input (4 instead of 6 per weight) and biases are not
    # matrix products, so FlopCounterMode's count is a little under 6 x params x batch.
    assert 0.85 * expected <= record["flops_per_step"] <= expected
    assert record["flops_method"] == "FlopCounterMode"
    assert record["total_train_flops"] == record["flops_per_step"] * record["steps"]
    assert record["achieved_tflops"] == pytest.approx(record["total_train_flops"] / record["train_s"] / 1e12)


def test_cost_is_hours_times_price(write_suite):
    record, _ = one_trial(write_suite, extra="cost: {price_per_hour_usd: {cpu: 7.2}}\n")
    assert record["price_per_hour_usd"] == 7.2
    assert record["cost_usd"] == pytest.approx(record["train_s"] / 3600 * 7.2)
    assert record["device_seconds"] == record["train_s"]


def test_default_price_table_applies_without_a_suite_price(write_suite):
    record, _ = one_trial(write_suite)
    assert record["price_per_hour_usd"] == measure.DEFAULT_PRICE_PER_HOUR_USD["cpu"]


def test_phases_and_throughput(write_suite):
    record, curve = one_trial(write_suite)
    for field in ("setup_s", "warmup_s", "train_s", "eval_s", "wall_s"):
        assert record[field] > 0, field
    assert record["wall_s"] > record["train_s"] + record["warmup_s"]
    assert record["samples"] == 40 * 64
    assert record["samples_per_s"] == pytest.approx(record["samples"] / record["train_s"])
    assert record["step_ms_p10"] <= record["step_ms_median"] <= record["step_ms_p90"]
    # 40 timed steps of ~1 ms cannot take less than the sum of their medians' lower half
    assert record["train_s"] * 1000 >= 20 * record["step_ms_p10"]
    assert isinstance(record["timing_noisy"], bool)
    assert record["peak_mem_bytes"] == record["host_peak_rss_bytes"] - record["peak_mem_baseline_bytes"]
    assert record["peak_mem_kind"] == "host_rss" and record["peak_mem_method"]
    assert record["cuda_peak_allocated_bytes"] is None  # a CPU trial has no CUDA memory
    assert record["mfu"] is None  # no dense-peak figure for this CPU: null, never a guess
    assert record["compile_s"] is None and record["compile_note"]


def test_sequence_tasks_report_tokens_per_second(write_suite):
    record, _ = one_trial(write_suite, task="running-parity")
    assert record["tokens_per_s"] == pytest.approx(record["samples_per_s"] * 32)


def test_energy_is_measured_or_null_with_a_reason(write_suite):
    record, _ = one_trial(write_suite)
    if record["energy_method"] == "unavailable":  # this machine has no readable RAPL: said why
        assert record["energy_j"] is None and record["energy_per_sample_j"] is None
        assert "RAPL" in record["energy_note"]
        assert record["trial_energy_j"] is None
    else:
        assert record["energy_method"] == "rapl" and record["energy_j"] >= 0
        assert record["energy_per_sample_j"] == pytest.approx(record["energy_j"] / record["samples"])
        assert record["trial_energy_j"] >= record["energy_j"]


def test_eval_s_holds_the_validations_and_final_eval_s_the_test(write_suite, monkeypatch):
    """Each evaluation's seconds are counted once: validations in eval_s, the test in final_eval_s."""
    from nnbench.tasks.tabular_real import TabularReal

    original = TabularReal.evaluate

    def slow_test(self, model, split):
        if split == "test":
            time.sleep(0.3)
        return original(self, model, split)

    monkeypatch.setattr(TabularReal, "evaluate", slow_test)
    record, curve = one_trial(write_suite)
    assert record["final_eval_s"] >= 0.3
    assert record["eval_s"] < 0.3  # two quick validations (steps 20 and 40), not the test
    assert [p["step"] for p in curve if p["split"] == "val" and p["metric"] == "accuracy"] == [20, 40]


def test_inference_throughput_runs_for_its_window(write_suite):
    record, _ = one_trial(write_suite)
    # A small MLP's forward takes microseconds: far more than 200 calls fit in the 0.2 s window.
    assert record["inference_s"] >= 0.2 and record["inference_calls"] > 200
    batch = min(64, 113)  # the batch size, or the validation split (113 rows) if smaller
    assert record["inference_samples_per_s"] == pytest.approx(
        batch * record["inference_calls"] / record["inference_s"]
    )


def test_a_slow_model_makes_at_least_three_inference_calls(monkeypatch):
    import torch

    from nnbench import trial

    calls = []

    class Slow(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            time.sleep(0.15)
            return x

    class Loop:
        device = "cpu"

        def autocast(self):
            import contextlib

            return contextlib.nullcontext()

    class Task:
        data = {"val": (torch.zeros(8, 3), None)}

        def spec(self):
            return type("S", (), {"kind": "classification"})()

    result = trial.inference_throughput(Slow(), Task(), Loop(), batch_size=4)
    assert result["inference_calls"] == 3 and len(calls) == 2 + 3  # two warm-up calls first
    assert result["inference_s"] >= 0.45
    assert result["inference_samples_per_s"] == pytest.approx(4 * 3 / result["inference_s"])


def test_step_time_statistics():
    stats = measure.step_time_stats([0.001] * 9 + [0.1])
    assert stats["step_ms_median"] == pytest.approx(1.0)
    assert stats["step_ms_iqr"] == pytest.approx(0.0)
    assert stats["timing_noisy"] is False
    noisy = measure.step_time_stats([0.001, 0.002, 0.003, 0.004])
    assert noisy["timing_noisy"] is True
    assert measure.step_time_stats([])["step_ms_median"] is None


def test_percentile_interpolates():
    assert measure.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert measure.percentile([5.0], 90) == 5.0


def test_mfu_only_for_known_devices():
    assert measure.mfu(98.9, "NVIDIA H100 80GB HBM3", "bf16-amp") == pytest.approx(0.1)
    assert measure.mfu(1.0, "Some CPU", "fp32") is None


def test_bf16_autocast_and_channels_last_run_on_cpu(write_suite):
    path = write_suite(
        "name: m\nseeds: [0]\nthreads: 1\nbudget: {steps: 10}\n"
        "training: {batch_size: 32, eval_every: 0, precision: bf16, channels_last: true}\n"
        "tasks: [digits]\narchitectures: [cnn]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    assert record["precision"] == "bf16-amp" and record["channels_last"] is True
    assert record["compile"] is False and record["compile_note"] == "torch.compile off"


def test_tf32_is_recorded_as_fp32_off_cuda(write_suite):
    record, _ = one_trial(write_suite, extra="")
    assert record["precision"] == "fp32"
    assert measure.precision_name("cpu", "tf32") == "fp32"
    assert measure.precision_name("cuda", "tf32") == "tf32"


@pytest.mark.slow
def test_compile_time_is_recorded_apart(write_suite):
    path = write_suite(
        "name: m\nseeds: [0]\nthreads: 1\nbudget: {steps: 20}\n"
        "training: {batch_size: 32, eval_every: 0, compile: true, warmup_steps: 2}\n"
        "tasks: [tabular-real]\narchitectures: [mlp]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    assert record["compile"] is True and record["compile_s"] > 0
    assert record["compile_s"] > 5 * record["step_ms_median"] / 1000  # compiling costs far more than a step
    assert record["flops_method"] == "FlopCounterMode" and record["flops_per_step"] > 0


def test_run_provenance_names_versions_and_plugins():
    env = measure.environment_info("cpu")
    assert env["torch_version"] and env["nnbench_version"] and env["cpu_count"] >= 1
    assert env["plugins"]["mlp"].startswith("nnbench ")


def test_recurrent_flops_are_counted_analytically(write_suite):
    record, _ = one_trial(write_suite, architecture="rnn", task="running-parity")
    assert record["flops_method"] == "FlopCounterMode + analytic LSTM/GRU"
    # The default LSTM (4 gates, hidden 128 over 16-wide embeddings, 32 steps, batch 64), written out:
    # forward 2 x 4 x 128 x (16 + 128) a token; the weights' gradients as much again; the input's
    # gradients (the embedding needs them) 2 x 4 x 128 x 16 a token; the hidden states' gradients
    # 2 x 4 x 128 x 128 a token except at the first step (its zero state needs none).
    tokens = 64 * 32
    lstm = tokens * 2 * 4 * 128 * (2 * (16 + 128) + 16) + 64 * 31 * 2 * 4 * 128 * 128
    head = 6 * 128 * 2 * tokens  # the per-position linear head, forward and backward
    assert record["flops_per_step"] == lstm + head


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("input_grad", [False, True])
def test_analytic_gru_count_equals_the_cpu_decomposition(bidirectional, input_grad):
    """On the CPU a GRU decomposes into matrix products FlopCounterMode sees: the formula must agree."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    gru = torch.nn.GRU(16, 32, num_layers=2, batch_first=True, bidirectional=bidirectional)
    with FlopCounterMode(display=False) as counter:
        gru(torch.randn(8, 10, 16, requires_grad=input_grad))[0].sum().backward()
    analytic = measure.recurrent_step_flops(gru, batch=8, steps=10, input_grad=input_grad)
    assert counter.get_total_flops() == analytic
