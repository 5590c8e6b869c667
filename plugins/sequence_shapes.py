"""The shapes the mixer stack (:mod:`nnbench_plugins.nets.mixer_stack`) can map, for the sequence
mixers' ``incompatibility``; free of torch, so that declaring those architectures does not import it."""

from __future__ import annotations

from typing import Any


def sequence_incompatibility(name: str, task: Any) -> str | None:
    """The shapes the stack cannot map: a per-position head needs one output per input position."""
    if len(task.input_shape) not in (1, 2):
        return f"{name} reads token sequences (T,) or feature sequences (T, F), got {task.input_shape}"
    if len(task.output_shape) == 2 and task.output_shape[0] != task.input_shape[0]:
        return f"{name}'s per-position head needs one output per input position, got {task.input_shape} -> {task.output_shape}"
    return None
