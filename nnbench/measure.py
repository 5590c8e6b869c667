"""How every number is measured: step timers, FLOPs, memory, energy, cost and the environment.

The rules are ``MEASUREMENT.md``'s. Where a figure cannot be measured, it is None and the
``*_method`` field beside it says why; nothing here guesses.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Default price per device-hour in USD, used when a suite gives none (DAWNBench's cost definition:
# train hours x price). Suites override them with cost: {price_per_hour_usd: {cpu: ..., cuda: ...}}.
DEFAULT_PRICE_PER_HOUR_USD = {"cpu": 0.10, "cuda": 3.50}

# Dense peak TFLOP/s per exact device name and precision, for MFU. Unknown devices get no MFU.
PEAK_TFLOPS = {
    ("NVIDIA H100 80GB HBM3", "bf16-amp"): 989.0,
    ("NVIDIA H100 80GB HBM3", "tf32"): 494.5,
    ("NVIDIA H200", "bf16-amp"): 989.0,
    ("NVIDIA H200", "tf32"): 494.5,
    ("NVIDIA A100-SXM4-80GB", "bf16-amp"): 312.0,
    ("NVIDIA A100-SXM4-40GB", "bf16-amp"): 312.0,
    ("NVIDIA A100-SXM4-80GB", "tf32"): 156.0,
    ("NVIDIA A100-SXM4-40GB", "tf32"): 156.0,
}


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def step_time_stats(step_seconds: list[float]) -> dict[str, Any]:
    """Median, p10, p90 and IQR of per-step times, in milliseconds; ``timing_noisy`` when IQR/median > 0.10."""
    if not step_seconds:
        return {
            "step_ms_median": None,
            "step_ms_p10": None,
            "step_ms_p90": None,
            "step_ms_iqr": None,
            "timing_noisy": None,
        }
    ms = sorted(s * 1000.0 for s in step_seconds)
    median = percentile(ms, 50)
    iqr = percentile(ms, 75) - percentile(ms, 25)
    return {
        "step_ms_median": median,
        "step_ms_p10": percentile(ms, 10),
        "step_ms_p90": percentile(ms, 90),
        "step_ms_iqr": iqr,
        "timing_noisy": bool(median > 0 and iqr / median > 0.10),
    }


class StepTimer:
    """Per-step times of the timed window.

    On the CPU each step is read with ``perf_counter``. On CUDA a pair of events brackets each step
    and all are read once after the window, so no step waits for a synchronisation.
    """

    def __init__(self, device: str):
        self.cuda = device == "cuda"
        self.cpu_laps: list[float] = []
        self.events: list[Any] = []
        self._last = 0.0

    def start(self) -> None:
        """Begin the window (also after a pause)."""
        if self.cuda:
            import torch

            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.events.append([event])
        else:
            self._last = time.perf_counter()

    def lap(self) -> None:
        """Mark the end of one step (and the start of the next)."""
        if self.cuda:
            import torch

            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.events[-1].append(event)
        else:
            now = time.perf_counter()
            self.cpu_laps.append(now - self._last)
            self._last = now

    def step_seconds(self) -> list[float]:
        """Every step's duration in seconds (synchronises once on CUDA)."""
        if not self.cuda:
            return list(self.cpu_laps)
        import torch

        torch.cuda.synchronize()
        laps: list[float] = []
        for segment in self.events:  # one segment per uninterrupted stretch between pauses
            laps.extend(a.elapsed_time(b) / 1000.0 for a, b in zip(segment, segment[1:]))
        return laps


