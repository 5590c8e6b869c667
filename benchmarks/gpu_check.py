"""The body of ``scripts/gpu-check.sh``: every CUDA path of nnbench checked and measured in one go.

Each step runs the real thing (pytest, the ``nnbench`` command, nnbench's own records) and keeps
the figures it printed; at the end they are written, with the date and the device, into
``docs/measurement.md`` between ``<!-- gpu-check: begin -->`` and ``<!-- gpu-check: end -->``.
A step that fails is reported as failed with its reason; the others still run. Budget: under
8 minutes on one H100/H200-class GPU.

``python benchmarks/gpu_check.py [--no-write] [--out FOLDER]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "measurement.md"
BEGIN, END = "<!-- gpu-check: begin -->", "<!-- gpu-check: end -->"

# The large Transformer whose MFU is measured: GPT-2-medium-like blocks on 1024-token sequences.
MFU_MODEL = {"d_model": 1024, "depth": 12, "heads": 16}
MFU_TASK = {"name": "mqar", "seq_len": 1024, "vocab_size": 8192, "num_kv_pairs": 64, "n_train": 8192}
MFU_BATCH = 32
MFU_STEPS = 150


def run(command: list[str], timeout: float, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """A command's result; its output is echoed so the log shows everything."""
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", flush=True)
    return result


def nnbench_run(suite_text: str, folder: Path, name: str, timeout: float) -> list[dict]:
    """Run a suite with the ``nnbench`` command (inline executor) and return its trial records."""
    import nnbench

    suite = folder / f"{name}.yaml"
    suite.write_text(textwrap.dedent(suite_text))
    db = folder / f"{name}.db"
    result = run([sys.executable, "-m", "nnbench", "run", str(suite), "--db", str(db)], timeout)
    if not db.exists():
        raise RuntimeError(f"nnbench run wrote no store (exit {result.returncode})")
    return nnbench.load_results(db).to_dict("records")


