"""scripts/gpu-check.sh: without a GPU it says so in one line and exits 0; its report is well formed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch

from .conftest import REPO


def _driver():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the script really runs")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_0():
    doc = (REPO / "docs" / "measurement.md").read_text()
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu-check.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing to check"
    ]
    assert (REPO / "docs" / "measurement.md").read_text() == doc


def test_its_section_replaces_the_last_one_between_the_markers():
    driver = _driver()
    figures = {
        "date": "2026-12-01",
        "device": "NVIDIA H200",
        "torch": "2.13.0",
        "cuda": "13.0",
        "minutes": 6.2,
        "checks": {
            "tests": {"ok": True, "summary": "4 passed in 20.1s"},
            "overhead": {
                "timing_method": "cuda events",
                "nnbench_step_ms": 3.1,
                "hand_step_ms": 3.0,
                "hand_wall_step_ms": 3.05,
                "ratio": 1.033,
                "events_over_wall": 0.97,
                "train_s": 0.95,
            },  # fmt: skip
            "gpu suite": {"error": "RuntimeError: boom"},
            "mfu": {
                "precision": "bf16-amp",
                "achieved_tflops": 401.0,
                "mfu": 0.405,
                "flops_method": "FlopCounterMode",
                "mfu_note": None,
                "step_ms_median": 80.0,
                "compile_s": 41.0,
                "energy_j": 5000.0,
                "energy_method": "nvml",
            },  # fmt: skip
        },
    }
    section = driver.render_section(figures)
    assert section.startswith(driver.BEGIN) and section.endswith(driver.END)
    assert "### GPU check, 2026-12-01 on NVIDIA H200" in section
    assert "- **gpu suite**: failed: RuntimeError: boom" in section
    assert "MFU 0.405" in section and "ratio 1.03" in section
    doc = "# How\n\ntext\n"
    once = driver.replace_section(doc, section)
    assert once.startswith(doc.rstrip("\n")) and once.count(driver.BEGIN) == 1
    again = driver.replace_section(once, section.replace("6.2 min", "7.0 min"))
    assert again.count(driver.BEGIN) == 1 and "7.0 min" in again and "6.2 min" not in again
