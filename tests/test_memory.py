"""Peak memory is the trial's own: above the process's memory just before build, training apart from evaluation."""

from __future__ import annotations

import threading
import time

import pytest

from nnbench import measure
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial

# digits: 64 features, 10 classes. Small: 64x64 + 64x10 weights (about 5k parameters); large: 64x1024
# + 1024x1024 + 1024x10 (about 1.1M parameters, x234). AdamW keeps two moments besides the weights
# and their gradients: the large one's training needs at least 4 x 4.4 MB of its own.
SMALL = "{name: mlp, width: 64, depth: 1}"
LARGE = "{name: mlp, width: 1024, depth: 2}"


def mlp_trial(write_suite, architecture: str):
    path = write_suite(
        "name: mem\nseeds: [0]\nthreads: 1\nbudget: {steps: 5}\n"
        "training: {batch_size: 64, eval_every: 0, warmup_steps: 1}\n"
        f"tasks: [digits]\narchitectures: [{architecture}]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    return record


def check_large_then_small(write_suite):
    # Large first, then small, in this one process: the order in which a lifetime peak (ru_maxrss)
    # gave the small one the large one's figure.
    large = mlp_trial(write_suite, LARGE)
    small = mlp_trial(write_suite, SMALL)
    assert large["params"] >= 100 * small["params"]
    assert large["peak_mem_bytes"] >= 3 * small["peak_mem_bytes"], (large, small)
    assert large["peak_mem_bytes"] >= 4 * 4 * large["params"]  # weights, gradients, two moments
    for record in (large, small):
        assert record["peak_mem_kind"] == "host_rss"
        assert record["peak_mem_baseline_bytes"] > 50_000_000  # torch and the data are below the line
        assert record["host_peak_rss_bytes"] == record["peak_mem_baseline_bytes"] + record["peak_mem_bytes"]
        assert record["eval_peak_mem_bytes"] is not None
    return large, small


def test_a_larger_model_shows_a_larger_peak(write_suite):
    large, small = check_large_then_small(write_suite)
    assert large["host_rss_method"].startswith("VmHWM reset by /proc/self/clear_refs")
    print(
        f"\nlarge MLP ({large['params']:,} parameters): peak {large['peak_mem_bytes'] / 2**20:.1f} MiB above "
        f"{large['peak_mem_baseline_bytes'] / 2**20:.0f} MiB; small ({small['params']:,}): "
        f"{small['peak_mem_bytes'] / 2**20:.2f} MiB above {small['peak_mem_baseline_bytes'] / 2**20:.0f} MiB"
    )


def proc_without_clear_refs(folder):
    """A /proc/self look-alike whose status is the real one and whose clear_refs cannot be written."""
    folder.mkdir()
    (folder / "status").symlink_to("/proc/self/status")  # resolved by whichever process reads it
    (folder / "clear_refs").mkdir()  # writing a folder fails like a refused clear_refs
    return folder


def test_the_sampling_fallback_sees_it_too(write_suite, monkeypatch, tmp_path):
    monkeypatch.setattr(measure, "PROC_SELF", proc_without_clear_refs(tmp_path / "self"))
    large, _ = check_large_then_small(write_suite)
    assert large["host_rss_method"].startswith("VmRSS sampled every 5 ms")
    assert not [t for t in threading.enumerate() if t.name == "nnbench-rss-sampler"]  # stopped


def test_the_window_resets_the_kernel_peak():
    import numpy as np

    host = measure.HostPeakMemory()
    host.reset()
    assert host.method.startswith("VmHWM")
    before = host.current()
    block = np.ones(40_000_000 // 8)  # 40 MB, touched
    del block
    assert host.peak() - before >= 35_000_000
    host.reset()
    assert host.peak() - host.current() < 5_000_000  # the earlier peak is gone


def test_the_sampler_catches_a_held_allocation(tmp_path):
    import numpy as np

    host = measure.HostPeakMemory(proc=proc_without_clear_refs(tmp_path / "self"), sample_interval_s=0.001)
    host.reset()
    try:
        assert host.method.startswith("VmRSS sampled every 1 ms")
        before = host.current()
        block = np.ones(30_000_000 // 8)  # 30 MB, held for 50 sampling periods, then freed
        time.sleep(0.05)
        del block
        assert host.peak() - before >= 25_000_000
    finally:
        host.close()


@pytest.mark.parametrize("device", ["cpu"])
def test_memory_fields_without_proc_are_null_with_the_reason(device, tmp_path):
    memory = measure.TrialMemory(device, host=measure.HostPeakMemory(proc=tmp_path / "none"))
    memory.start()
    fields = memory.fields(memory.window(), memory.window())
    memory.close()
    assert fields["peak_mem_bytes"] is None and fields["peak_mem_kind"] == "unavailable"
    assert fields["host_rss_method"].startswith("unavailable")