def check_tests() -> dict:
    """tests/test_gpu.py: every CUDA test must pass here (none may skip on a GPU machine)."""
    result = run([sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_gpu.py"], timeout=180)
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-200:]
    return {"ok": result.returncode == 0 and "skipped" not in tail, "summary": tail}


def hand_written_step_ms(spec: dict, steps: int) -> tuple[float, float]:
    """The loop a careful engineer writes by hand for the same model and data, timed with CUDA events:
    (median step ms from events, synchronised wall-clock ms per step)."""
    import torch

    import nnbench

    torch.manual_seed(0)
    architecture = nnbench.get_architecture(spec["architecture"])
    task_cls = nnbench.get_task(spec["task"])
    task = task_cls(task_cls.Config(**spec["task_config"]))
    task.setup(0, "cuda")
    model = architecture.build(task.spec(), architecture.Config(**spec["arch_config"])).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = task.data["train"]
    batch = spec["batch_size"]
    events = [
        (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(steps)
    ]
    for step in range(steps + 10):
        index = torch.randint(0, x.shape[0], (batch,), device="cuda")
        if step == 10:
            torch.cuda.synchronize()
            wall = time.perf_counter()
        if step >= 10:
            events[step - 10][0].record()
        loss = task.loss(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 10:
            events[step - 10][1].record()
    torch.cuda.synchronize()
    wall_ms = (time.perf_counter() - wall) * 1000 / steps
    return statistics.median(start.elapsed_time(end) for start, end in events), wall_ms


def check_overhead(folder: Path) -> dict:
    """nnbench's CUDA-event step time against a hand-written loop's, and events against the wall clock."""
    steps = 300
    [record] = nnbench_run(
        f"""
        name: gpu-overhead
        device: cuda
        seeds: [0]
        budget: {{steps: {steps}}}
        training: {{batch_size: 256, eval_every: 0, warmup_steps: 10}}
        executor: {{kind: inline}}
        tasks: [{{name: mqar, seq_len: 256, vocab_size: 512, num_kv_pairs: 16}}]
        architectures: [{{name: transformer, d_model: 256, depth: 4, heads: 8}}]
        """,
        folder,
        "overhead",
        timeout=300,
    )
    if record["status"] != "ok":
        raise RuntimeError(f"trial {record['status']}: {record.get('error')}")
    spec = {
        "architecture": "transformer",
        "arch_config": json.loads(record["arch_config"])
        if isinstance(record["arch_config"], str)
        else record["arch_config"],
        "task": "mqar",
        "task_config": json.loads(record["task_config"])
        if isinstance(record["task_config"], str)
        else record["task_config"],
        "batch_size": 256,
    }
    hand_events, hand_wall = hand_written_step_ms(spec, steps)
    events_total = record["step_ms_median"] * record["steps"] / 1000
    return {
        "timing_method": record["timing_method"],
        "nnbench_step_ms": record["step_ms_median"],
        "hand_step_ms": hand_events,
        "hand_wall_step_ms": hand_wall,
        "ratio": record["step_ms_median"] / hand_events,
        "events_over_wall": events_total / record["train_s"],
        "train_s": record["train_s"],
    }


def check_gpu_suite(folder: Path) -> dict:
    """A cut of suites/gpu.yaml: its settings (bf16, compile, channels_last, cuDNN autotune), one seed."""
    import yaml

    suite = yaml.safe_load((REPO / "suites" / "gpu.yaml").read_text())
    suite.update(
        name="gpu-cut",
        seeds=[0],
        budget={"steps": 200, "time": "30s"},
        executor={"kind": "inline"},
        tasks=["digits-shifted", "mnist1d"],
        architectures=[a for a in suite["architectures"] if a["name"] in ("cnn", "transformer")],
    )
    records = nnbench_run(yaml.safe_dump(suite), folder, "gpu-cut", timeout=300)
    rows = []
    for r in records:
        rows.append(
            {
                "trial": f"{r['arch_label']} · {r['task']}",
                "status": r["status"],
                "score": r.get("test_score"),
                "step_ms": r.get("step_ms_median"),
                "compile_s": r.get("compile_s"),
                "precision": r.get("precision"),
                "mfu": r.get("mfu"),
                "peak_mem_gib": (r.get("cuda_peak_allocated_bytes") or 0) / 2**30,
                "energy_j": r.get("energy_j"),
                "energy_method": r.get("energy_method"),
                "error": (r.get("error") or "").splitlines()[0] if r.get("error") else None,
            }
        )
    return {"trials": rows, "ok": all(r["status"] == "ok" for r in rows)}


def check_mfu(folder: Path) -> dict:
    """Model FLOP utilisation of a large Transformer in bf16 with torch.compile, and its NVML energy."""
    model = ", ".join(f"{k}: {v}" for k, v in MFU_MODEL.items())
    task = ", ".join(f"{k}: {v}" for k, v in MFU_TASK.items())
    [record] = nnbench_run(
        f"""
        name: gpu-mfu
        device: cuda
        seeds: [0]
        budget: {{steps: {MFU_STEPS}}}
        training: {{batch_size: {MFU_BATCH}, eval_every: 0, warmup_steps: 5, precision: bf16, compile: true}}
        executor: {{kind: inline}}
        tasks: [{{{task}}}]
        architectures: [{{name: transformer, {model}}}]
        """,
        folder,
        "mfu",
        timeout=400,
    )
    if record["status"] != "ok":
        raise RuntimeError(f"trial {record['status']}: {record.get('error')}")
    keys = (
        "device_name", "precision", "params", "flops_per_step", "flops_method", "step_ms_median", "achieved_tflops",
        "mfu", "mfu_note", "compile_s", "train_s", "energy_j", "energy_method", "cuda_peak_allocated_bytes",
    )  # fmt: skip
    return {key: record.get(key) for key in keys}


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def render_section(figures: dict) -> str:
    """The markdown written into docs/measurement.md: what ran, where, when, and what it measured."""
    lines = [
        BEGIN,
        f"### GPU check, {figures['date']} on {figures['device']}",
        "",
        f"`bash scripts/gpu-check.sh` (torch {figures['torch']}, CUDA {figures['cuda']}); {figures['minutes']:.1f} min.",
        "",
    ]
    for name, result in figures["checks"].items():
        if "error" in result:
            lines.append(f"- **{name}**: failed: {result['error']}")
            continue
        if name == "tests":
            lines.append(f"- **tests/test_gpu.py**: {result['summary']}")
        elif name == "overhead":
            lines.append(
                f"- **overhead** (Transformer d_model 256 x 4 on mqar, batch 256, {result['timing_method']}): "
                f"nnbench {_fmt(result['nnbench_step_ms'])} ms/step, hand-written loop {_fmt(result['hand_step_ms'])} ms "
                f"(ratio {_fmt(result['ratio'])}); CUDA-event step times sum to {_fmt(result['events_over_wall'])} of the "
                f"synchronised wall clock of the window."
            )
        elif name == "gpu suite":
            lines.append("- **suites/gpu.yaml, cut** (one seed, 200 steps or 30 s):")
            lines.append("")
            lines.append(
                "  | trial | status | test score | step ms | compile s | precision | MFU | peak GiB | energy J (method) |"
            )
            lines.append("  |---|---|---|---|---|---|---|---|---|")
            for row in result["trials"]:
                lines.append(
                    f"  | {row['trial']} | {row['status']} | {_fmt(row['score'])} | {_fmt(row['step_ms'])} | "
                    f"{_fmt(row['compile_s'])} | {row['precision']} | {_fmt(row['mfu'])} | {_fmt(row['peak_mem_gib'])} | "
                    f"{_fmt(row['energy_j'])} ({row['energy_method']}) |"
                )
            lines.append("")
        elif name == "mfu":
            lines.append(
                f"- **MFU** (Transformer {MFU_MODEL} on 1024-token mqar, batch {MFU_BATCH}, {result['precision']}, "
                f"torch.compile): {_fmt(result['achieved_tflops'])} TFLOP/s achieved, MFU {_fmt(result['mfu'])} "
                f"({result['flops_method']}; {result.get('mfu_note') or 'peak from nnbench table'}), "
                f"{_fmt(result['step_ms_median'])} ms/step, compile {_fmt(result['compile_s'])} s; "
                f"energy {_fmt(result['energy_j'])} J ({result['energy_method']})."
            )
    lines.append(END)
    return "\n".join(lines)


def replace_section(doc: str, section: str) -> str:
    """``doc`` with the text between the markers replaced by ``section`` (appended when absent)."""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + section + tail
    return doc.rstrip("\n") + "\n\n## Measured on a GPU\n\n" + section + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="Print the figures; leave the docs alone.")
    parser.add_argument(
        "--out", type=Path, default=None, help="Also write figures.json and the section here."
    )
    args = parser.parse_args()
    import torch

    started = time.perf_counter()
    figures = {
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "checks": {},
    }
    with tempfile.TemporaryDirectory(prefix="nnbench-gpu-check-") as tmp:
        folder = Path(tmp)
        for name, check in (
            ("tests", check_tests),
            ("overhead", lambda: check_overhead(folder)),
            ("gpu suite", lambda: check_gpu_suite(folder)),
            ("mfu", lambda: check_mfu(folder)),
        ):
            try:
                figures["checks"][name] = check()
            except Exception as exc:  # one failed step is reported; the others still run
                figures["checks"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    figures["minutes"] = (time.perf_counter() - started) / 60
    section = render_section(figures)
    print(section)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu-check.json").write_text(json.dumps(figures, indent=2, default=str))
        (args.out / "gpu-check.md").write_text(section + "\n")
    if not args.no_write:
        DOC.write_text(replace_section(DOC.read_text(), section))
        print(f"wrote the figures into {DOC}")
    failed = [
        name for name, result in figures["checks"].items() if "error" in result or result.get("ok") is False
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
