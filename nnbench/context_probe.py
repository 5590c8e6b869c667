"""What a sequence model costs against context length: the fields a trial records for it.

:func:`sequence_fields` is called once per trial after training (:mod:`nnbench.trial`) and returns:

- ``sequence_length``: the task's length T (None for tasks that are not sequences);
- ``model_width`` and ``width_option``: the value of the ``Config`` field the architecture names in
  ``Architecture.width_option`` (None when it names none);
- ``state_numbers`` and ``state_bytes``: ``Architecture.state_size(task, config, length=T)``, the numbers
  one sequence's inference keeps to go on reading it (a recurrent state, a KV cache), and those numbers
  at the parameters' element size (4 bytes for float32); None when not declared, with ``state_note``;
- ``inference_by_length``: when the suite lists ``inference_lengths`` (and the trial is not a tuning
  trial), one entry per length L: ``seconds_per_call`` for one forward pass of :data:`PROBE_BATCH`
  random sequences of length L, ``tokens_per_s``, ``peak_bytes`` of memory the pass allocated and the
  ``memory_method`` that measured it, ``state_bytes`` at L, and ``error`` when the model cannot take L
  (a Transformer with learned positions, an MLP: a fixed length) or ran out of memory.

Memory on CUDA is ``torch.cuda.max_memory_allocated`` over the call, less what was allocated before
it; on the CPU it is the peak of the running sum of torch's allocation events during the call, read
from ``torch.profiler`` (``profile_memory=True``): tensors the pass allocates, outputs included, not the
weights. Times are wall clock after a warm-up call, as many calls as fill :data:`PROBE_MIN_SECONDS`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

PROBE_BATCH = 1  # sequences per inference call: one long sequence, as a user's prompt would be
PROBE_MIN_SECONDS = 0.2  # time each length for at least this long ...
PROBE_MIN_CALLS = 2  # ... and at least this many calls
PROBE_MAX_CALLS = 50
PROBE_GIVE_UP_S = 20.0  # a call slower than this skips the longer lengths (they would be slower still)


def sequence_fields(architecture, config, task_spec, model, trial, autocast=None) -> dict[str, Any]:
    """The context-length fields of one trained trial (see the module docstring)."""
    sequence = task_spec.modality == "sequence"
    length = task_spec.input_shape[0] if sequence else None
    element = _element_size(model)
    width_option = getattr(architecture, "width_option", None)
    width = getattr(config, width_option, None) if width_option else None
    numeric = isinstance(width, int | float) and not isinstance(width, bool)
    fields: dict[str, Any] = {
        "sequence_length": length,
        "width_option": width_option if numeric else None,
        "model_width": width if numeric else None,
        "state_numbers": None,
        "state_bytes": None,
        "state_note": None,
        "inference_by_length": None,
    }
    if not sequence:
        return fields
    numbers, note = declared_state(architecture, task_spec, config, length)
    fields.update(
        state_numbers=numbers, state_bytes=numbers * element if numbers is not None else None, state_note=note
    )
    lengths = tuple(getattr(trial, "inference_lengths", ()) or ())
    if lengths and trial.stage != "tune":
        fields["inference_by_length"] = probe_lengths(
            architecture, config, task_spec, model, lengths, trial.device, autocast=autocast
        )
    return fields


def declared_state(architecture, task_spec, config, length: int) -> tuple[int | None, str | None]:
    """``state_size`` at ``length`` and a note: why there is none, or None."""
    try:
        numbers = architecture.state_size(task_spec, config, length=length)
    except Exception as exc:  # an optional hook: its failure is recorded, not the trial's
        return None, f"state_size raised {type(exc).__name__}: {exc}"
    if numbers is None:
        return None, f"{architecture.name} declares no state size (Architecture.state_size)"
    return int(numbers), None


def probe_lengths(architecture, config, task_spec, model, lengths, device: str, autocast=None) -> list[dict]:
    """Inference time and memory of ``model`` at each of ``lengths`` (see the module docstring)."""
    import torch

    element = _element_size(model)
    generator = torch.Generator().manual_seed(0)
    model.eval()
    results, give_up = [], None
    for length in sorted(set(int(n) for n in lengths)):
        numbers, _ = declared_state(architecture, task_spec, config, length)
        entry: dict[str, Any] = {
            "length": length,
            "seconds_per_call": None,
            "tokens_per_s": None,
            "peak_bytes": None,
            "memory_method": None,
            "state_bytes": numbers * element if numbers is not None else None,
            "error": give_up,
        }
        results.append(entry)
        if give_up is not None:
            continue
        x = random_inputs(task_spec, length, generator).to(device)
        context = autocast() if autocast is not None else contextlib.nullcontext()
        try:
            with torch.no_grad(), context:
                seconds = _time_calls(model, x, device)
                entry["peak_bytes"], entry["memory_method"] = _peak_bytes(model, x, device)
        except Exception as exc:  # a fixed-length model, or out of memory: this length has no numbers
            entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
                give_up = f"skipped: length {length} ran out of memory"
            continue
        entry["seconds_per_call"] = seconds
        entry["tokens_per_s"] = PROBE_BATCH * length / seconds if seconds > 0 else None
        if seconds > PROBE_GIVE_UP_S:
            give_up = f"skipped: length {length} took {seconds:.3g} s a call"
    return results


def random_inputs(task_spec, length: int, generator) -> Any:
    """:data:`PROBE_BATCH` random inputs of the task's kind at ``length``: token ids or features."""
    import torch

    rest = tuple(task_spec.input_shape[1:])
    if task_spec.vocab_size:
        return torch.randint(0, task_spec.vocab_size, (PROBE_BATCH, length, *rest), generator=generator)
    return torch.randn((PROBE_BATCH, length, *rest), generator=generator)


def _time_calls(model, x, device: str) -> float:
    from nnbench import measure

    model(x)  # warm-up: allocator, lazy initialisation
    measure.sync(device)
    calls, started = 0, time.perf_counter()
    while calls < PROBE_MIN_CALLS or (
        time.perf_counter() - started < PROBE_MIN_SECONDS and calls < PROBE_MAX_CALLS
    ):
        model(x)
        calls += 1
    measure.sync(device)
    return (time.perf_counter() - started) / calls


def _peak_bytes(model, x, device: str) -> tuple[int | None, str]:
    """Bytes one call allocates at its peak, and how that was measured."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        model(x)
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before), "cuda_max_memory_allocated"
    if device != "cpu":
        return None, f"not measured on {device}"
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    # Allocation events (positive bytes) and frees (negative), in the order they happened.
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return int(peak), "torch.profiler allocation events"


def _element_size(model) -> int:
    """Bytes per number of the model's parameters (4 for float32); 4 for a model without any."""
    for parameter in model.parameters():
        return parameter.element_size()
    return 4
