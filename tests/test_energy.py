"""Energy: every RAPL package and DRAM domain, wrap-around, the timed window apart, NVML, shared devices.

RAPL and NVML are faked: a powercap tree of files in a temporary folder, and a pynvml-like object.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from nnbench import measure
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial

RANGE_UJ = 262_143_328_850  # a real package's max_energy_range_uj


def write_domain(root, folder: str, name: str, energy_uj: int, range_uj: int | None = RANGE_UJ):
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    if range_uj is not None:
        (path / "max_energy_range_uj").write_text(f"{range_uj}\n")
    return path


def set_energy(root, folder: str, energy_uj: int) -> None:
    (root / folder / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path):
    """Two packages, each with a core sub-domain and DRAM, and a platform (psys) domain."""
    root = tmp_path / "powercap"
    write_domain(root, "intel-rapl:0", "package-0", 1_000_000)
    write_domain(root, "intel-rapl:0:0", "core", 500_000)
    write_domain(root, "intel-rapl:0:1", "dram", 2_000_000)
    write_domain(root, "intel-rapl:1", "package-1", 3_000_000)
    write_domain(root, "intel-rapl:1:0", "dram", 4_000_000)
    write_domain(root, "intel-rapl:2", "psys", 9_000_000)
    return root


def no_processes(tmp_path):
    (tmp_path / "proc").mkdir(exist_ok=True)
    return tmp_path / "proc"


def test_every_package_and_dram_domain_is_read(powercap, tmp_path):
    assert sorted(measure.rapl_domains(powercap)) == [
        "dram (intel-rapl:0:1)",
        "dram (intel-rapl:1:0)",
        "package-0 (intel-rapl:0)",
        "package-1 (intel-rapl:1)",
    ]  # core is inside its package and psys overlaps everything: not counted twice
    meter = measure.EnergyMeter("cpu", powercap=powercap, proc=no_processes(tmp_path))
    meter.start()
    set_energy(powercap, "intel-rapl:0", 1_000_000 + 5_000_000)  # +5 J
    set_energy(powercap, "intel-rapl:0:1", 2_000_000 + 1_500_000)  # +1.5 J
    set_energy(powercap, "intel-rapl:1", 3_000_000 + 4_000_000)  # +4 J
    set_energy(powercap, "intel-rapl:1:0", 4_000_000 + 500_000)  # +0.5 J
    set_energy(powercap, "intel-rapl:0:0", 9_999_999)  # core: ignored
    fields = meter.stop()
    assert fields["energy_method"] == "rapl"
    assert fields["energy_j"] == pytest.approx(11.0)
    assert fields["energy_domains"] == pytest.approx(
        {
            "package-0 (intel-rapl:0)": 5.0,
            "dram (intel-rapl:0:1)": 1.5,
            "package-1 (intel-rapl:1)": 4.0,
            "dram (intel-rapl:1:0)": 0.5,
        }
    )
    assert "whole CPUs" in fields["energy_note"] and "wrapped" not in fields["energy_note"]


def test_a_wrapped_counter_is_counted_through_the_wrap(powercap, tmp_path):
    set_energy(powercap, "intel-rapl:0", RANGE_UJ - 2_000_000)  # 2 J before the wrap
    meter = measure.EnergyMeter("cpu", powercap=powercap, proc=no_processes(tmp_path))
    meter.start()
    set_energy(powercap, "intel-rapl:0", 3_000_000)  # wrapped, then 3 J more
    fields = meter.stop()
    assert fields["energy_domains"]["package-0 (intel-rapl:0)"] == pytest.approx(5.0)
    assert fields["energy_j"] == pytest.approx(5.0)
    assert "wrapped 1 time(s)" in fields["energy_note"]


def test_a_wrap_without_a_known_range_is_null_with_the_reason(tmp_path):
    root = tmp_path / "powercap"
    write_domain(root, "intel-rapl:0", "package-0", 9_000_000, range_uj=None)
    meter = measure.EnergyMeter("cpu", powercap=root, proc=no_processes(tmp_path))
    meter.start()
    set_energy(root, "intel-rapl:0", 1_000_000)
    fields = meter.stop()
    assert fields["energy_j"] is None and fields["energy_method"] == "unavailable"
    assert "no known range" in fields["energy_note"]


def test_the_window_pauses_and_resumes(powercap, tmp_path):
    meter = measure.EnergyMeter("cpu", powercap=powercap, proc=no_processes(tmp_path))
    meter.start()
    set_energy(powercap, "intel-rapl:0", 3_000_000)  # +2 J while running
    meter.pause()
    set_energy(powercap, "intel-rapl:0", 103_000_000)  # +100 J while paused (an evaluation)
    meter.resume()
    set_energy(powercap, "intel-rapl:0", 104_000_000)  # +1 J
    assert meter.stop()["energy_domains"]["package-0 (intel-rapl:0)"] == pytest.approx(3.0)


def test_no_readable_domain_is_null_with_the_reason(tmp_path):
    root = tmp_path / "powercap"
    write_domain(root, "intel-rapl:0", "package-0", 1)
    (root / "intel-rapl:0" / "energy_uj").chmod(0)
    if os.access(root / "intel-rapl:0" / "energy_uj", os.R_OK):
        (root / "intel-rapl:0" / "energy_uj").write_text("not a number\n")  # root reads anything
    meter = measure.EnergyMeter("cpu", powercap=root)
    meter.start()
    fields = meter.stop()
    assert fields["energy_j"] is None and fields["energy_method"] == "unavailable"
    assert "no readable RAPL" in fields["energy_note"]


def test_other_trial_processes_sharing_the_package_are_noted(powercap, tmp_path):
    proc = tmp_path / "proc"
    warm = [sys.executable, "-m", "nnbench.worker", "--warm"]
    processes = {
        101: ([sys.executable, "-m", "nnbench.worker"], "python"),  # a fresh trial process
        102: (["bash"], "bash"),
        103: (warm, "nnbench-worker"),  # an idle warm worker: runs no trial
        104: (warm, "nnbench-trial"),  # a trial process it forked
    }
    for pid, (command, comm) in processes.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(part.encode() for part in command) + b"\0")
        (proc / str(pid) / "comm").write_text(comm + "\n")
    (proc / str(os.getpid())).mkdir()
    (proc / str(os.getpid()) / "cmdline").write_bytes(b"python\0-m\0nnbench.worker\0")  # this one
    assert measure.other_trial_processes(proc) == 2
    meter = measure.EnergyMeter("cpu", powercap=powercap, proc=proc)
    meter.start()
    note = meter.stop()["energy_note"]
    assert "shared: 2 other nnbench trial processes ran on this device during the window" in note


class FakeNVML:
    """The pynvml calls EnergyMeter makes, over a counter the test sets (millijoules)."""

    def __init__(self, energy_mj: int = 1_000_000, others: int = 0, supported: bool = True):
        self.energy_mj = energy_mj
        self.others = others
        self.supported = supported
        self.handles = []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        self.handles.append(("index", index))
        return ("gpu", index)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.handles.append(("uuid", uuid))
        return ("gpu", uuid)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.supported:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return self.energy_mj

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=os.getpid())] + [
            SimpleNamespace(pid=100_000 + i) for i in range(self.others)
        ]


def test_nvml_energy_of_the_window(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    nvml = FakeNVML()
    meter = measure.EnergyMeter("cuda", nvml=nvml)
    meter.start()
    nvml.energy_mj += 2_500  # 2.5 J
    meter.pause()
    nvml.energy_mj += 99_000  # during an evaluation
    meter.resume()
    nvml.energy_mj += 500
    fields = meter.stop()
    assert fields == {
        "energy_j": pytest.approx(3.0),
        "energy_method": "nvml",
        "energy_domains": {"gpu": pytest.approx(3.0)},
        "energy_note": "NVML: the whole GPU, every process on it",
    }
    assert nvml.handles == [("index", 3)]  # the first visible GPU is the trial's


def test_nvml_notes_other_processes_on_the_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0a1b")
    nvml = FakeNVML(others=2)
    meter = measure.EnergyMeter("cuda", nvml=nvml)
    meter.start()
    note = meter.stop()["energy_note"]
    assert "shared: 2 other compute processes ran on this device during the window" in note
    assert nvml.handles == [("uuid", "GPU-0a1b")]


def test_nvml_without_an_energy_counter_is_null_with_the_reason():
    meter = measure.EnergyMeter("cuda", nvml=FakeNVML(supported=False))
    meter.start()
    fields = meter.stop()
    assert fields["energy_j"] is None and fields["energy_method"] == "unavailable"
    assert "NVML_ERROR_NOT_SUPPORTED" in fields["energy_note"]


def test_nvml_missing_is_null_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    meter = measure.EnergyMeter("cuda")
    meter.start()
    fields = meter.stop()
    assert fields["energy_j"] is None and "ModuleNotFoundError" in fields["energy_note"]


def test_a_trial_measures_its_timed_window_apart_from_the_whole_trial(write_suite, tmp_path, monkeypatch):
    """A fake package whose counter advances 1 J at every read: the window is read at its start, at
    each evaluation's pause and resume, and at its end; the whole trial at its start and end."""
    root = tmp_path / "powercap"
    write_domain(root, "intel-rapl:0", "package-0", 0)
    monkeypatch.setattr(measure, "POWERCAP", root)
    monkeypatch.setattr(measure, "PROC", no_processes(tmp_path))
    reads = {"n": 0}
    original = measure.EnergyMeter._read

    def advancing(self):
        reads["n"] += 1
        set_energy(root, "intel-rapl:0", reads["n"] * 1_000_000)
        return original(self)

    monkeypatch.setattr(measure.EnergyMeter, "_read", advancing)
    path = write_suite(
        "name: e\nseeds: [0]\nthreads: 1\nbudget: {steps: 30}\n"
        "training: {batch_size: 32, eval_every: 10, warmup_steps: 1}\n"
        "tasks: [tabular-real]\narchitectures: [mlp]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    # Window reads: its start, a pause and a resume at each validation (steps 10, 20, 30), its end:
    # 4 running stretches of 1 J each; the 3 J that accrue during the validations are not in it.
    assert record["energy_method"] == "rapl"
    assert record["energy_j"] == pytest.approx(4.0)
    assert record["energy_per_sample_j"] == pytest.approx(4.0 / (30 * 32))
    # The whole trial: its start is the first read and its end the last; everything between counts.
    assert record["trial_energy_j"] == pytest.approx(reads["n"] - 1)
    assert record["trial_energy_j"] > record["energy_j"]
