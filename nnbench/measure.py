"""How every number is measured: step timers, FLOPs, memory, energy, cost and the environment.

The rules are ``MEASUREMENT.md``'s. Where a figure cannot be measured, it is None and the
``*_method`` field beside it says why; nothing here guesses.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import subprocess
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


PROC_SELF = Path("/proc/self")
RSS_SAMPLE_INTERVAL_S = 0.005  # the fallback sampler's period: a peak shorter than this can be missed


def _status_kib(proc: Path, key: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (VmRSS, VmHWM) in bytes."""
    for line in (proc / "status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"{proc / 'status'} has no {key} line")


_LAZY_MODULES_LOADED = False


def release_freed_memory() -> bool:
    """Return memory freed by earlier work to the OS, so that RSS rises again when a trial allocates.

    glibc's allocator keeps freed blocks for reuse: in a process that ran a larger trial before (the
    inline executor, a test session) the next trial would allocate inside them without raising RSS
    and read low. ``malloc_trim(0)`` gives the free pages of every arena back (after a garbage
    collection frees unreachable tensors). Returns False where there is no glibc (macOS, musl): then
    the caveat stays.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


class HostPeakMemory:
    """The peak resident memory (RSS) of this process over a window, from the window's start.

    Preferred: the kernel's own high-water mark. Writing ``5`` to ``/proc/self/clear_refs`` resets
    ``VmHWM`` to the current RSS (Linux 4.0+); ``VmHWM`` read at the end is the exact peak, updated at
    every page fault (page resolution, no sampling). Where that file is not writable, a thread reads
    ``VmRSS`` every :data:`RSS_SAMPLE_INTERVAL_S` (a shorter peak can be missed). Without ``/proc``
    (macOS, Windows) there is no window peak: ``method`` says so and the peak is None.

    Not ``ru_maxrss``: that is the process's lifetime peak (torch's import, earlier trials), and the
    reset above clears it too. RSS counts what the process holds, not what a trial allocated: memory
    the allocator kept from earlier work is reused without raising it, which is why
    :class:`TrialMemory` returns freed memory to the OS before its baseline
    (:func:`release_freed_memory`).
    """

    def __init__(self, proc: Path | None = None, sample_interval_s: float = RSS_SAMPLE_INTERVAL_S):
        self.proc = Path(proc) if proc is not None else PROC_SELF
        self.sample_interval_s = sample_interval_s
        self.method = "unavailable"
        self._sampled_peak = 0
        self._stop: Any = None
        self._thread: Any = None

    def current(self) -> int | None:
        """This process's resident memory now, in bytes (None without /proc)."""
        try:
            return _status_kib(self.proc, "VmRSS")
        except (OSError, ValueError):
            return None

    def reset(self) -> None:
        """Start a window: the peak from now on."""
        self.close()
        try:
            (self.proc / "clear_refs").write_text("5")
            _status_kib(self.proc, "VmHWM")
            self.method = "VmHWM reset by /proc/self/clear_refs (kernel peak RSS, page resolution)"
            return
        except (OSError, ValueError):
            pass
        if self.current() is None:
            self.method = "unavailable: no /proc/self/status (not Linux)"
            return
        import threading

        self.method = (
            f"VmRSS sampled every {self.sample_interval_s * 1000:g} ms (a shorter peak can be missed)"
        )
        self._sampled_peak = self.current() or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="nnbench-rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            now = self.current()
            if now is not None and now > self._sampled_peak:
                self._sampled_peak = now

    def peak(self) -> int | None:
        """The peak RSS since :meth:`reset`, in bytes (None when unavailable)."""
        if self.method.startswith("VmHWM"):
            try:
                return _status_kib(self.proc, "VmHWM")
            except (OSError, ValueError):
                return None
        if self._thread is not None:
            now = self.current()
            return max(self._sampled_peak, now or 0)
        return None

    def close(self) -> None:
        """Stop the sampler thread, if one runs."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None


def load_lazy_modules() -> None:
    """Load what every architecture's first training step loads lazily, so that it is below the baseline.

    Creating torch's first optimizer imports torch._dynamo (and sympy, mpmath, ...): about 80 MB of
    RSS that a fresh process (the process executor runs each trial in one) would otherwise charge to
    the first trial's peak; the first backward pass starts autograd's engine, the first matrix product
    and cross-entropy the BLAS and their buffers (about 5 MB). A one-element parameter is stepped once
    by each built-in optimizer and a 64 x 64 product trained once, from constants (no random state is
    used), once per process. What only some architectures use (convolution primitives, a fused
    attention kernel) stays in their first trial's peak: that memory is theirs.
    """
    global _LAZY_MODULES_LOADED
    if _LAZY_MODULES_LOADED:
        return
    _LAZY_MODULES_LOADED = True
    import torch
    import torch.utils.flop_counter  # noqa: F401 - imported for its side effect

    parameter = torch.zeros(1, requires_grad=True)
    (parameter * 2.0).sum().backward()
    for optimizer in (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD):
        optimizer([parameter], lr=0.0).step()
    weight = torch.zeros(64, 64, requires_grad=True)
    logits = torch.nn.functional.gelu(torch.ones(64, 64) @ weight)
    torch.nn.functional.cross_entropy(logits, torch.zeros(64, dtype=torch.long)).backward()


class TrialMemory:
    """A trial's own peak memory: above the process's memory just before build, training apart from evaluation.

    :meth:`start` (just before build) records the baseline and resets the peaks; :meth:`window` reads
    the peak of the window so far and starts the next one. On CUDA the device's allocated bytes
    (``torch.cuda.max_memory_allocated``, counters reset at each window) are the trial's memory;
    elsewhere the host's RSS (:class:`HostPeakMemory`). The host RSS is measured on every device.
    """

    def __init__(self, device: str, host: HostPeakMemory | None = None):
        self.device = device
        self.host = host if host is not None else HostPeakMemory()
        self.host_baseline: int | None = None
        self.cuda_baseline: int | None = None

    def start(self) -> None:
        """Record the baseline and start the first window."""
        load_lazy_modules()
        release_freed_memory()
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            self.cuda_baseline = int(torch.cuda.memory_allocated())
        self.host_baseline = self.host.current()
        self._reset()

    def _reset(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.host.reset()

    def window(self) -> dict[str, Any]:
        """The peaks of the window since the last call (absolute, in bytes), then a new window."""
        peaks: dict[str, Any] = {"host_peak_rss_bytes": self.host.peak()}
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            peaks["cuda_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
            peaks["cuda_peak_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
        self._reset()
        return peaks

    def close(self) -> None:
        """Stop any sampler thread."""
        self.host.close()

    def fields(self, training: dict[str, Any], evaluation: dict[str, Any] | None) -> dict[str, Any]:
        """The record's memory fields from the training window's and the evaluation window's peaks.

        ``peak_mem_bytes`` is the training window's peak (build, warm-up, timed training and the
        validation evaluations inside it) above ``peak_mem_baseline_bytes``; ``eval_peak_mem_bytes``
        the same for the test evaluation and the inference-throughput calls after it.
        """

        def above(peak: int | None, baseline: int | None) -> int | None:
            return max(peak - baseline, 0) if peak is not None and baseline is not None else None

        evaluation = evaluation or {}
        fields: dict[str, Any] = {
            "cuda_peak_allocated_bytes": training.get("cuda_peak_allocated_bytes"),
            "cuda_peak_reserved_bytes": training.get("cuda_peak_reserved_bytes"),
            "host_peak_rss_bytes": training.get("host_peak_rss_bytes"),
            "host_baseline_rss_bytes": self.host_baseline,
            "host_rss_method": self.host.method,
        }
        if self.device == "cuda":
            key, baseline = "cuda_peak_allocated_bytes", self.cuda_baseline
            fields["peak_mem_kind"] = "cuda_max_memory_allocated"
            fields["peak_mem_method"] = (
                "torch.cuda.max_memory_allocated, counters reset just before build and again before the "
                "test evaluation; minus memory_allocated just before build (the task's data included)"
            )
        else:
            key, baseline = "host_peak_rss_bytes", self.host_baseline
            fields["peak_mem_kind"] = "host_rss"
            fields["peak_mem_method"] = (
                f"{self.host.method}; minus the RSS just before build (torch, the task's data and what "
                "the process held before included)"
            )
        fields["peak_mem_baseline_bytes"] = baseline
        fields["peak_mem_bytes"] = above(training.get(key), baseline)
        fields["eval_peak_mem_bytes"] = above(evaluation.get(key), baseline)
        if fields["peak_mem_bytes"] is None:
            fields["peak_mem_kind"] = "unavailable"
        return fields


POWERCAP = Path("/sys/class/powercap")
PROC = Path("/proc")


def rapl_domains(root: Path = POWERCAP) -> dict[str, Path]:
    """Every readable RAPL package and DRAM domain: ``"package-0 (intel-rapl:0)" -> its folder``.

    Packages and DRAM are disjoint: together they are the CPUs and their memory. Sub-domains of a
    package (core, uncore) are inside it and ``psys`` (the whole platform) overlaps both, so they are
    left out, or they would be counted twice.
    """
    domains: dict[str, Path] = {}
    for folder in sorted(Path(root).glob("intel-rapl:*")):
        try:
            name = (folder / "name").read_text().strip()
            int((folder / "energy_uj").read_text())
        except (OSError, ValueError):
            continue  # not readable (often root only): skipped, not guessed
        if name.startswith("package") or name == "dram":
            domains[f"{name} ({folder.name})"] = folder
    return domains


def other_trial_processes(proc: Path = PROC) -> int:
    """How many other nnbench trial processes run on this machine now.

    A trial process is a fresh ``python -m nnbench.worker``, or a process forked by a warm worker
    (``python -m nnbench.worker --warm``) that named itself ``nnbench-trial``; an idle warm worker runs
    no trial and is not counted.
    """
    own = {os.getpid(), os.getppid()}
    count = 0
    try:
        entries = list(Path(proc).iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"nnbench.worker" in command and b"--warm" in command:
                count += (entry / "comm").read_text().strip() == "nnbench-trial"
            elif b"nnbench.worker" in command:
                count += 1
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return count


class EnergyMeter:
    """Energy over a window, which may pause and resume: NVML on a GPU, RAPL on a CPU, else unavailable.

    CPU: every readable RAPL package and DRAM domain (:func:`rapl_domains`), each a cumulative counter
    in microjoules that wraps at its ``max_energy_range_uj``; a stretch between two reads in which the
    counter went down wrapped once and is counted through the wrap. Two wraps between two reads (a
    stretch longer than the range at the package's power, tens of minutes at least) cannot be seen. The
    counters are read at every start, pause and stop, so a window is cut at each evaluation. GPU:
    NVML's total-energy counter of the trial's GPU (millijoules since the driver loaded). Both count a
    whole device: every process on it, not this trial alone; the note says when other nnbench trials
    ran on it during the window.

    ``powercap``, ``nvml`` (a pynvml-like module) and ``proc`` can be given, for tests.
    """

    def __init__(self, device: str, powercap: Path | None = None, nvml: Any = None, proc: Path | None = None):
        self.device = device
        self.powercap = Path(powercap) if powercap is not None else POWERCAP
        self.proc = Path(proc) if proc is not None else PROC
        self._nvml = nvml
        self.method = "unavailable"
        self.reason = ""
        self._handle: Any = None
        self._domains: dict[str, Path] = {}
        self._ranges: dict[str, float] = {}
        self._last: dict[str, float] | None = None  # counter values at the last read while running
        self.joules: dict[str, float] = {}
        self.wraps = 0
        self.sharing = 0  # most other trial processes seen on the device at a read
        self._started = False

    # -- counters ---------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.device == "cuda":
            try:
                nvml = self._nvml
                if nvml is None:
                    import pynvml as nvml  # type: ignore[import-not-found,no-redef]
                nvml.nvmlInit()
                visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
                if visible.startswith(("GPU-", "MIG-")):
                    self._handle = nvml.nvmlDeviceGetHandleByUUID(visible)
                else:
                    self._handle = nvml.nvmlDeviceGetHandleByIndex(int(visible))
                nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
                self._nvml = nvml
                self.method = "nvml"
            except Exception as exc:
                self.reason = f"NVML energy counter not usable: {type(exc).__name__}: {exc}"
        elif self.device == "cpu":
            self._domains = rapl_domains(self.powercap)
            if not self._domains:
                self.reason = f"no readable RAPL package or DRAM domain under {self.powercap}"
                return
            for key, folder in self._domains.items():
                try:
                    self._ranges[key] = int((folder / "max_energy_range_uj").read_text()) / 1e6
                except (OSError, ValueError):
                    self._ranges[key] = 0.0  # unknown range: a wrap cannot be counted through
            self.method = "rapl"
        else:
            self.reason = f"no energy counter for device {self.device!r}"

    def _read(self) -> dict[str, float]:
        """Every counter now, in joules."""
        if self.method == "nvml":
            return {"gpu": self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0}
        return {key: int((folder / "energy_uj").read_text()) / 1e6 for key, folder in self._domains.items()}

    def _other_users(self) -> int:
        if self.method == "nvml":
            try:
                processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
                return sum(1 for p in processes if getattr(p, "pid", None) != os.getpid())
            except Exception:
                return 0
        return other_trial_processes(self.proc)

    # -- the window ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the counters and start (or resume) the window."""
        if not self._started:
            self._started = True
            self._open()
        self.resume()

    def resume(self) -> None:
        """Read the counters: the window runs from here."""
        if self.method == "unavailable" or self._last is not None:
            return
        try:
            self.sharing = max(self.sharing, self._other_users())  # before the read: not in the window
            self._last = self._read()
        except Exception as exc:
            self.method, self.reason = "unavailable", f"energy counter read failed: {type(exc).__name__}"

    def pause(self) -> None:
        """Read the counters and add what was used since the last read; the window stops counting."""
        if self.method == "unavailable" or self._last is None:
            return
        try:
            now = self._read()
            self.sharing = max(self.sharing, self._other_users())
        except Exception as exc:
            self.method, self.reason = "unavailable", f"energy counter read failed: {type(exc).__name__}"
            return
        for key, value in now.items():
            used = value - self._last[key]
            if used < 0:  # the counter wrapped at its range and started again from 0
                if not self._ranges.get(key):
                    self.method, self.reason = "unavailable", f"{key}: counter went down with no known range"
                    return
                used += self._ranges[key]
                self.wraps += 1
            self.joules[key] = self.joules.get(key, 0.0) + used
        self._last = None

    def stop(self) -> dict[str, Any]:
        """The joules of the window (None with the reason when not measurable), per domain and in all."""
        self.pause()
        if self.method == "unavailable":
            return {
                "energy_j": None,
                "energy_method": "unavailable",
                "energy_domains": None,
                "energy_note": self.reason or None,
            }
        notes = []
        if self.method == "rapl":
            notes.append("RAPL packages and DRAM: the whole CPUs and memory, every process on them")
        else:
            notes.append("NVML: the whole GPU, every process on it")
        if self.wraps:
            notes.append(f"the counter wrapped {self.wraps} time(s), counted through")
        if self.sharing:
            who = "other compute processes" if self.method == "nvml" else "other nnbench trial processes"
            notes.append(f"shared: {self.sharing} {who} ran on this device during the window")
        return {
            "energy_j": sum(self.joules.values()),
            "energy_method": self.method,
            "energy_domains": dict(self.joules),
            "energy_note": "; ".join(notes),
        }


def cost_fields(train_s: float | None, device: str, price_per_hour_usd: float | None) -> dict[str, Any]:
    """``device_seconds`` and ``cost_usd`` = train hours x price per hour (DAWNBench)."""
    device_seconds = train_s  # one device per trial
    cost = None
    if train_s is not None and price_per_hour_usd is not None:
        cost = train_s / 3600.0 * price_per_hour_usd
    return {"device_seconds": device_seconds, "cost_usd": cost, "price_per_hour_usd": price_per_hour_usd}


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda > mps > cpu; an explicit device that is absent is an error. Imports torch."""
    import torch

    from nnbench.errors import NnbenchError

    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if requested == "auto":
        return "cuda" if available["cuda"] else "mps" if available["mps"] else "cpu"
    if not available.get(requested, False):
        raise NnbenchError(f"device {requested!r} is not available on this machine (use device: auto or cpu)")
    return requested


def default_threads(workers: int) -> int:
    """Torch threads per CPU trial when the suite sets none: the machine's cores shared by the workers."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


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


def nnbench_version() -> str:
    """nnbench's installed version, from the package metadata (``unknown`` in a source tree never installed)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("nnbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nnbench_version": nnbench_version(),
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