def sync(device: str) -> None:
    """Wait for the device, so a host clock read after it is honest."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def attention_forward_flops(query_shape, key_shape, value_shape) -> int:
    """FLOPs of one attention forward pass: ``Q K^T`` and ``P V``, 2 per multiply-add.

    Shapes are ``(batch, heads, length, head_dim)``; grouped-query attention (fewer key/value heads)
    costs what the math path costs after repeating the key/value heads. A causal mask is not
    subtracted: the math path computes the whole score matrix too, so every backend counts the same.
    """
    *leading, q_len, qk_dim = query_shape  # leading: (batch, query heads)
    k_len, v_dim = key_shape[-2], value_shape[-1]
    return 2 * math.prod(leading) * q_len * k_len * (qk_dim + v_dim)


def attention_backward_flops(query_shape, key_shape, value_shape) -> int:
    """FLOPs of one attention backward pass: the four products of the math path's gradients.

    ``dP = dO V^T`` and ``dV = P^T dO`` (over the value width), ``dQ = dS K`` and ``dK = dS^T Q`` (over
    the query/key width): twice the forward. A fused kernel also recomputes ``Q K^T`` (flash attention
    keeps no score matrix); that recomputation is not counted, as in model-FLOPs utilisation (Chowdhery
    et al., 2022, PaLM, appendix B), so a fused and a math backward count alike.
    """
    return 2 * attention_forward_flops(query_shape, key_shape, value_shape)


def _fused_attention_forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return attention_forward_flops(query_shape, key_shape, value_shape)


def _fused_attention_backward(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return attention_backward_flops(query_shape, key_shape, value_shape)


def attention_flop_formulas() -> dict[Any, Any]:
    """FlopCounterMode formulas for every fused scaled-dot-product-attention kernel, forward and backward.

    torch's registry has no formula for the CPU's fused kernel (``_scaled_dot_product_flash_attention_
    for_cpu``), so attention counted 0 there while the math path (taken with dropout) and CUDA's
    kernels were counted; and torch counts CUDA's fused backward with the recomputed scores (5 products
    where the math path has 4). These formulas count every kernel as the math path does, so a model's
    FLOPs per step do not depend on the device, the dropout or the SDPA backend.
    """
    import torch

    aten = torch.ops.aten
    forward = (
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
    )
    formulas: dict[Any, Any] = {}
    for name in forward:
        for op, formula in (
            (name, _fused_attention_forward),
            (f"{name}_backward", _fused_attention_backward),
        ):
            packet = getattr(aten, op, None)  # an older torch may lack one: it cannot be called then
            if packet is not None:
                formulas[packet] = formula
    return formulas


@contextlib.contextmanager
def count_flops() -> Iterator[dict[str, Any]]:
    """Count the FLOPs of the code inside with ``torch.utils.flop_counter.FlopCounterMode``.

    Fused attention kernels are counted with :func:`attention_flop_formulas`. Yields a dict that holds
    ``flops`` and ``flops_method`` when the block ends.
    """
    result: dict[str, Any] = {"flops": None, "flops_method": "unavailable: FlopCounterMode missing"}
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover - very old torch
        yield result
        return
    counter = FlopCounterMode(display=False, custom_mapping=attention_flop_formulas())
    with counter:
        yield result
    result["flops"] = int(counter.get_total_flops())
    result["flops_method"] = "FlopCounterMode"
    result["_per_module"] = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


def recurrent_step_flops(module: Any, batch: int, steps: int, input_grad: bool = True) -> int:
    """Analytic FLOPs of one forward and backward pass of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` call.

    Forward: 2 x gates x hidden x (layer input + hidden) per time step, layer and direction (the gate
    matrix products). Backward: the same again for the weights' gradients; the gradients of the hidden
    states (every step but the first, whose zero initial state needs none) and of each layer's input,
    except the first layer's when it needs no gradient (``input_grad`` False: raw features, not an
    embedding). FlopCounterMode counts LSTMs as 0 (and cuDNN RNNs as 0 on CUDA), so recurrent layers
    are always counted this way; on the CPU a GRU decomposes into products the counter sees, and the
    formula equals that count (``tests/test_measure.py``).
    """
    gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    product = directions * 2 * gates * hidden  # FLOPs per token and unit of fan-in, one direction set
    total = 0
    for layer in range(module.num_layers):
        layer_input = module.input_size if layer == 0 else hidden * directions
        forward = batch * steps * product * (layer_input + hidden)
        weight_grads = forward
        hidden_grads = batch * (steps - 1) * product * hidden
        input_grads = batch * steps * product * layer_input if (layer > 0 or input_grad) else 0
        total += forward + weight_grads + hidden_grads + input_grads
    return total


@contextlib.contextmanager
def count_step_flops(model: Any) -> Iterator[dict[str, Any]]:
    """FLOPs of the training step run inside: FlopCounterMode, with recurrent layers counted analytically."""
    import torch

    recurrent = {
        name: module for name, module in model.named_modules() if isinstance(module, torch.nn.RNNBase)
    }
    calls: list[tuple[Any, int, int, bool]] = []

    def record(module, args):
        x = args[0]
        if isinstance(x, torch.nn.utils.rnn.PackedSequence):
            return  # lengths vary per sample: not counted analytically (the method says so)
        batch_first = module.batch_first
        batch, steps = (x.shape[0], x.shape[1]) if batch_first and x.dim() == 3 else (x.shape[-2], x.shape[0])
        if x.dim() == 2:
            batch, steps = 1, x.shape[0]
        calls.append((module, batch, steps, x.requires_grad))

    handles = [module.register_forward_pre_hook(record) for module in recurrent.values()]
    try:
        with count_flops() as result:
            yield result
    finally:
        for handle in handles:
            handle.remove()
    if recurrent and result.get("flops") is not None:
        counter_counts = result.pop("_per_module", {})
        root = type(model).__name__
        inside = sum(counter_counts.get(f"{root}.{name}" if name else root, 0) for name in recurrent)
        analytic = sum(recurrent_step_flops(module, b, t, grad) for module, b, t, grad in calls)
        result["flops"] = result["flops"] - inside + analytic
        result["flops_method"] = "FlopCounterMode + analytic LSTM/GRU"
    result.pop("_per_module", None)


def reset_peak_memory(device: str) -> None:
    """Reset the CUDA peak counters so the peaks read later belong to this trial."""
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def host_peak_rss_bytes() -> int:
    """The peak resident set size of this process (``ru_maxrss``; kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def memory_fields(device: str) -> dict[str, Any]:
    """Peak memory of the trial: CUDA allocated and reserved, host RSS, and ``peak_mem_bytes`` with its kind."""
    fields: dict[str, Any] = {
        "cuda_peak_allocated_bytes": None,
        "cuda_peak_reserved_bytes": None,
        "host_peak_rss_bytes": host_peak_rss_bytes(),
    }
    if device == "cuda":
        import torch

        fields["cuda_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        fields["cuda_peak_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
        fields["peak_mem_bytes"] = fields["cuda_peak_allocated_bytes"]
        fields["peak_mem_kind"] = "cuda_max_memory_allocated"
    else:
        fields["peak_mem_bytes"] = fields["host_peak_rss_bytes"]
        fields["peak_mem_kind"] = "host_peak_rss"
    return fields


class EnergyMeter:
    """Energy over a window: NVML's cumulative counter on a GPU, RAPL on a CPU, else unavailable."""

    RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")

    def __init__(self, device: str):
        self.device = device
        self.method = "unavailable"
        self.reason = ""
        self._start: float | None = None
        self._handle: Any = None

    def _read(self) -> float | None:
        if self.method == "nvml":
            import pynvml  # type: ignore[import-not-found]

            return pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0  # mJ -> J
        if self.method == "rapl":
            return int(self.RAPL.read_text()) / 1e6  # uJ -> J
        return None

    def start(self) -> None:
        """Read the counter at the start of the window."""
        if self.device == "cuda":
            try:
                import pynvml  # type: ignore[import-not-found]

                pynvml.nvmlInit()
                index = int(os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or 0)
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                self.method = "nvml"
            except Exception as exc:
                self.reason = f"NVML not usable: {type(exc).__name__}"
        elif self.device == "cpu":
            try:
                int(self.RAPL.read_text())
                self.method = "rapl"
            except (OSError, ValueError) as exc:
                self.reason = f"RAPL not readable: {type(exc).__name__}"
        try:
            self._start = self._read()
        except Exception as exc:
            self.method, self.reason = "unavailable", f"energy counter read failed: {type(exc).__name__}"

    def stop(self) -> dict[str, Any]:
        """The joules used since :meth:`start` (None with the reason when not measurable)."""
        if self.method == "unavailable" or self._start is None:
            return {"energy_j": None, "energy_method": "unavailable", "energy_note": self.reason or None}
        try:
            end = self._read()
        except Exception as exc:
            return {"energy_j": None, "energy_method": "unavailable", "energy_note": type(exc).__name__}
        joules = end - self._start if end is not None else None
        if joules is not None and joules < 0:  # RAPL wrapped around: do not guess the range
            return {"energy_j": None, "energy_method": "unavailable", "energy_note": "counter wrapped"}
        note = "whole CPU package, not this process alone" if self.method == "rapl" else None
        return {"energy_j": joules, "energy_method": self.method, "energy_note": note}


def cost_fields(train_s: float | None, device: str, price_per_hour_usd: float | None) -> dict[str, Any]:
    """``device_seconds`` and ``cost_usd`` = train hours x price per hour (DAWNBench)."""
    device_seconds = train_s  # one device per trial
    cost = None
    if train_s is not None and price_per_hour_usd is not None:
        cost = train_s / 3600.0 * price_per_hour_usd
    return {"device_seconds": device_seconds, "cost_usd": cost, "price_per_hour_usd": price_per_hour_usd}


def device_name(device: str) -> str:
    """The exact name of the device a trial ran on."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    if device == "mps":
        return f"Apple {platform.machine()} (mps)"
    return cpu_name()


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def precision_name(device: str, requested: str = "fp32") -> str:
    """The precision a trial actually computes in: fp32, tf32 (CUDA only) or bf16-amp (autocast)."""
    if requested == "bf16":
        return "bf16-amp"
    if requested == "tf32" and device == "cuda":
        return "tf32"
    return "fp32"  # tf32 is a CUDA feature: on other devices the matmuls stay fp32


def mfu(achieved_tflops: float | None, name: str, precision: str) -> float | None:
    """Achieved over dense peak TFLOP/s for the exact device and precision; None when the peak is unknown."""
    peak = PEAK_TFLOPS.get((name, precision))
    if peak is None or achieved_tflops is None:
        return None
    return achieved_tflops / peak


def time_floor(total_flops: int | None, name: str, precision: str) -> float | None:
    """Seconds the training FLOPs would take at the device's dense peak; None when the peak is unknown."""
    peak = PEAK_TFLOPS.get((name, precision))
    if peak is None or total_flops is None:
        return None
    return total_flops / (peak * 1e12)


def git_sha(cwd: str | None = None) -> str | None:
    """The git commit of ``cwd`` (the suite's folder), or None outside a repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def plugin_versions() -> dict[str, str]:
    """``entry point name -> "distribution version"`` of every installed nnbench plugin."""
    import importlib.metadata

    versions = {}
    for entry_point in importlib.metadata.entry_points(group="nnbench"):
        dist = getattr(entry_point, "dist", None)
        versions[entry_point.name] = f"{dist.name} {dist.version}" if dist is not None else "unknown"
    return versions


def nvidia_driver_version() -> str | None:
    """The NVIDIA driver version from NVML, or None where NVML is not available."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None


def environment_info(device: str) -> dict[str, Any]:
    """Versions and hardware of the machine running a suite."""
    import torch

    import nnbench

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nnbench_version": nnbench.__version__,
        "torch_version": torch.__version__,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "device_name": device_name(device),
    }
    info["plugins"] = plugin_versions()
    if device == "cuda":
        info["cuda_version"] = torch.version.cuda
        info["driver_version"] = nvidia_driver_version()
        info["cudnn_version"] = torch.backends.cudnn.version()
        info["gpu_count"] = torch.cuda.device_count()
    return info
